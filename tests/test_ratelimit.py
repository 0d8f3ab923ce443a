"""Per-user rate limits, in process and on the real Redis (shared by server processes)."""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from channels.ratelimit import RateLimited, RateLimiter

REDIS_URL = os.environ.get("OPENSALES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Clock:
    """Time the test moves: starts 15 s into a minute window."""

    def __init__(self) -> None:
        self.now = time.time() // 60 * 60 + 15

    def __call__(self) -> float:
        return self.now


Make = Callable[[int], RateLimiter]
Body = Callable[[Make, Clock], Awaitable[None]]


def run(backend: str, body: Body) -> None:
    """Run `body` with a factory of limiters on `backend`, sharing one clock and (on Redis) one
    key prefix of this test's own, deleted afterwards."""

    async def main() -> None:
        prefix = f"opensales-test:rate:{uuid.uuid4().hex}"
        redis = Redis.from_url(REDIS_URL) if backend == "redis" else None
        clock = Clock()
        try:
            await body(lambda limit: RateLimiter(limit, redis, prefix=prefix, clock=clock), clock)
        finally:
            if redis is not None:
                keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
                if keys:
                    await redis.delete(*keys)
                await redis.aclose()

    asyncio.run(main())


backends = pytest.mark.parametrize(
    "backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)]
)


@backends
def test_the_fourth_hit_in_a_minute_waits_for_the_next_window(backend):
    async def body(make: Make, clock: Clock) -> None:
        limiter = make(3)
        assert [await limiter.hit("user-a") for _ in range(3)] == [None] * 3
        assert await limiter.hit("user-a") == pytest.approx(45)
        assert await limiter.hit("user-b") is None  # another user is independent
        clock.now += 45
        assert await limiter.hit("user-a") is None

    run(backend, body)


@backends
def test_enforce_raises_rate_limited_with_retry_after(backend):
    async def body(make: Make, clock: Clock) -> None:
        limiter = make(1)
        await limiter.enforce("user-a")
        clock.now += 44.2
        with pytest.raises(RateLimited) as caught:
            await limiter.enforce("user-a")
        error = caught.value
        assert (error.status_code, error.code, error.retry_after) == (429, "RATE_LIMITED", 1)
        assert "try again in 1 s" in error.message

    run(backend, body)


@backends
def test_a_limit_of_zero_is_unlimited(backend):
    async def body(make: Make, clock: Clock) -> None:
        limiter = make(0)
        assert [await limiter.hit("user-a") for _ in range(100)] == [None] * 100

    run(backend, body)


@pytest.mark.redis
def test_on_redis_processes_share_the_count_and_keys_expire():
    async def main() -> None:
        prefix = f"opensales-test:rate:{uuid.uuid4().hex}"
        first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)  # two processes
        try:
            a, b = RateLimiter(3, first, prefix=prefix), RateLimiter(3, second, prefix=prefix)
            assert [await limiter.hit("user-a") for limiter in (a, b, a)] == [None] * 3
            assert await b.hit("user-a") is not None
            assert await b.hit("user-b") is None
            keys = [key async for key in first.scan_iter(f"{prefix}:*")]
            assert len(keys) == 2
            assert all(0 < ttl <= 60 for ttl in [await first.ttl(key) for key in keys])
        finally:
            await first.delete(*[key async for key in first.scan_iter(f"{prefix}:*")])
            await first.aclose()
            await second.aclose()

    asyncio.run(main())


def test_in_memory_each_process_counts_for_itself():
    async def body(make: Make, clock: Clock) -> None:
        first, second = make(1), make(1)
        assert await first.hit("user-a") is None
        assert await second.hit("user-a") is None

    run("memory", body)
