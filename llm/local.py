"""The in-process backend: one llama.cpp model served by one worker thread.

A `Llama` object is not thread-safe, so every request goes through a single-thread executor:
callers on the event loop await a future and never block it, requests run one at a time in
arrival order, and none is dropped or interleaved. A request stops at its deadline or when its
caller is cancelled, between two generated tokens.

Prompt families (routing, SQL) each start with a fixed system message. llama.cpp reuses the
evaluated prefix of the previous request; when requests of different families alternate, that
prefix is lost, so for the families declared with `keep_prefix` (see `LLMService.prepare`) the
model's state after their first request is kept (about 10 MB each) and loaded back when that
family comes again: a memory copy instead of seconds of prompt evaluation.
"""

import asyncio
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm.client import (
    Classification,
    ClassifyRequest,
    Completion,
    CompletionRequest,
    LLMError,
    LLMTimeout,
    PromptTooLong,
    QueueTimeout,
    fit_messages,
)

KEPT_FAMILIES = 4
MIN_FAMILY_TOKENS = 64  # shorter prefixes are cheaper to evaluate than to copy back


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

    def __init__(
        self, config: LocalModelConfig, resolve_path: Callable[[], Path] | None = None
    ) -> None:
        """`resolve_path`, when given, finds the model file at first use (assembling and
        verifying a bundled model takes seconds; a process may never need it)."""
        self.config = config
        self.resolve_path = resolve_path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llama = None
        self._formatter = None
        self._states: OrderedDict[str, KeptState] = OrderedDict()  # family -> its state
        self._family_tokens: dict[str, int] = {}

    def _model(self):
        if self._llama is None:
            from llama_cpp import Llama

            path = self.resolve_path() if self.resolve_path else self.config.model_path
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self.config.n_ctx,
                n_threads=self.config.n_threads or os.cpu_count(),
                n_batch=self.config.n_batch,
                n_gpu_layers=self.config.n_gpu_layers,
                chat_format=self.config.chat_format,
                verbose=False,
            )
        return self._llama

    async def complete(self, request: CompletionRequest) -> Completion:
        return await self._run(self._generate, request)

    async def classify(self, request: ClassifyRequest) -> Classification:
        return await self._run(self._classify, request)

    async def _run(self, work, request):
        cancelled = threading.Event()
        deadline = time.monotonic() + request.timeout_s
        future = self._executor.submit(work, request, deadline, cancelled)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            cancelled.set()  # the worker stops at the next token, or skips the request
            raise

    def _chat_prompt(self, llama, messages: list[dict[str, str]]) -> str:
        """The prompt text the GGUF's own chat template makes of `messages`."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise LLMError("this GGUF has no chat template to classify with")
            self._formatter = Jinja2ChatFormatter(
                template,
                eos_token=llama._model.token_get_text(llama.token_eos()),
                bos_token=llama._model.token_get_text(llama.token_bos()),
                stop_token_ids=[llama.token_eos()],
            )
        return self._formatter(messages=messages).prompt

    def _family(
        self, llama, messages: list[dict[str, str]], tokens: list[int], declare: bool = False
    ) -> str | None:
        """The kept prompt family these messages belong to (by their system message), if one
        was declared (`keep_prefix`); prompts that change per call are never kept."""
        if not messages or messages[0]["role"] != "system":
            return None
        family = hashlib.sha1(messages[0]["content"].encode()).hexdigest()
        if family not in self._family_tokens:
            if not declare:
                return None
            alone = self._tokens(llama, self._chat_prompt(llama, messages[:1]))
            self._family_tokens[family] = llama.longest_token_prefix(tokens, alone)
        return family

    @staticmethod
    def _tokens(llama, prompt: str) -> list[int]:
        return llama.tokenize(prompt.encode(), add_bos=False, special=True)

    def _restore(self, llama, family: str | None, tokens: list[int]) -> None:
        """Load the family's kept state when the current one does not hold its prefix."""
        if family is None or family not in self._states:
            return
        if (
            llama.longest_token_prefix(llama._input_ids.tolist(), tokens)
            < self._family_tokens[family]
        ):
            _load_kv(llama, self._states[family])
        self._states.move_to_end(family)

    def _keep(self, llama, family: str | None) -> None:
        if (
            family is None
            or family in self._states
            or self._family_tokens[family] < MIN_FAMILY_TOKENS
        ):
            return
        self._states[family] = _save_kv(llama)
        while len(self._states) > KEPT_FAMILIES:
            self._states.popitem(last=False)

    def _begin(self, request, deadline: float, cancelled: threading.Event):
        """The model, for a request still wanted and in time, and how long loading it took."""
        if cancelled.is_set():
            raise LLMError("cancelled before it started")
        if time.monotonic() > deadline:
            raise QueueTimeout(f"waited {request.timeout_s:g}s in the queue")
        loading = time.monotonic()
        llama = self._model()
        return llama, time.monotonic() - loading

    def _classify(
        self, request: ClassifyRequest, deadline: float, cancelled: threading.Event
    ) -> Classification:
        llama, loaded = self._begin(request, deadline, cancelled)
        tokens = self._tokens(
            llama, self._chat_prompt(llama, request.messages) + request.answer_prefix
        )
        if len(tokens) >= llama.n_ctx():
            raise PromptTooLong(f"classification prompt needs {len(tokens)} tokens")
        firsts = [self._tokens(llama, label)[0] for label in request.labels]
        if len(set(firsts)) != len(firsts):
            raise LLMError(f"labels {request.labels} do not start with distinct tokens")
        family = self._family(llama, request.messages, tokens)
        self._restore(llama, family, tokens)
        # evaluate what the cache does not hold (at least the last token, for its logits)
        llama.n_tokens = min(
            llama.longest_token_prefix(llama._input_ids.tolist(), tokens), len(tokens) - 1
        )
        llama.eval(tokens[llama.n_tokens :])
        self._keep(llama, family)
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
        chosen = logits[firsts].astype(np.float64)
        weights = np.exp(chosen - chosen.max())
        weights /= weights.sum()
        return Classification(
            {label: float(w) for label, w in zip(request.labels, weights, strict=True)},
            extra={"load_seconds": loaded},
        )

    def _generate(
        self, request: CompletionRequest, deadline: float, cancelled: threading.Event
    ) -> Completion:
        llama, loaded = self._begin(request, deadline, cancelled)
        started = time.monotonic()  # loading the model once is not this answer's slowness

        def count(text: str) -> int:
            return len(llama.tokenize(text.encode(), add_bos=False, special=True))

        messages, dropped, prompt_tokens = fit_messages(
            request.messages, count, llama.n_ctx() - request.max_tokens
        )
        family = tokens = None
        if self.config.chat_format is None and llama.metadata.get("tokenizer.chat_template"):
            tokens = self._tokens(llama, self._chat_prompt(llama, messages))
            family = self._family(llama, messages, tokens, declare=request.keep_prefix)
            self._restore(llama, family, tokens)
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
        self._keep(llama, family)
        return Completion(
            text="".join(pieces),
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=tokens,
            seconds=time.monotonic() - started,
            first_token_seconds=first_token,
            trimmed_messages=dropped,
            extra={"load_seconds": loaded},
        )

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llama = None
        self._states.clear()


@dataclass(frozen=True)
class KeptState:
    """The evaluated tokens and llama.cpp's own state (the KV cache of those tokens): what a
    family's prefix needs, without the logits array `Llama.save_state` also copies (n_batch x
    vocabulary floats: ~300 MB for this model)."""

    input_ids: np.ndarray
    n_tokens: int
    data: bytes


def _save_kv(llama) -> KeptState:
    import ctypes

    import llama_cpp

    size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llama._ctx.ctx, buffer, size)
    return KeptState(
        llama.input_ids[: llama.n_tokens].copy(), llama.n_tokens, bytes(buffer)[:written]
    )


def _load_kv(llama, state: KeptState) -> None:
    import ctypes

    import llama_cpp

    buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
    if llama_cpp.llama_state_set_data(llama._ctx.ctx, buffer, len(state.data)) != len(state.data):
        raise LLMError("could not restore a kept prompt state")
    llama.input_ids[: state.n_tokens] = state.input_ids
    llama.n_tokens = state.n_tokens
