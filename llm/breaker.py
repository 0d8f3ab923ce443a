"""Circuit breaker around the LLM (seed section 4, "Fallback Strategy").

After `failure_threshold` consecutive failures, or one answer slower than `slow_call_s`, the
breaker opens: callers get `LLMUnavailable` at once and take their rule-based fallback instead of
waiting on a sick model. After `reset_after_s` one probe call is let through (half-open); its
success closes the breaker, its failure opens it again.
"""

import time
from enum import StrEnum

from prometheus_client import Counter, Gauge

from llm.client import LLMError


class LLMUnavailable(LLMError):
    """The LLM cannot answer now (the breaker is open); use the fallback."""


class State(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


STATE = Gauge("opensales_llm_breaker_state", "LLM circuit breaker state", ["breaker", "state"])
FAILURES = Counter("opensales_llm_failures_total", "Failed or too slow LLM calls", ["breaker"])
REJECTED = Counter(
    "opensales_llm_rejected_total", "LLM calls refused while the breaker was open", ["breaker"]
)


class CircuitBreaker:
    def __init__(
        self,
        name: str = "llm",
        failure_threshold: int = 3,
        slow_call_s: float = 10.0,
        reset_after_s: float = 30.0,
        clock=time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.slow_call_s = slow_call_s
        self.reset_after_s = reset_after_s
        self.clock = clock
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False
        self._set(State.closed)

    def _set(self, state: State) -> None:
        self.state = state
        for each in State:
            STATE.labels(self.name, each.value).set(1 if each is state else 0)

    def before_call(self) -> None:
        """Raise `LLMUnavailable` unless a call may go ahead now."""
        if self.state is State.open and self.clock() - self.opened_at >= self.reset_after_s:
            self._set(State.half_open)
            self.probing = False
        if self.state is State.half_open and not self.probing:
            self.probing = True
            return
        if self.state is not State.closed:
            REJECTED.labels(self.name).inc()
            raise LLMUnavailable(f"LLM circuit breaker {self.name} is {self.state}")

    def record_success(self, elapsed_s: float, slow_call_s: float | None = None) -> None:
        """A call that answered; slower than `slow_call_s` (default: the breaker's) counts as
        a failure. Callers that ask for long answers (SQL) allow themselves more."""
        if elapsed_s > (slow_call_s or self.slow_call_s):
            self.record_failure(slow=True)
            return
        self.failures = 0
        self.probing = False
        self._set(State.closed)

    def record_failure(self, slow: bool = False) -> None:
        FAILURES.labels(self.name).inc()
        self.failures += 1
        self.probing = False
        if slow or self.state is State.half_open or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
            self._set(State.open)
