"""A rep's day as a route: today's task stores and beat stores in the order that fits the working
day best, with arrival times, and the stores that do not fit named with the reason.

Distances are great-circle metres times a road factor; times come from an average town speed.
Stores with tasks are kept before plain beat stores, the higher-scored first (`ml/routing.py`
drops the cheapest to leave out when the day is too short).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select

from db.models import BeatPlan, Store, Task, Visit
from db.scope import CompanySession
from ml.routing import Problem, Stop, solve
from tools.visits import distance_m

ROAD_FACTOR = 1.3  # roads are longer than the straight line
SPEED_M_S = 20_000 / 3600  # 20 km/h through town traffic
VISIT_S = 15 * 60
DAY_STARTS, DAY_ENDS = time(9, 30), time(19, 0)
BEAT_STORE_COST = 1_500  # metres of driving a plain beat stop is worth
TASK_COST_PER_POINT = 100  # and a task store, per point of its score (0-100), on top
SOLVE_S = 2.0  # at most; a handful of stores needs a fraction of it


@dataclass(frozen=True)
class Leg:
    store: Store
    arrive: datetime
    task: Task | None


@dataclass(frozen=True)
class BeatRoute:
    start: tuple[float, float]
    start_label: str
    legs: list[Leg]
    left_out: list[tuple[Store, str]]
    km: float
    back: datetime


def plan_beat(
    session: CompanySession, rep_id: uuid.UUID, day: date, now: datetime
) -> BeatRoute | None:
    """Today's route for the rep from `now` (local time), or None with nothing to visit."""
    tasks: dict[uuid.UUID, Task] = {}
    for task in session.exec(
        select(Task)
        .where(Task.rep_id == rep_id, Task.due_date == day, Task.status == "pending")
        .order_by(col(Task.score).desc())
    ):
        if task.store_id is not None:
            tasks.setdefault(task.store_id, task)
    beat = session.exec(
        select(BeatPlan.store_id).where(
            BeatPlan.rep_id == rep_id, BeatPlan.weekday == day.weekday()
        )
    ).all()
    visited = set(
        session.exec(
            select(Visit.store_id).where(Visit.rep_id == rep_id, Visit.visit_date == day)
        ).all()
    )
    wanted = [s for s in dict.fromkeys([*tasks, *beat]) if s not in visited]
    stores = [
        s for s in session.exec(select(Store).where(col(Store.id).in_(wanted))) if s.is_active
    ]
    if not stores:
        return None
    start, label = _start(session, rep_id, day, stores)
    points = [start, *((s.lat, s.lng) for s in stores)]
    metres = [[round(distance_m(*a, *b) * ROAD_FACTOR) for b in points] for a in points]
    seconds = [[round(m / SPEED_M_S) for m in row] for row in metres]
    begin = max(now, datetime.combine(day, DAY_STARTS, now.tzinfo))
    midnight = datetime.combine(day, time(0), now.tzinfo)
    opens = int((begin - midnight).total_seconds())
    closes = int((datetime.combine(day, DAY_ENDS, now.tzinfo) - midnight).total_seconds())
    stops = [
        Stop(
            s.code,
            service=VISIT_S,
            drop_cost=BEAT_STORE_COST
            + (int(tasks[s.id].score * TASK_COST_PER_POINT) + 5_000 if s.id in tasks else 0),
        )
        for s in stores
    ]
    plan = solve(
        Problem(stops, metres, [1], duration=seconds, day=(opens, max(opens, closes))),
        min(SOLVE_S, 0.2 + 0.05 * len(stops)),
    )
    legs = [
        Leg(stores[c.stop], midnight + timedelta(seconds=c.start), tasks.get(stores[c.stop].id))
        for route in plan.routes
        for c in route.calls
    ]
    back = midnight + timedelta(seconds=plan.routes[0].back) if plan.routes else begin
    left_out = [(stores[d.stop], d.reason) for d in plan.dropped]
    return BeatRoute(start, label, legs, left_out, plan.distance / 1000, back)


def _start(
    session: CompanySession, rep_id: uuid.UUID, day: date, stores: list[Store]
) -> tuple[tuple[float, float], str]:
    """Where the rep is: the last check-in today, else the middle of the day's stores."""
    last = session.exec(
        select(Visit)
        .where(Visit.rep_id == rep_id, Visit.visit_date == day)
        .order_by(col(Visit.checked_in_at).desc())
    ).first()
    if last is not None and last.check_in_lat is not None and last.check_in_lng is not None:
        store = session.get(Store, last.store_id)
        return (last.check_in_lat, last.check_in_lng), f"your last check-in ({store.name})"
    lat = sum(s.lat for s in stores) / len(stores)
    lng = sum(s.lng for s in stores) / len(stores)
    return (lat, lng), "the middle of your stores (check in anywhere for a route from there)"
