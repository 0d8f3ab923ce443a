"""The circuit breaker opens on failures or slowness, refuses while open, probes, and closes."""

import pytest
from prometheus_client import REGISTRY

from llm.breaker import CircuitBreaker, LLMUnavailable, State


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state_metric(name: str, state: str) -> float:
    return REGISTRY.get_sample_value(
        "opensales_llm_breaker_state", {"breaker": name, "state": state}
    )


def test_three_failures_open_it_then_a_probe_closes_it():
    clock = Clock()
    breaker = CircuitBreaker("t1", failure_threshold=3, reset_after_s=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is State.closed
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is State.open and state_metric("t1", "open") == 1
    with pytest.raises(LLMUnavailable):
        breaker.before_call()

    clock.now += 30
    breaker.before_call()  # the one probe
    assert breaker.state is State.half_open
    with pytest.raises(LLMUnavailable):
        breaker.before_call()  # no second caller while probing
    breaker.record_success(0.5)
    assert breaker.state is State.closed and state_metric("t1", "closed") == 1
    breaker.before_call()


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker("t2", failure_threshold=3)
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        breaker.before_call()
        breaker.record_failure() if outcome == "fail" else breaker.record_success(1.0)
    assert breaker.state is State.closed


def test_one_slow_answer_opens_it_and_a_failed_probe_reopens():
    clock = Clock()
    breaker = CircuitBreaker("t3", slow_call_s=10, reset_after_s=5, clock=clock)
    breaker.before_call()
    breaker.record_success(12.0)
    assert breaker.state is State.open
    clock.now += 5
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is State.open
    with pytest.raises(LLMUnavailable):
        breaker.before_call()
