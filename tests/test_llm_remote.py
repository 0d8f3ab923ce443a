"""The remote backend against a real llama.cpp-compatible server (llama-cpp-python's own,
serving the small bundled model), started by the test."""

import asyncio
import socket
import subprocess
import sys
import time
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel

from llm.breaker import CircuitBreaker, LLMUnavailable
from llm.client import LLMError
from llm.remote import RemoteBackend
from llm.service import LLMService, TruncatedOutput

pytestmark = pytest.mark.e2e


class Answer(BaseModel):
    intent: Literal["order", "status", "complaint"]
    confidence: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(small_model_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(small_model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def remote_service(url: str, breaker: CircuitBreaker | None = None) -> LLMService:
    return LLMService(RemoteBackend(url, n_ctx=2048), breaker or CircuitBreaker("e2e-remote"), 60)


def test_structured_output_through_the_server(server_url):
    async def scenario():
        llm = remote_service(server_url)
        try:
            return await llm.complete_json(
                [
                    {
                        "role": "system",
                        "content": "Classify the retailer's message: order (they "
                        "want goods), status (they ask where an order is) or complaint (something "
                        "went wrong). Confidence is between 0 and 1.",
                    },
                    {"role": "user", "content": "send 2 cases of parle g"},
                ],
                Answer,
                max_tokens=40,
            )
        finally:
            await llm.close()

    answer = asyncio.run(scenario())
    assert answer.intent == "order"


def test_truncation_is_reported_by_the_server_too(server_url):
    async def scenario():
        llm = remote_service(server_url)
        try:
            await llm.complete_json(
                [{"role": "user", "content": "classify: hello"}], Answer, max_tokens=3
            )
        finally:
            await llm.close()

    with pytest.raises(TruncatedOutput):
        asyncio.run(scenario())


def test_an_unreachable_server_opens_the_breaker():
    async def scenario():
        llm = remote_service(
            f"http://127.0.0.1:{free_port()}/v1",
            CircuitBreaker("e2e-remote-down", failure_threshold=2),
        )
        try:
            for _ in range(2):
                with pytest.raises(LLMError):
                    await llm.chat([{"role": "user", "content": "hi"}])
            with pytest.raises(LLMUnavailable):
                await llm.chat([{"role": "user", "content": "hi"}])
        finally:
            await llm.close()

    asyncio.run(scenario())
