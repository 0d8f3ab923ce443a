"""A LangChain chat model over `LLMService`, for LangGraph nodes.

It goes through the same redaction, breaker and metrics as every other call. Free tool calling
is unreliable at this model size, so `with_structured_output()` is schema-constrained decoding
(`LLMService.complete_json`), not tool calls.
"""

import asyncio
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ConfigDict

from llm.redact import PiiContext
from llm.service import LLMService

ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": ROLES.get(m.type, "user"), "content": m.text} for m in messages]


class OpenSalesChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: LLMService
    max_tokens: int = 256
    temperature: float = 0.0
    pii: PiiContext | None = None

    @property
    def _llm_type(self) -> str:
        return "opensales"

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager=None,
        **kwargs: Any,
    ) -> ChatResult:
        completion = await self.service.chat(
            to_messages(messages),
            pii=self.pii,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        message = AIMessage(
            content=completion.text,
            response_metadata={"finish_reason": completion.finish_reason},
            usage_metadata={
                "input_tokens": completion.prompt_tokens,
                "output_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager=None,
        **kwargs: Any,
    ) -> ChatResult:
        return asyncio.run(self._agenerate(messages, stop, **kwargs))

    def with_structured_output(
        self, schema: type[BaseModel], **kwargs: Any
    ) -> Runnable[LanguageModelInput, BaseModel]:
        async def answer(value: LanguageModelInput) -> BaseModel:
            messages = self._convert_input(value).to_messages()
            return await self.service.complete_json(
                to_messages(messages), schema, pii=self.pii, max_tokens=self.max_tokens
            )

        return RunnableLambda(lambda value: asyncio.run(answer(value)), afunc=answer)
