"""Route optimisation (ml/routing.py): plans that keep every rule, stops left out only
explicitly and with their reason, bad requests refused by name; and the benchmark's readers
against public instances with known optima."""

import itertools
import math
import time

import pytest

from evals.bench_routing import DATA, SCALE, solomon
from evals.tsplib import read_tsp
from ml.polish import polish
from ml.routing import MAX_STOPS, Problem, RoutingError, Stop, euclidean, solve

POINTS = [(0, 0), (4, 0), (8, 1), (9, 6), (5, 9), (1, 7), (-3, 3)]  # the depot first


def tour_length(matrix, order) -> int:
    return sum(matrix[a][b] for a, b in zip(order, order[1:], strict=False))


def test_one_vehicle_finds_the_shortest_tour():
    matrix = euclidean(POINTS, 100)
    stops = [Stop(f"S{i}") for i in range(1, len(POINTS))]
    plan = solve(Problem(stops=stops, distance=matrix, capacities=[1]), time_limit_s=1)

    best = min(tour_length(matrix, [0, *order, 0]) for order in itertools.permutations(range(1, 7)))
    (route,) = plan.routes
    order = [0, *[c.stop + 1 for c in route.calls], 0]
    assert sorted(order[1:-1]) == list(range(1, 7))
    assert plan.distance == tour_length(matrix, order) == best
    assert plan.dropped == [] and plan.first_feasible_s is not None


def test_time_windows_and_capacity_are_kept_and_an_impossible_stop_is_named():
    matrix = euclidean(POINTS, 1)
    stops = [
        Stop("S1", service=2, window=(20, 30), demand=3),
        Stop("S2", service=2, demand=3),
        Stop("S3", service=2, window=(0, 12), demand=3),
        Stop("S4", service=2, demand=3),
        Stop("S5", service=2, window=(0, 4), demand=3),  # 7 away: cannot be reached by 4
        Stop("S6", service=2, demand=3),
    ]
    plan = solve(
        Problem(stops=stops, distance=matrix, capacities=[9, 9], day=(0, 200)), time_limit_s=1
    )

    assert [(d.stop, d.reason) for d in plan.dropped] == [
        (4, "cannot be reached within its time window")
    ]
    for route in plan.routes:
        assert route.calls[-1].load <= 9
        previous, free_at = 0, 0
        for call in route.calls:
            stop = stops[call.stop]
            assert call.start >= free_at + matrix[previous][call.stop + 1]
            if stop.window:
                assert stop.window[0] <= call.start <= stop.window[1]
            previous, free_at = call.stop + 1, call.start + stop.service
        assert route.back >= free_at + matrix[previous][0]


def test_a_short_day_drops_the_cheapest_stop_to_leave_out_and_says_so():
    matrix = euclidean(POINTS, 1)
    costs = [50, 40, 30, 5, 60, 45]  # S4 (far out at 9,6) matters least
    stops = [Stop(f"S{i}", service=5, drop_cost=c) for i, c in enumerate(costs, 1)]
    full = solve(Problem(stops=stops, distance=matrix, capacities=[1]), time_limit_s=1)
    short_day = (0, full.routes[0].back - 5)
    plan = solve(
        Problem(stops=stops, distance=matrix, capacities=[1], day=short_day), time_limit_s=1
    )

    assert full.dropped == []
    assert [(d.stop, d.reason) for d in plan.dropped] == [
        (3, "lowest priority: no time or room left for it")
    ]
    assert plan.served == 5 and plan.routes[0].back <= short_day[1]


def test_a_stop_larger_than_any_vehicle_is_left_out_with_the_reason():
    matrix = euclidean(POINTS[:3], 1)
    stops = [Stop("S1", demand=4), Stop("S2", demand=40)]
    plan = solve(Problem(stops=stops, distance=matrix, capacities=[10, 10]), time_limit_s=0.5)
    assert [c.stop for r in plan.routes for c in r.calls] == [0]
    assert [(d.stop, d.reason) for d in plan.dropped] == [
        (1, "its demand 40 is more than any vehicle carries")
    ]


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (
            Problem([Stop("Shop A", window=(50, 10))], [[0, 1], [1, 0]], [5]),
            "Shop A: its time window opens at 50 after it closes at 10",
        ),
        (
            Problem([Stop("S1", demand=2)], [[0, 1], [1, 0]], [0, 0]),
            "every vehicle has capacity 0",
        ),
        (Problem([Stop("S1")], [[0, 1]], [5]), "the distance matrix must be 2 x 2"),
        (
            Problem([Stop(str(i)) for i in range(MAX_STOPS + 1)], [], [5]),
            f"a plan takes at most {MAX_STOPS}",
        ),
        (Problem([Stop("S1")], [[0, 1], [1, 0]], []), "no vehicles"),
    ],
)
def test_requests_that_cannot_be_planned_are_refused_by_name(problem, message):
    with pytest.raises(RoutingError, match=message):
        solve(problem, time_limit_s=0.1)


needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no benchmark data at {DATA}")


@needs_data
@pytest.mark.parametrize(("name", "optimum"), [("burma14", 3323), ("gr17", 2085), ("bays29", 2020)])
def test_tsplib_instances_read_to_their_known_optimum(name, optimum):
    """GEO, LOWER_DIAG_ROW and FULL_MATRIX files, each solved to its proven optimum."""
    matrix = read_tsp(DATA / "tsplib" / f"{name}.tsp")
    stops = [Stop(str(i)) for i in range(1, len(matrix))]
    plan = solve(Problem(stops=stops, distance=matrix, capacities=[1]), time_limit_s=1)
    assert plan.distance == optimum


@needs_data
def test_a_solomon_instance_is_served_at_the_best_known_fleet_near_the_best_distance():
    (path,) = (DATA / "solomon100" / "instances").glob("C101.100.*.vrptw")
    result = solomon(path, 10, 828937 / SCALE, seconds=2)
    assert result.served and result.vehicles == 10
    assert math.isclose(result.distance, 828.937, rel_tol=0.01)


def test_euclidean_distances_are_scaled_and_rounded():
    assert euclidean([(0, 0), (3, 4), (1, 1)], 10) == [[0, 50, 14], [50, 0, 36], [14, 36, 0]]


def test_a_must_serve_stop_is_kept_before_any_number_of_optional_ones():
    """One vehicle, a day with room for two of three stops: the must-serve one stays even when
    the two optional ones together cost more to leave out than the whole route."""
    matrix = euclidean(POINTS[:4], 1)
    stops = [Stop("keep", service=10), Stop("A", service=10, drop_cost=10_000),
             Stop("B", service=10, drop_cost=10_000)]  # fmt: skip
    plan = solve(
        Problem(stops=stops, distance=matrix, capacities=[1], day=(0, 45)), time_limit_s=0.5
    )
    assert 0 in {c.stop for r in plan.routes for c in r.calls}
    assert len(plan.dropped) == 1 and plan.first_feasible_s is not None


@needs_data
def test_a_tight_fleet_is_served_at_the_best_known_count():
    """R105 at 14 vehicles: OR-Tools' guided local search alone leaves a stop out; the polish
    serves every stop within 2% of the best-known distance (`bench routing`)."""
    (path,) = (DATA / "solomon100" / "instances").glob("R105.100.*.vrptw")
    result = solomon(path, 14, 1377110 / SCALE, seconds=8)
    assert result.served and result.vehicles == 14 and result.gap < 2


def _problem_on_a_line(capacities, windows=None) -> Problem:
    """Six stops at -3..-1 and 1..3 on a line, the depot at 0; each stop one unit of load."""
    xs = [0, -3, 3, -2, 2, -1, 1]
    return Problem(
        stops=[
            Stop(f"S{n}", service=1, demand=1, window=(windows or {}).get(n)) for n in range(1, 7)
        ],  # fmt: skip
        distance=[[abs(a - b) for b in xs] for a in xs],
        capacities=capacities,
        day=(0, 100),
    )


def test_polish_untangles_a_plan_and_keeps_its_stops_on_vehicles_that_carry_them():
    """The tangled plan crosses the depot on both routes (24). The best: the small vehicle
    takes two stops of one side (6), the large one the third and the other side (8)."""
    problem = _problem_on_a_line([2, 4])
    tangled = [[1, 2], [3, 4, 5, 6]]
    polished = polish(problem, tangled, deadline=time.perf_counter() + 1)
    assert polished is not None
    routes = polished.routes
    assert sorted(n for route in routes for n in route) == [1, 2, 3, 4, 5, 6]
    assert all(len(route) <= cap for route, cap in zip(routes, problem.capacities, strict=True))
    assert sum(tour_length(problem.distance, [0, *r, 0]) for r in routes if r) == 14


def test_polish_serves_a_stop_the_plan_left_out_and_returns_none_when_it_cannot_better_it():
    problem = _problem_on_a_line([3, 3])
    started = time.perf_counter()
    polished = polish(problem, [[5, 3, 1], [6, 4]], deadline=started + 1)
    assert polished is not None and started < polished.served_all_at < started + 1
    assert sorted(n for route in polished.routes for n in route) == [1, 2, 3, 4, 5, 6]
    assert sum(tour_length(problem.distance, [0, *r, 0]) for r in polished.routes if r) == 12
    best = [[5, 3, 1], [6, 4, 2]]
    assert polish(problem, best, deadline=time.perf_counter() + 0.5) is None


def test_polish_keeps_the_time_windows():
    """S2 (at 3) must be served by 3 and S1 (at -3) by 3: two vehicles, one each way."""
    problem = _problem_on_a_line([6, 6], windows={1: (0, 3), 2: (0, 3)})
    plan = solve(problem, time_limit_s=1)
    assert plan.dropped == []
    for route in plan.routes:
        for call in route.calls:
            window = problem.stops[call.stop].window
            assert window is None or window[0] <= call.start <= window[1]
    assert plan.distance == 12


def test_a_window_outside_the_day_is_dropped_with_its_reason_and_the_rest_planned():
    """S1 wants a visit before the day opens: OR-Tools' model would have no plan at all if
    its window were taken as given."""
    problem = _problem_on_a_line([6], windows={1: (0, 5)})
    late_day = Problem(stops=problem.stops, distance=problem.distance,
                       capacities=problem.capacities, day=(10, 100))  # fmt: skip
    plan = solve(late_day, time_limit_s=1)
    assert [(d.stop, d.reason) for d in plan.dropped] == [
        (0, "cannot be reached within its time window")
    ]
    assert plan.served == 5


def test_a_negative_capacity_is_refused_by_name():
    problem = _problem_on_a_line([6, -1])
    with pytest.raises(RoutingError, match="capacity cannot be negative"):
        solve(problem, time_limit_s=1)


def test_a_fleet_too_small_for_everyone_still_gets_shorter_routes():
    """Room for five of six stops: the tangled plan (22) is shortened to 12 with five served,
    and none of those five is given up."""
    problem = _problem_on_a_line([2, 3])
    polished = polish(problem, [[1, 2], [3, 4, 5]], deadline=time.perf_counter() + 1,
                      must_cost=10_000)  # fmt: skip
    assert polished is not None and polished.served_all_at is None
    assert sorted(n for route in polished.routes for n in route) == [1, 2, 3, 4, 5]
    assert sum(tour_length(problem.distance, [0, *r, 0]) for r in polished.routes if r) == 12
