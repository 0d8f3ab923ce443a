"""What every LLM backend takes and gives, and the rule that fits a prompt into the context."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class LLMError(RuntimeError):
    """The model could not give a usable answer to this request."""


class LLMTimeout(LLMError):
    """The request passed its deadline (queued or generating) and was stopped."""


class QueueTimeout(LLMTimeout):
    """The request's deadline passed while it waited behind others: the model is busy, not
    broken, so the circuit breaker does not count it."""


class PromptTooLong(LLMError):
    """Even trimmed to its system message and last turn, the prompt does not fit the context."""


@dataclass(frozen=True)
class CompletionRequest:
    messages: list[dict[str, str]]  # {"role": "system" | "user" | "assistant", "content": ...}
    max_tokens: int = 256
    temperature: float = 0.0
    json_schema: dict[str, Any] | None = None  # constrain the output to this JSON schema
    timeout_s: float = 30.0
    keep_prefix: bool = False  # a fixed prompt family whose evaluated prefix is worth keeping


@dataclass(frozen=True)
class ClassifyRequest:
    """Choose one of `labels` as the answer that follows `answer_prefix` (for example
    '{"intent": "'): the model's next-token probabilities over the labels, no sampling."""

    messages: list[dict[str, str]]
    labels: tuple[str, ...]
    answer_prefix: str = ""
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # stop | length
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    first_token_seconds: float = 0.0
    trimmed_messages: int = 0  # old turns dropped to fit the context
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Classification:
    probabilities: dict[str, float]  # each label's, summing to 1
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def classify(self, request: ClassifyRequest) -> "Classification": ...

    async def close(self) -> None: ...


def fit_messages(
    messages: list[dict[str, str]], count_tokens: Callable[[str], int], budget: int
) -> tuple[list[dict[str, str]], int, int]:
    """Drop the oldest turns between the system message and the last message until the prompt
    fits `budget` tokens. Returns the messages, how many were dropped and their token count."""
    per_message = 8  # role markers and separators of the chat template
    cost = [count_tokens(m["content"]) + per_message for m in messages]
    keep_head = 1 if messages and messages[0]["role"] == "system" else 0
    middle = list(range(keep_head, len(messages) - 1))
    total, dropped = sum(cost), 0
    while total > budget and middle:
        total -= cost[middle.pop(0)]
        dropped += 1
    if total > budget:
        raise PromptTooLong(
            f"prompt needs {total} tokens with only its system message and last turn; "
            f"the context leaves {budget}"
        )
    kept = set(range(keep_head)) | set(middle) | {len(messages) - 1}
    return [m for i, m in enumerate(messages) if i in kept], dropped, total
