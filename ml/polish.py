"""Shorter routes for a plan OR-Tools made: PyVRP's iterated local search, started from it.

OR-Tools builds the first plan in a tenth of the time limit; PyVRP shortens it in the rest. On
Solomon's 56 instances this serves all of them at the best-known fleet with a mean gap to the
best-known distance of about 0.5% in 10 s, where OR-Tools with an ejection pool served 51 at
+4.5% (`opensales bench routing --all`, docs/evals.md).

The objective is the one OR-Tools minimises: distance, plus each vehicle's fixed cost, plus the
cost of every stop left out. A must-serve stop on OR-Tools' plan is required: a polished plan
never serves fewer, and a fleet too small for everyone still gets shorter routes.
"""

import time
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyvrp import (
    Client,
    CostEvaluator,
    Depot,
    Location,
    ProblemData,
    Route,
    Solution,
    VehicleType,
    solve,
)
from pyvrp.exceptions import PenaltyBoundWarning

if TYPE_CHECKING:
    from ml.routing import Problem

MUST_SERVE = None
SEED = 1
INFEASIBLE = np.iinfo(np.int64).max  # the cost PyVRP gives a plan that breaks a rule
STRICT_SHARE = 0.8  # of the polish's time: looking for a plan serving every must-serve stop


@dataclass(frozen=True)
class Polished:
    routes: list[list[int]]  # each vehicle's stops as node numbers, [] for an unused one
    served_all_at: float | None  # time.perf_counter() when every must-serve stop was served


class _Deadline:
    """PyVRP's stopping criterion: the deadline, or `give_up` if no plan breaking no rule has
    been found by then. It sees the best plan's cost each iteration, so it also notes when the
    best plan first became feasible (its cost no longer the maximum)."""

    def __init__(self, deadline: float, give_up: float | None = None) -> None:
        self.deadline = deadline
        self.give_up = deadline if give_up is None else give_up
        self.feasible_at: float | None = None

    def __call__(self, best_cost: int) -> bool:
        now = time.perf_counter()
        if self.feasible_at is None and best_cost < INFEASIBLE:
            self.feasible_at = now
        return now >= self.deadline or (self.feasible_at is None and now >= self.give_up)


def polish(
    problem: "Problem",
    routes: list[list[int]],
    deadline: float,
    hopeless: Collection[int] = (),
    must_cost: int = 0,
) -> Polished | None:
    """A plan that costs less than `routes` (each vehicle's stops as node numbers), found
    before `deadline` (a `time.perf_counter()` value); None when the search found none.
    `hopeless` must-serve stops (left out, and no vehicle could serve them even alone) are not
    asked for: they would leave no plan feasible.

    When `routes` serve every must-serve stop, the search starts from them and keeps them all
    served. When they leave one out, it looks for a plan serving them all from its own
    construction (started from such a plan it often ends with stops still out: RC101, R110);
    with none by STRICT_SHARE of the time (a fleet too small for everyone), it shortens
    `routes` in the rest, taking on a left-out stop where it can at `must_cost` each."""
    now = time.perf_counter()
    if deadline <= now:
        return None
    must = {n for n, stop in enumerate(problem.stops, 1) if stop.drop_cost is MUST_SERVE}
    must.difference_update(hopeless)
    served = {node for route in routes for node in route}
    if must <= served:
        return _search(problem, routes, must, {}, deadline)
    give_up = now + (deadline - now) * STRICT_SHARE
    everyone = _search(problem, None, must, {}, deadline, give_up)
    if everyone is not None:
        return everyone
    shorter = _search(
        problem, routes, must & served, dict.fromkeys(must - served, must_cost), deadline
    )
    if shorter is None:
        return None
    everyone_now = must <= {node for route in shorter.routes for node in route}
    return Polished(shorter.routes, time.perf_counter() if everyone_now else None)


def _search(
    problem: "Problem",
    routes: list[list[int]] | None,
    required: set[int],
    prizes: dict[int, int],
    deadline: float,
    give_up: float | None = None,
) -> Polished | None:
    """PyVRP from `routes` (or from its own construction when None) until `deadline` (or
    `give_up`, with no feasible plan by then): its best feasible plan, if it costs less than
    `routes`."""
    data, vehicle_types = _data(problem, required, prizes)
    start = None
    if routes is not None:
        start = Solution(
            data,
            [
                Route(data, [node - 1 for node in route], vehicle_types[v])
                for v, route in enumerate(routes)
                if route
            ],
        )
    until = _Deadline(deadline, give_up)
    with warnings.catch_warnings():  # "struggles to find a feasible solution": None says so
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        best = solve(data, until, seed=SEED, collect_stats=False, display=False,
                     initial_solution=start).best  # fmt: skip
    cost = CostEvaluator([1], 1, 0).cost  # of a feasible plan: the objective itself
    if not best.is_feasible() or (start is not None and cost(best) >= cost(start)):
        return None
    return Polished(_per_vehicle(best, vehicle_types), until.feasible_at or time.perf_counter())


def _data(
    problem: "Problem", required: set[int], prizes: dict[int, int]
) -> tuple[ProblemData, list[int]]:
    """The problem in PyVRP's terms, and each vehicle's type (one per distinct capacity).
    Client i is node i + 1; a stop not required is worth its prize (else its drop cost) when
    served. Every location is at the origin: PyVRP reads distances and durations from the
    matrices."""
    open_, close = problem.day
    capacities = sorted(set(problem.capacities))
    vehicle_types = [capacities.index(c) for c in problem.capacities]
    clients = []
    for number, stop in enumerate(problem.stops, 1):
        earliest, latest = stop.window or (open_, close)
        clients.append(
            Client(
                location=number,
                delivery=[stop.demand],
                service_duration=stop.service,
                tw_early=max(earliest, open_),
                tw_late=max(earliest, open_, min(latest, close)),  # not before it opens
                required=number in required,
                prize=prizes.get(number, max(0, stop.drop_cost or 0)),
            )
        )
    distance = np.asarray(problem.distance, dtype=np.int64)
    duration = np.asarray(problem.duration or problem.distance, dtype=np.int64)
    data = ProblemData(
        locations=[Location(0.0, 0.0) for _ in range(len(problem.stops) + 1)],
        clients=clients,
        depots=[Depot(location=0, tw_early=open_, tw_late=close)],
        vehicle_types=[
            VehicleType(
                num_available=problem.capacities.count(capacity),
                capacity=[capacity],
                fixed_cost=problem.vehicle_cost,
                tw_early=open_,
                tw_late=close,
            )
            for capacity in capacities
        ],
        # PyVRP's stubs spell the matrix type ndarray[int], which no array matches
        distance_matrices=[distance],  # type: ignore[list-item]
        duration_matrices=[duration],  # type: ignore[list-item]
    )
    return data, vehicle_types


def _per_vehicle(solution: Solution, vehicle_types: Sequence[int]) -> list[list[int]]:
    """The solution's routes given to the vehicles of their type, in order."""
    routes: list[list[int]] = [[] for _ in vehicle_types]
    free = list(range(len(vehicle_types)))
    for route in solution.routes():
        vehicle = next(v for v in free if vehicle_types[v] == route.vehicle_type())
        free.remove(vehicle)
        routes[vehicle] = [call.idx + 1 for call in route if call.is_client()]
    return routes
