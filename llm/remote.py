"""The remote backend: the same requests sent to an OpenAI-compatible server.

llama.cpp's server and vLLM both speak `/v1/chat/completions`, so a deployment can run several
model servers behind a load balancer and point `OPENSALES_LLM_REMOTE_URL` at it. Schema output
is asked for in the server's own style: `json_object` with a `schema` (llama.cpp) or
`json_schema` (vLLM, OpenAI).
"""

import json
import time

import httpx

from llm.client import (
    Classification,
    ClassifyRequest,
    Completion,
    CompletionRequest,
    LLMError,
    LLMTimeout,
    fit_messages,
)

CHARS_PER_TOKEN = 3  # a cautious estimate: the server's tokenizer is not at hand


class RemoteBackend:
    name = "remote"

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        api_key: str | None = None,
        n_ctx: int = 4096,
        schema_style: str = "json_object",
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers)
        self.model = model
        self.n_ctx = n_ctx
        self.schema_style = schema_style

    def _response_format(self, schema: dict | None) -> dict | None:
        if schema is None:
            return None
        if self.schema_style == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        return {"type": "json_object", "schema": schema}

    async def complete(self, request: CompletionRequest) -> Completion:
        messages, dropped, _estimate = fit_messages(
            request.messages,
            lambda text: len(text) // CHARS_PER_TOKEN + 1,
            self.n_ctx - request.max_tokens,
        )
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        response_format = self._response_format(request.json_schema)
        if response_format is not None:
            body["response_format"] = response_format
        started = time.monotonic()
        try:
            response = await self.client.post(
                "/chat/completions", json=body, timeout=request.timeout_s
            )
        except httpx.TimeoutException:
            raise LLMTimeout(
                f"no answer from {self.client.base_url} in {request.timeout_s:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise LLMError(f"{self.client.base_url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise LLMError(
                f"{self.client.base_url} answered {response.status_code}: {response.text[:200]}"
            )
        data = response.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            seconds=time.monotonic() - started,
            trimmed_messages=dropped,
        )

    async def classify(self, request: ClassifyRequest) -> Classification:
        """A schema-constrained choice: OpenAI-compatible servers give no next-token
        probabilities we can rely on, so the chosen label gets probability 1."""
        schema = {
            "type": "object",
            "properties": {"label": {"enum": list(request.labels)}},
            "required": ["label"],
        }
        completion = await self.complete(
            CompletionRequest(
                messages=request.messages,
                max_tokens=24,
                json_schema=schema,
                timeout_s=request.timeout_s,
            )
        )
        try:
            label = json.loads(completion.text)["label"]
        except (ValueError, KeyError, TypeError) as exc:
            raise LLMError(f"no label in {completion.text[:80]!r}") from exc
        if label not in request.labels:
            raise LLMError(f"label {label!r} is not one of {request.labels}")
        return Classification({each: 1.0 if each == label else 0.0 for each in request.labels})

    async def close(self) -> None:
        await self.client.aclose()
