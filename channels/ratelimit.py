"""Rate limits: at most N hits per key (an API user, a sender) in each fixed one-minute window.

With Redis the count lives there (one key per user and window, gone after a minute), so the
limit holds across server processes. Without Redis each process counts for itself.
"""

import math
import time
from collections.abc import Callable

from redis.asyncio import Redis

from errors import ApiError

WINDOW_S = 60


class RateLimited(ApiError):
    """429 with the seconds to wait, for the route's Retry-After header."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "RATE_LIMITED", f"Too many requests; try again in {retry_after} s.")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(
        self,
        limit_per_minute: int,
        redis: Redis | None,
        prefix: str = "opensales:rate",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limit = limit_per_minute
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}  # this window's counts only: memory stays bounded

    async def hit(self, key: str) -> float | None:
        """Count one hit on `key`: None when allowed, else the seconds until the window ends."""
        over = await self.over(key)
        return over[1] if over else None

    async def over(self, key: str) -> tuple[int, float] | None:
        """Count one hit on `key`: None when allowed, else how many hits it is over the limit
        in this window (1 for the first refused) and the seconds until the window ends."""
        if self._limit <= 0:
            return None
        now = self._clock()
        window = int(now // WINDOW_S)
        if self._redis is None:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts[key] = self._counts.get(key, 0) + 1
        else:
            name = f"{self._prefix}:{key}:{window}"
            async with self._redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(name).expire(name, WINDOW_S).execute()
        if count <= self._limit:
            return None
        return count - self._limit, (window + 1) * WINDOW_S - now

    async def enforce(self, key: str) -> None:
        """Count one hit on `key`, raising RateLimited when it is over the limit."""
        wait = await self.hit(key)
        if wait is not None:
            raise RateLimited(max(1, math.ceil(wait)))
