"""The in-process backend: one llama.cpp model served by one worker thread.

A `Llama` object is not thread-safe, so every request goes through a single-thread executor:
callers on the event loop await a future and never block it, requests run one at a time in
arrival order, and none is dropped or interleaved. A request stops at its deadline or when its
caller is cancelled, between two generated tokens. Keeping each prompt family's fixed prefix
(system message first) stable lets llama.cpp reuse the evaluated prefix of the previous request.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from llm.client import Completion, CompletionRequest, LLMError, LLMTimeout, fit_messages


@dataclass(frozen=True)
class LocalModelConfig:
    model_path: Path | None
    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512
    n_gpu_layers: int = 0  # -1 offloads every layer to the GPU (CUDA build)
    chat_format: str | None = None  # None: the template in the GGUF file


class LocalBackend:
    name = "local"

    def __init__(self, config: LocalModelConfig,
                 resolve_path: Callable[[], Path] | None = None) -> None:
        """`resolve_path`, when given, finds the model file at first use (assembling and
        verifying a bundled model takes seconds; a process may never need it)."""
        self.config = config
        self.resolve_path = resolve_path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llama = None

    def _model(self):
        if self._llama is None:
            from llama_cpp import Llama

            path = self.resolve_path() if self.resolve_path else self.config.model_path
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self.config.n_ctx,
                n_threads=self.config.n_threads,
                n_batch=self.config.n_batch,
                n_gpu_layers=self.config.n_gpu_layers,
                chat_format=self.config.chat_format,
                verbose=False,
            )
        return self._llama

    async def complete(self, request: CompletionRequest) -> Completion:
        cancelled = threading.Event()
        deadline = time.monotonic() + request.timeout_s
        future = self._executor.submit(self._generate, request, deadline, cancelled)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            cancelled.set()  # the worker stops at the next token, or skips the request
            raise

    def _generate(
        self, request: CompletionRequest, deadline: float, cancelled: threading.Event
    ) -> Completion:
        if cancelled.is_set():
            raise LLMError("cancelled before it started")
        if time.monotonic() > deadline:
            raise LLMTimeout(f"waited {request.timeout_s:g}s in the queue")
        loading = time.monotonic()
        llama = self._model()
        started = time.monotonic()  # loading the model once is not this answer's slowness

        def count(text: str) -> int:
            return len(llama.tokenize(text.encode(), add_bos=False, special=True))

        messages, dropped, prompt_tokens = fit_messages(
            request.messages, count, llama.n_ctx() - request.max_tokens
        )
        response_format = (
            {"type": "json_object", "schema": request.json_schema} if request.json_schema else None
        )
        stream = llama.create_chat_completion(
            messages=messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            response_format=response_format,
            stream=True,
        )
        pieces: list[str] = []
        finish_reason, first_token, tokens = "stop", 0.0, 0
        try:
            for chunk in stream:
                if cancelled.is_set():
                    raise LLMError("cancelled")
                if time.monotonic() > deadline:
                    raise LLMTimeout(f"no answer within {request.timeout_s:g}s")
                choice = chunk["choices"][0]
                content = choice["delta"].get("content")
                if content:
                    tokens += 1
                    first_token = first_token or time.monotonic() - started
                    pieces.append(content)
                finish_reason = choice["finish_reason"] or finish_reason
        finally:
            stream.close()
        return Completion(
            text="".join(pieces),
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=tokens,
            seconds=time.monotonic() - started,
            first_token_seconds=first_token,
            trimmed_messages=dropped,
            extra={"load_seconds": started - loading},
        )

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llama = None
