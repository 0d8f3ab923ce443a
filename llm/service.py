"""The one LLM entry point the agents use: redaction, circuit breaker, structured output, metrics.

`LLMService.chat()` redacts every message, asks the breaker, calls the backend and records the
outcome. `complete_json()` constrains decoding to a pydantic model's JSON schema (enums carry the
allowed names), validates the answer, retries a malformed one once, and never returns half an
object: a truncated answer is an error. Every failure reaches callers as an `LLMError` (the
breaker's `LLMUnavailable`, `LLMTimeout` for any kind of timeout, the backend's own errors), so
they catch that one class and take their rule-based fallback.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel, ValidationError

from llm.breaker import CircuitBreaker
from llm.bundled import BUNDLED, ModelFileError, assemble, verify
from llm.client import (
    Backend,
    Classification,
    ClassifyRequest,
    Completion,
    CompletionRequest,
    LLMError,
    LLMTimeout,
    PromptTooLong,
    QueueTimeout,
)
from llm.redact import PiiContext, redact, restore
from settings import Settings, get_settings

log = logging.getLogger("opensales.llm")
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R", Completion, Classification)

SECONDS = Histogram(
    "opensales_llm_request_seconds",
    "LLM request latency",
    ["backend", "outcome"],
    buckets=(0.25, 0.5, 1, 2, 3, 4, 6, 8, 10, 15, 30, 60),
)
TOKENS = Counter("opensales_llm_tokens_total", "Tokens through the LLM", ["backend", "kind"])
IN_FLIGHT = Gauge("opensales_llm_in_flight", "LLM requests queued or running", ["backend"])


class TruncatedOutput(LLMError):
    """The answer hit max_tokens before it was complete."""


class MalformedOutput(LLMError):
    """The answer did not validate against the schema, twice."""


class LLMService:
    def __init__(
        self,
        backend: Backend,
        breaker: CircuitBreaker,
        timeout_s: float = 30.0,
        pii: PiiContext | None = None,
    ):
        self.backend = backend
        self.breaker = breaker
        self.timeout_s = timeout_s
        self.pii = pii  # redacted from every message when a call names none

    def with_pii(self, pii: PiiContext) -> "LLMService":
        """This service (same backend and breaker) redacting `pii` from every message: the
        turn engine gives agents only this, so no agent's prompt can skip it."""
        return LLMService(self.backend, self.breaker, self.timeout_s, pii)

    def restore(self, text: str) -> str:
        """Text the model wrote, with the stand-ins of redacted names put back."""
        return restore(text, self.pii)

    def _redacted(self, messages: list[dict[str, str]], pii: PiiContext | None) -> list[dict]:
        pii = pii or self.pii
        return [{"role": m["role"], "content": redact(m["content"], pii)} for m in messages]

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        pii: PiiContext | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict | None = None,
        timeout_s: float | None = None,
        slow_s: float | None = None,
        prompt: str = "",
    ) -> Completion:
        """One completion of `messages` (redacted first), through the circuit breaker;
        `slow_s` overrides the breaker's slow-answer limit for this call; `prompt` (the
        template's id, `prompts.Prompt.id`) is logged with it."""
        request = CompletionRequest(
            messages=self._redacted(messages, pii),
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=json_schema,
            timeout_s=timeout_s or self.timeout_s,
        )
        completion = await self._through_breaker(
            lambda: self.backend.complete(request), slow_s, prompt
        )
        TOKENS.labels(self.backend.name, "prompt").inc(completion.prompt_tokens)
        TOKENS.labels(self.backend.name, "completion").inc(completion.completion_tokens)
        log.info(
            "llm %s: %d+%d tokens, %s, %.2fs", prompt or "(no prompt id)",
            completion.prompt_tokens, completion.completion_tokens, completion.finish_reason,
            completion.seconds,
        )  # fmt: skip
        return completion

    async def _through_breaker(
        self, call: Callable[[], Awaitable[R]], slow_s: float | None, prompt: str
    ) -> R:
        """Run one backend call under the circuit breaker, with the latency metrics."""
        self.breaker.before_call()
        name = self.backend.name
        started = time.monotonic()
        IN_FLIGHT.labels(name).inc()
        try:
            result = await call()
        except (PromptTooLong, QueueTimeout) as exc:  # the prompt or the queue, not the model
            self.breaker.probing = False
            SECONDS.labels(name, type(exc).__name__).observe(time.monotonic() - started)
            raise
        except asyncio.CancelledError:
            SECONDS.labels(name, "cancelled").observe(time.monotonic() - started)
            raise
        except Exception as exc:  # timeouts, server errors, a model that will not load
            self.breaker.record_failure()
            SECONDS.labels(name, type(exc).__name__).observe(time.monotonic() - started)
            log.warning(
                "llm %s failed: %s: %s", prompt or "(no prompt id)", type(exc).__name__, exc
            )
            if isinstance(exc, LLMError):
                raise
            if isinstance(exc, TimeoutError):  # asyncio's or the OS's: one kind of timeout
                raise LLMTimeout(f"{name}: no answer in time") from exc
            raise LLMError(f"{name}: {type(exc).__name__}: {exc}") from exc
        finally:
            IN_FLIGHT.labels(name).dec()
        elapsed = time.monotonic() - started
        # The model's one-time load is not slowness of the model: leave it out of the breaker.
        self.breaker.record_success(elapsed - result.extra.get("load_seconds", 0.0), slow_s)
        SECONDS.labels(name, "ok").observe(elapsed)
        return result

    async def complete_json(
        self,
        messages: list[dict[str, str]],
        schema: type[T],
        *,
        pii: PiiContext | None = None,
        max_tokens: int = 256,
        timeout_s: float | None = None,
        slow_s: float | None = None,
        prompt: str = "",
    ) -> T:
        """The answer as a validated `schema` instance, decoded under its JSON schema."""
        json_schema = schema.model_json_schema()
        problem = ""
        for _attempt in range(2):
            completion = await self.chat(
                messages,
                pii=pii,
                max_tokens=max_tokens,
                json_schema=json_schema,
                timeout_s=timeout_s,
                slow_s=slow_s,
                prompt=prompt,
            )
            if completion.finish_reason == "length":
                raise TruncatedOutput(
                    f"answer cut at max_tokens={max_tokens}: {completion.text[-80:]!r}"
                )
            try:
                return schema.model_validate_json(completion.text)
            except ValidationError as exc:
                problem = f"{exc.error_count()} error(s): {exc.errors()[0]['msg']}"
        raise MalformedOutput(f"answer did not match {schema.__name__} twice ({problem})")

    async def prepare(self, system_prompt: str) -> None:
        """Evaluate a prompt family's fixed system prompt before its first real request, so
        that request is not the one to pay for it (the local backend keeps the state). Not
        an answer: neither the breaker nor the latency metrics count it."""
        await self.backend.complete(
            CompletionRequest(
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": "ok"},
                ],
                max_tokens=1,
                timeout_s=600,
                keep_prefix=True,
            )
        )

    async def classify(
        self,
        messages: list[dict[str, str]],
        labels: tuple[str, ...],
        *,
        answer_prefix: str = "",
        pii: PiiContext | None = None,
        timeout_s: float | None = None,
        prompt: str = "",
    ) -> dict[str, float]:
        """Each label's probability as the answer after `answer_prefix`: a choice constrained
        to the labels, with a real confidence, for the price of evaluating the prompt."""
        request = ClassifyRequest(
            messages=self._redacted(messages, pii),
            labels=labels,
            answer_prefix=answer_prefix,
            timeout_s=timeout_s or self.timeout_s,
        )
        classification = await self._through_breaker(
            lambda: self.backend.classify(request), None, prompt
        )
        log.info("llm %s: classified among %d labels", prompt or "(no prompt id)", len(labels))
        return classification.probabilities

    async def close(self) -> None:
        await self.backend.close()


def resolve_model(settings: Settings, progress: bool = False) -> Path:
    """The GGUF file to load: a bundled model assembled and verified, or a configured path."""
    model = BUNDLED.get(settings.llm_model)
    if model is not None:
        path = assemble(model, settings.models_dir, progress=progress)
        verify(path, model.sha256)
        return path
    path = Path(settings.llm_model)
    if not path.is_file():
        raise ModelFileError(
            f"OPENSALES_LLM_MODEL={settings.llm_model!r} is neither a bundled model "
            f"({', '.join(BUNDLED)}) nor a GGUF file"
        )
    if settings.llm_model_sha256:
        verify(path, settings.llm_model_sha256)
    return path


def build_llm(settings: Settings) -> LLMService:
    """The service for these settings; a local model is found, verified and loaded on its
    first request."""
    if settings.llm_backend == "remote":
        if not settings.llm_remote_url:
            raise ValueError("OPENSALES_LLM_BACKEND=remote needs OPENSALES_LLM_REMOTE_URL")
        from llm.remote import RemoteBackend

        backend = RemoteBackend(
            settings.llm_remote_url,
            settings.llm_remote_model,
            settings.llm_remote_api_key,
            settings.llm_context,
            settings.llm_remote_schema_style,
        )
    else:
        from llm.local import LocalBackend, LocalModelConfig

        backend = LocalBackend(
            LocalModelConfig(
                model_path=None,
                n_ctx=settings.llm_context,
                n_threads=settings.llm_threads,
                n_batch=settings.llm_batch,
                n_gpu_layers=settings.llm_gpu_layers,
                chat_format=settings.llm_chat_format,
            ),
            resolve_path=lambda: resolve_model(settings),
        )
    breaker = CircuitBreaker(
        f"llm-{backend.name}",
        settings.llm_breaker_failures,
        settings.llm_breaker_slow_s,
        settings.llm_breaker_reset_s,
    )
    return LLMService(backend, breaker, settings.llm_timeout_s)


@lru_cache
def get_llm() -> LLMService:
    """The process-wide LLM service."""
    return build_llm(get_settings())
