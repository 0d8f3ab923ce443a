"""Route optimisation with OR-Tools: a rep's beat and a distributor's delivery routes.

One model serves both. Node 0 is the depot (a rep's home, the warehouse); every other node is a
stop with a service time, a time window, a demand and either "must be served" or the cost of
leaving it out. Vehicles have a capacity and start and end at the depot. A plan always comes
back: a stop that does not fit is dropped explicitly, the cheapest to leave out first, and
listed with the reason, never skipped silently.

The search is OR-Tools' routing library: a time-window aware insertion builds the first plan,
guided local search improves it until the time limit. A fleet too tight for it to serve every
must-serve stop early on gets an ejection pool (`ml/ejection_pool.py`) to make room first.
Distances and times are integers in the caller's units (metres and seconds for a beat,
Solomon's units x 1000 for the benchmark).
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from ml.ejection_pool import Fleet, fill

MAX_STOPS = 500  # beyond this a plan takes minutes, not seconds: split the request
MUST_SERVE = None
OPENING_SHARE = 0.15  # of the time limit: guided local search alone, before the pool
FILL_UNTIL = 0.8  # of the time limit: the pool stops here, leaving the rest to shorten routes


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

    When every stop must be served and the first stretch of search leaves some out (a tight
    fleet), an ejection pool (`ml/ejection_pool.py`) makes room for them and the search goes on
    from its plan; otherwise the search simply goes on."""
    _check(problem)
    started = time.perf_counter()
    first: list[float] = []
    found = [0]
    served_all = [False]  # by the latest plan found

    def watched(model: _Model) -> _Model:
        def on_solution() -> None:
            found[0] += 1
            served_all[0] = model.routing.CostVar().Value() < model.must
            if served_all[0] and not first:
                first.append(time.perf_counter() - started)

        model.routing.AddAtSolutionCallback(on_solution)
        return model

    model = watched(_Model(problem))
    all_must = all(s.drop_cost is MUST_SERVE for s in problem.stops)
    staged = all_must and not _plain_tour(problem)
    if staged:  # the search gives way to the pool only if it has not served everyone by then
        opening_ends = started + time_limit_s * OPENING_SHARE
        model.routing.AddSearchMonitor(
            model.routing.solver().CustomLimit(
                lambda: not served_all[0] and time.perf_counter() > opening_ends
            )
        )
    solution = model.routing.SolveWithParameters(_parameters(problem, time_limit_s))
    if staged and not served_all[0]:  # stopped at the opening with stops left out
        planned: list[list[int]] | None = None
        left_out: list[int] = []
        if solution is not None:
            planned = _routes(model, solution)
            on_routes = {n for route in planned for n in route}
            left_out = [n for n in range(1, len(problem.stops) + 1) if n not in on_routes]
        if planned is not None and left_out:
            filled = fill(_fleet(problem), planned, left_out, started + time_limit_s * FILL_UNTIL)
            if filled is not None:
                planned = filled
                first[:] = first or [time.perf_counter() - started]
        # Reading routes back into the first model fails at random once its search limit is
        # spent, so the search goes on in a fresh one, from these routes (or from scratch when
        # the opening found no plan at all).
        model = watched(_Model(problem))
        params = _parameters(problem, max(0.05, started + time_limit_s - time.perf_counter()))
        model.routing.CloseModelWithParameters(params)
        start = None
        if planned is not None:
            indices = [[model.manager.NodeToIndex(n) for n in route] for route in planned]
            start = model.routing.ReadAssignmentFromRoutes(indices, True)
        solution = (
            model.routing.SolveFromAssignmentWithParameters(start, params)
            if start is not None
            else model.routing.SolveWithParameters(params)
        ) or start
    if solution is None:  # cannot happen with every stop optional; kept for a clear error
        raise RoutingError("the solver returned no plan")
    routes, dropped, total = _read(problem, model.manager, model.routing, solution, model.clock)
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
            clock.CumulVar(manager.NodeToIndex(number)).SetRange(max(earliest, open_), latest)

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


def _fleet(problem: Problem) -> Fleet:
    """The problem as the ejection pool reads it: the same travel times, windows and loads."""
    open_, close = problem.day
    windows = [(open_, close)] + [s.window or (open_, close) for s in problem.stops]
    return Fleet(
        travel=_travel(problem),
        distance=[list(row) for row in problem.distance],
        earliest=[max(w[0], open_) for w in windows],
        latest=[min(w[1], close) for w in windows],
        demand=[0] + [s.demand for s in problem.stops],
        capacity=list(problem.capacities),
    )


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


def _read(
    problem: Problem,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    solution: pywrapcp.Assignment,
    clock: pywrapcp.RoutingDimension,
) -> tuple[list[Route], list[Dropped], int]:
    routes: list[Route] = []
    served: set[int] = set()
    total = 0
    for v in range(len(problem.capacities)):
        index = routing.Start(v)
        calls: list[Call] = []
        load, distance = 0, 0
        previous = manager.IndexToNode(index)
        while not routing.IsEnd(index):
            index = solution.Value(routing.NextVar(index))
            node = manager.IndexToNode(index)
            distance += problem.distance[previous][node]
            if not routing.IsEnd(index):
                stop = problem.stops[node - 1]
                load += stop.demand
                start = solution.Min(clock.CumulVar(index))
                calls.append(Call(node - 1, _arrival(problem, calls, node, start), start, load))
                served.add(node - 1)
            previous = node
        if calls:
            back = solution.Min(clock.CumulVar(routing.End(v)))
            routes.append(Route(v, calls, distance, back))
            total += distance
    dropped = [
        Dropped(i, _why_dropped(problem, i)) for i in range(len(problem.stops)) if i not in served
    ]
    return routes, dropped, total


def _arrival(problem: Problem, calls: list[Call], node: int, start: int) -> int:
    """When the vehicle reaches the stop: the previous departure plus the drive (<= start)."""
    duration = problem.duration or problem.distance
    if not calls:
        return start
    previous = calls[-1]
    before = previous.stop + 1
    return min(
        start, previous.start + problem.stops[previous.stop].service + duration[before][node]
    )


def _why_dropped(problem: Problem, i: int) -> str:
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
    if stop.drop_cost is not MUST_SERVE:
        return "lowest priority: no time or room left for it"
    return "no vehicle had the time or room left for it"


def _check(problem: Problem) -> None:
    n = len(problem.stops) + 1
    if len(problem.stops) > MAX_STOPS:
        raise RoutingError(
            f"{len(problem.stops)} stops: a plan takes at most {MAX_STOPS}; split it by area or day"
        )
    if not problem.capacities:
        raise RoutingError("no vehicles")
    for matrix, name in ((problem.distance, "distance"), (problem.duration, "duration")):
        if matrix is not None and (len(matrix) != n or any(len(row) != n for row in matrix)):
            raise RoutingError(f"the {name} matrix must be {n} x {n} (the depot and each stop)")
    demand = sum(s.demand for s in problem.stops)
    if demand and not any(problem.capacities):
        raise RoutingError("every vehicle has capacity 0: nothing can be delivered")
    open_, close = problem.day
    if open_ > close:
        raise RoutingError(f"the day opens at {open_} after it closes at {close}")
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
