"""Route optimisation with OR-Tools: a rep's beat and a distributor's delivery routes.

One model serves both. Node 0 is the depot (a rep's home, the warehouse); every other node is a
stop with a service time, a time window, a demand and either "must be served" or the cost of
leaving it out. Vehicles have a capacity and start and end at the depot. A plan always comes
back: a stop that does not fit is dropped explicitly, the cheapest to leave out first, and
listed with the reason, never skipped silently.

OR-Tools' routing library builds the first plan with a time-window aware insertion, improves
it with guided local search for a tenth of the time limit and decides what a fleet too small
for everyone leaves out. PyVRP's iterated local search (`ml/polish.py`) shortens the plan in the
rest of the time: on Solomon's twelve instances of the benchmark, guided local search alone
served 7 at the best-known fleet in 10 s (+2.1% over those).
Distances and times are integers in the caller's units (metres and seconds for a beat,
Solomon's units x 1000 for the benchmark).
"""

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from ml.polish import polish

log = logging.getLogger("opensales.routing")

MAX_STOPS = 500  # beyond this a plan takes minutes, not seconds: split the request
MUST_SERVE = None
SEARCH_SHARE = 0.1  # of the time limit: OR-Tools' search, before PyVRP's polish


class RoutingError(ValueError):
    """A request that cannot be planned as given (the message says which stop or vehicle)."""


@dataclass(frozen=True)
class Stop:
    name: str
    service: int = 0  # time spent at the stop
    window: tuple[int, int] | None = None  # earliest and latest arrival; None: any time
    demand: int = 0
    drop_cost: int | None = MUST_SERVE  # what leaving it out costs, in distance units


@dataclass(frozen=True)
class Problem:
    """`distance[i][j]` and `duration[i][j]` between nodes (0 is the depot, then the stops)."""

    stops: Sequence[Stop]
    distance: Sequence[Sequence[int]]
    capacities: Sequence[int]  # one per vehicle
    duration: Sequence[Sequence[int]] | None = None  # None: the same as distance
    day: tuple[int, int] = (0, 10**9)  # the depot opens and closes: every route within it
    vehicle_cost: int = 0  # a fixed cost per vehicle used: fewer vehicles before less distance


@dataclass(frozen=True)
class Call:
    stop: int  # index into Problem.stops
    arrival: int  # when the vehicle gets there
    start: int  # when service starts (after waiting for the window to open)
    load: int  # carried after this stop


@dataclass(frozen=True)
class Route:
    vehicle: int
    calls: list[Call]
    distance: int
    back: int  # when the vehicle is back at the depot


@dataclass(frozen=True)
class Dropped:
    stop: int
    reason: str


@dataclass(frozen=True)
class Plan:
    routes: list[Route]  # the vehicles used, each with at least one call
    dropped: list[Dropped]
    distance: int
    first_feasible_s: float | None  # when the first plan serving every must-serve stop came
    solve_s: float
    solutions: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def served(self) -> int:
        return sum(len(r.calls) for r in self.routes)


def solve(problem: Problem, time_limit_s: float = 10.0) -> Plan:
    """The best plan found within `time_limit_s` seconds.

    OR-Tools' guided local search makes the first plan and improves it for a share of the time;
    PyVRP's iterated local search (`ml/polish.py`) then shortens it, or, when it leaves a
    must-serve stop out, looks for a plan serving them all. A plain tour (one vehicle, no
    windows or loads) keeps guided local search all the way: it is within 1% there."""
    _check(problem)
    started = time.perf_counter()
    first: list[float] = []
    found = [0]
    model = _Model(problem)

    def on_solution() -> None:
        found[0] += 1
        if not first and model.routing.CostVar().Value() < model.must:
            first.append(time.perf_counter() - started)

    model.routing.AddAtSolutionCallback(on_solution)
    polishing = not _plain_tour(problem)
    if polishing:  # OR-Tools gives way to the polish at its share, once it has a plan
        search_ends = started + time_limit_s * SEARCH_SHARE
        model.routing.AddSearchMonitor(
            model.routing.solver().CustomLimit(
                lambda: found[0] > 0 and time.perf_counter() > search_ends
            )
        )
    solution = model.routing.SolveWithParameters(_parameters(problem, time_limit_s))
    if solution is None:  # the limit came before any plan: every stop is optional, so rare
        raise RoutingError("the solver returned no plan in time: allow more time or fewer stops")
    planned = _routes(model, solution)
    if polishing:
        served = {node for route in planned for node in route}
        hopeless = {
            i + 1
            for i in range(len(problem.stops))
            if i + 1 not in served and _why_unservable(problem, i)
        }
        try:
            shorter = polish(problem, planned, started + time_limit_s, hopeless, model.must)
        except (ValueError, RuntimeError) as exc:  # PyVRP refused the data: OR-Tools' plan stands
            log.warning("route polish skipped: %s", exc)
            shorter = None
        if shorter is not None:
            planned = shorter.routes
            if not first and shorter.served_all_at is not None:
                first.append(shorter.served_all_at - started)
    routes, dropped, total = _schedule(problem, planned)
    return Plan(
        routes=routes,
        dropped=dropped,
        distance=total,
        first_feasible_s=first[0] if first else None,
        solve_s=time.perf_counter() - started,
        solutions=found[0],
    )


class _Model:
    """The OR-Tools routing model of a problem: arcs cost distance, a time dimension with the
    windows, a load dimension with the capacities, and a disjunction per stop."""

    def __init__(self, problem: Problem) -> None:
        stops, n = problem.stops, len(problem.stops) + 1
        vehicles = len(problem.capacities)
        self.manager = manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
        self.routing = routing = pywrapcp.RoutingModel(manager)

        distance_cb = routing.RegisterTransitMatrix([list(row) for row in problem.distance])
        routing.SetArcCostEvaluatorOfAllVehicles(distance_cb)
        if problem.vehicle_cost:
            routing.SetFixedCostOfAllVehicles(problem.vehicle_cost)

        time_cb = routing.RegisterTransitMatrix(_travel(problem))
        open_, close = problem.day
        routing.AddDimension(time_cb, close - open_, close, False, "time")
        self.clock = clock = routing.GetDimensionOrDie("time")
        for v in range(vehicles):
            clock.CumulVar(routing.Start(v)).SetRange(open_, close)
            clock.CumulVar(routing.End(v)).SetRange(open_, close)
            routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(v)))
        for number, stop in enumerate(stops, 1):
            earliest, latest = stop.window or (open_, close)
            index = manager.NodeToIndex(number)
            if max(earliest, open_) > min(latest, close):  # its window is outside the day
                routing.ActiveVar(index).SetValue(0)
            else:
                clock.CumulVar(index).SetRange(max(earliest, open_), min(latest, close))

        demands = [0] + [s.demand for s in stops]
        if any(demands):
            demand_cb = routing.RegisterUnaryTransitVector(demands)
            routing.AddDimensionWithVehicleCapacity(
                demand_cb, 0, list(problem.capacities), True, "load"
            )

        # Every stop may be left out, at its drop cost or, when it must be served, at a cost
        # above any plan's distance: the search then always returns a plan and serves all it can.
        self.must = _must_serve_cost(problem)
        for number, stop in enumerate(stops, 1):
            cost = self.must if stop.drop_cost is MUST_SERVE else max(0, stop.drop_cost)
            routing.AddDisjunction([manager.NodeToIndex(number)], cost)


def _routes(model: _Model, solution: pywrapcp.Assignment) -> list[list[int]]:
    """Each vehicle's stops (node numbers) in order, an empty list for an unused vehicle."""
    routes = []
    for v in range(model.routing.vehicles()):
        index, route = solution.Value(model.routing.NextVar(model.routing.Start(v))), []
        while not model.routing.IsEnd(index):
            route.append(model.manager.IndexToNode(index))
            index = solution.Value(model.routing.NextVar(index))
        routes.append(route)
    return routes


def _travel(problem: Problem) -> list[list[int]]:
    """From node i to node j: the service at i, then the drive."""
    n = len(problem.stops) + 1
    duration = problem.duration or problem.distance
    service = [0] + [s.service for s in problem.stops]
    return [[service[i] + duration[i][j] for j in range(n)] for i in range(n)]


def _plain_tour(problem: Problem) -> bool:
    return (
        len(problem.capacities) == 1
        and problem.day == Problem.day
        and all(s.window is None and not s.demand for s in problem.stops)
    )


def _parameters(problem: Problem, time_limit_s: float) -> object:
    """Christofides for a plain tour (a third of insertion's gap on TSPLIB, `bench routing`);
    otherwise a time-window aware parallel insertion, which needs no feasible tour to start."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    strategy = routing_enums_pb2.FirstSolutionStrategy
    params.first_solution_strategy = (
        strategy.CHRISTOFIDES if _plain_tour(problem) else strategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    return params


def _must_serve_cost(problem: Problem) -> int:
    """A penalty larger than any plan's distance, vehicle costs and optional stops' drop costs
    together: leaving out one must-serve stop is worse than anything else a plan can do."""
    longest = max((max(row) for row in problem.distance), default=0)
    stops = len(problem.stops) + 1
    optional = sum(s.drop_cost for s in problem.stops if s.drop_cost is not MUST_SERVE)
    vehicles = problem.vehicle_cost * len(problem.capacities)
    return (longest + 1) * stops * 2 + vehicles + max(0, optional) + 1


def _schedule(problem: Problem, planned: list[list[int]]) -> tuple[list[Route], list[Dropped], int]:
    """The routes with their times: each vehicle leaves when the day opens, and waits at a
    stop whose window has not opened yet."""
    duration = problem.duration or problem.distance
    open_, close = problem.day
    routes: list[Route] = []
    for vehicle, nodes in enumerate(planned):
        if not nodes:
            continue
        calls: list[Call] = []
        clock, load, distance, previous = open_, 0, 0, 0
        for node in nodes:
            stop = problem.stops[node - 1]
            arrival = clock + duration[previous][node]
            start = max(arrival, (stop.window or (open_, close))[0])
            load += stop.demand
            calls.append(Call(node - 1, arrival, start, load))
            distance += problem.distance[previous][node]
            clock, previous = start + stop.service, node
        distance += problem.distance[previous][0]
        routes.append(Route(vehicle, calls, distance, clock + duration[previous][0]))
    served = {call.stop for route in routes for call in route.calls}
    dropped = [
        Dropped(i, _why_dropped(problem, i)) for i in range(len(problem.stops)) if i not in served
    ]
    return routes, dropped, sum(route.distance for route in routes)


def _why_dropped(problem: Problem, i: int) -> str:
    reason = _why_unservable(problem, i)
    if reason is not None:
        return reason
    if problem.stops[i].drop_cost is not MUST_SERVE:
        return "lowest priority: no time or room left for it"
    return "no vehicle had the time or room left for it"


def _why_unservable(problem: Problem, i: int) -> str | None:
    """Why no vehicle could serve stop i even on its own; None when one could."""
    stop = problem.stops[i]
    duration = problem.duration or problem.distance
    open_, close = problem.day
    earliest, latest = stop.window or (open_, close)
    there = open_ + duration[0][i + 1]
    if stop.demand > max(problem.capacities):
        return f"its demand {stop.demand} is more than any vehicle carries"
    if max(there, earliest) > latest:
        return "cannot be reached within its time window"
    if max(there, earliest) + stop.service + duration[i + 1][0] > close:
        return "cannot be served and the vehicle back before the day ends"
    return None


def _check(problem: Problem) -> None:
    n = len(problem.stops) + 1
    if len(problem.stops) > MAX_STOPS:
        raise RoutingError(
            f"{len(problem.stops)} stops: a plan takes at most {MAX_STOPS}; split it by area or day"
        )
    if not problem.capacities:
        raise RoutingError("no vehicles")
    if any(capacity < 0 for capacity in problem.capacities):
        raise RoutingError("a vehicle's capacity cannot be negative")
    for matrix, name in ((problem.distance, "distance"), (problem.duration, "duration")):
        if matrix is not None and (len(matrix) != n or any(len(row) != n for row in matrix)):
            raise RoutingError(f"the {name} matrix must be {n} x {n} (the depot and each stop)")
    demand = sum(s.demand for s in problem.stops)
    if demand and not any(problem.capacities):
        raise RoutingError("every vehicle has capacity 0: nothing can be delivered")
    open_, close = problem.day
    if open_ > close or open_ < 0:
        raise RoutingError(f"the day opens at {open_} and closes at {close}: not a day")
    for stop in problem.stops:
        if stop.window is not None and stop.window[0] > stop.window[1]:
            raise RoutingError(
                f"{stop.name}: its time window opens at {stop.window[0]} after it closes "
                f"at {stop.window[1]}"
            )
        if stop.demand < 0 or stop.service < 0:
            raise RoutingError(f"{stop.name}: demand and service time cannot be negative")


def euclidean(points: Sequence[tuple[float, float]], scale: float = 1.0) -> list[list[int]]:
    """Rounded straight-line distances times `scale` (benchmark instances in the plane)."""
    return [[round(math.dist(a, b) * scale) for b in points] for a in points]
