"""A fake chat model for unit tests of graph logic: answers come from functions of the prompt."""

from collections.abc import Callable

from llm.breaker import CircuitBreaker
from llm.client import Classification, ClassifyRequest, Completion, CompletionRequest
from llm.service import LLMService


class FakeBackend:
    name = "fake"

    def __init__(
        self,
        complete: Callable[[CompletionRequest], str] | None = None,
        classify: Callable[[ClassifyRequest], dict[str, float]] | None = None,
    ) -> None:
        self.on_complete = complete
        self.on_classify = classify
        self.completions: list[CompletionRequest] = []
        self.classifications: list[ClassifyRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.completions.append(request)
        if self.on_complete is None:
            raise AssertionError(f"no completion expected: {request.messages[-1]['content']!r}")
        return Completion(self.on_complete(request), "stop", 10, 5, 0.01)

    async def classify(self, request: ClassifyRequest) -> Classification:
        self.classifications.append(request)
        if self.on_classify is None:
            raise AssertionError(f"no routing expected: {request.messages[-1]['content']!r}")
        return Classification(self.on_classify(request))

    async def close(self) -> None:
        pass


def fake_llm(**answers) -> LLMService:
    return LLMService(FakeBackend(**answers), CircuitBreaker("fake", 3, 10, 30))


def down_llm() -> LLMService:
    """A service whose breaker is open: every call is refused at once."""
    service = fake_llm()
    for _ in range(3):
        service.breaker.record_failure()
    return service
