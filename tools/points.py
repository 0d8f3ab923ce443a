"""Points for completed tasks (WF-007) and the leaderboard by day, week and month.

The database is the source of truth: a task's points are one `incentives` row (unique per task),
so completing it twice, in chat and in the app, awards them once. The leaderboard reads a Redis
sorted set per company and period when there is one, and rebuilds it from the database when it
is missing (Redis restarted, or none configured); a new award updates the set only where it
exists, with the rep's total recomputed from the database, so the set never drifts from it.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from db.models import Incentive, Rep, Task
from db.scope import CompanySession

PERIODS = ("day", "week", "month")
KEEP_S = 40 * 86400  # a period's sorted set outlives its period by enough to be asked about


def complete(session: CompanySession, task: Task, today: date) -> int | None:
    """Mark the task done and award its points, in the session's transaction (the caller
    commits); None when it was already done (no second award)."""
    if task.status == "completed":
        return None
    exists = session.exec(select(Incentive.id).where(Incentive.task_id == task.id)).first()
    task.status, task.completed_at = "completed", datetime.now(UTC)
    if exists is not None:
        return None
    try:
        with session.begin_nested():
            session.add(
                Incentive(
                    company_id=task.company_id,
                    rep_id=task.rep_id,
                    task_id=task.id,
                    points=task.points,
                    reason=task.title,
                    earned_on=today,
                )  # fmt: skip
            )
    except IntegrityError:  # completed at the same moment elsewhere
        return None
    rep = session.get(Rep, task.rep_id)
    if rep is not None:
        rep.points_balance += task.points
    return task.points


def start_of(period: str, today: date) -> date:
    if period == "day":
        return today
    if period == "week":
        return today - timedelta(days=today.weekday())
    return today.replace(day=1)


def from_database(session: CompanySession, period: str, today: date) -> dict[uuid.UUID, int]:
    """Every active rep's points in the period (0 for none)."""
    earned = dict(
        session.exec(
            select(Incentive.rep_id, func.sum(Incentive.points))
            .where(Incentive.earned_on >= start_of(period, today), Incentive.earned_on <= today)
            .group_by(col(Incentive.rep_id))
        ).all()
    )
    reps = session.exec(select(Rep.id).where(Rep.is_active)).all()
    return {rep_id: int(earned.get(rep_id) or 0) for rep_id in reps}


def _key(prefix: str, company_id: uuid.UUID, period: str, today: date) -> str:
    return f"{prefix}:board:{company_id}:{period}:{start_of(period, today)}"


async def standings(
    session: CompanySession, redis: Any, prefix: str, period: str, today: date
) -> list[tuple[Rep, int]]:
    """Reps by points in the period, highest first."""
    key = _key(prefix, session.company_id, period, today)
    scores: dict[uuid.UUID, int] = {}
    if redis is not None:
        try:
            scores = {
                uuid.UUID(member.decode() if isinstance(member, bytes) else member): int(score)
                for member, score in await redis.zrange(key, 0, -1, withscores=True)
            }
        except (OSError, RedisError):
            redis = None  # Redis down: the database answers
    if not scores:
        scores = from_database(session, period, today)
        if redis is not None and scores:
            try:
                await redis.zadd(key, {str(rep_id): points for rep_id, points in scores.items()})
                await redis.expire(key, KEEP_S)
            except (OSError, RedisError):
                pass
    reps = {r.id: r for r in session.exec(select(Rep).where(col(Rep.id).in_(list(scores))))}
    ranked = [(reps[rep_id], points) for rep_id, points in scores.items() if rep_id in reps]
    return sorted(ranked, key=lambda row: (-row[1], row[0].name))


async def record(
    session: CompanySession, redis: Any, prefix: str, rep_id: uuid.UUID, today: date
) -> None:
    """After an award is committed: the rep's totals into the periods' sets that exist."""
    if redis is None:
        return
    for period in PERIODS:
        key = _key(prefix, session.company_id, period, today)
        total = from_database(session, period, today).get(rep_id, 0)
        try:
            if await redis.exists(key):
                await redis.zadd(key, {str(rep_id): total})
        except (OSError, RedisError):
            return
