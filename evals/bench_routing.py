"""The route optimisation benchmark: `opensales bench routing [--all] [--seconds 10]`.

Public instances with known optima, read from `../shared/data/vrp` beside the project:
- Solomon's VRPTW (100 customers, time windows, capacity) with the fleet fixed at the best-known
  vehicle count: a plan is "served" when every customer is on a route. Twelve instances by
  default (two of each class, plus the hardest of R1/RC1/R2), all 56 with `--all`.
- TSPLIB's symmetric instances with at most 200 nodes, one vehicle, 5 s each (`--tsp-seconds`).

Prints, per instance, the vehicles used against the best known, the distance and its gap to the
best known, the time to the first plan serving everyone and the total time; then the means.
"""

import argparse
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from evals.tsplib import read_tsp
from ml.routing import Problem, Stop, euclidean, solve

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vrp"
TWELVE = ["C101", "C201", "R101", "R201", "RC101", "RC201", "C105", "R105", "RC105", "R110",
          "R211", "RC208"]  # fmt: skip
SCALE = 1000  # Solomon distances to integers: three decimals, as the best-known tours count them
TSP_MAX_NODES = 200


@dataclass(frozen=True)
class Result:
    name: str
    vehicles: int
    best_vehicles: int
    distance: float
    best: float
    first_s: float | None
    total_s: float
    dropped: int  # customers on no route

    @property
    def served(self) -> bool:
        return self.dropped == 0

    @property
    def gap(self) -> float:
        return 100 * (self.distance - self.best) / self.best


def solomon(path: Path, best_vehicles: int, best: float, seconds: float) -> Result:
    import vrplib

    instance = vrplib.read_instance(str(path), compute_edge_weights=False)
    points = [tuple(p) for p in instance["node_coord"]]
    service = instance["service_time"]
    windows = instance["time_window"]
    stops = [
        Stop(
            name=str(i),
            service=round(_at(service, i) * SCALE),
            window=(round(windows[i][0] * SCALE), round(windows[i][1] * SCALE)),
            demand=int(instance["demand"][i]),
        )
        for i in range(1, len(points))
    ]
    problem = Problem(
        stops=stops,
        distance=euclidean(points, SCALE),
        capacities=[int(instance["capacity"])] * best_vehicles,
        day=(round(windows[0][0] * SCALE), round(windows[0][1] * SCALE)),
    )
    plan = solve(problem, seconds)
    exact = sum(_exact_length(points, [0, *[c.stop + 1 for c in r.calls], 0]) for r in plan.routes)
    return Result(
        path.name.split(".")[0],
        len(plan.routes),
        best_vehicles,
        exact,
        best,
        plan.first_feasible_s,
        plan.solve_s,
        len(plan.dropped),
    )


def tsp(path: Path, best: int, seconds: float) -> Result:
    matrix = read_tsp(path)
    problem = Problem(
        stops=[Stop(str(n)) for n in range(1, len(matrix))], distance=matrix, capacities=[1]
    )
    plan = solve(problem, seconds)
    calls = plan.routes[0].calls if plan.routes else []  # none: no tour within the time limit
    order = [0, *[c.stop + 1 for c in calls], 0]
    length = sum(matrix[a][b] for a, b in zip(order, order[1:], strict=False))
    return Result(
        path.stem, 1, 1, length, best, plan.first_feasible_s, plan.solve_s, len(plan.dropped)
    )


def _at(values, i: int) -> float:
    return float(values[i]) if hasattr(values, "__len__") else float(values)


def _exact_length(points, order: list[int]) -> float:
    return sum(math.dist(points[a], points[b]) for a, b in zip(order, order[1:], strict=False))


def _print(result: Result) -> None:
    first = f"{result.first_s:6.2f}s" if result.first_s is not None else "   none"
    gap = f"{result.gap:>+7.2f}%" if result.served else f"{result.dropped:>2} left"
    print(
        f"{result.name:<8} {result.vehicles:>3}/{result.best_vehicles:<3} "
        f"{result.distance:>10.2f} {result.best:>10.2f} {gap:>8} {first} {result.total_s:6.2f}s",
        flush=True,
    )


def _summary(label: str, results: list[Result]) -> None:
    if not results:
        return
    served = [r for r in results if r.served and r.vehicles <= r.best_vehicles]
    gaps = [r.gap for r in served] or [math.nan]
    firsts = [r.first_s for r in served if r.first_s is not None] or [math.nan]
    print(
        f"{label}: {len(results)} instances, {len(served)} served at the best-known vehicle "
        f"count; over those: mean gap {statistics.mean(gaps):+.2f}%, max gap {max(gaps):+.2f}%, "
        f"mean first feasible {statistics.mean(firsts):.2f}s; "
        f"mean total {statistics.mean(r.total_s for r in results):.2f}s",
        flush=True,
    )


def main(args: argparse.Namespace) -> int:
    if not DATA.is_dir():
        print(f"no benchmark data at {DATA} (the shared data folder beside the project)")
        return 2
    header = f"{'instance':<8} {'veh':>7} {'distance':>10} {'best':>10} {'gap':>8} {'first':>7} {'total':>7}"  # noqa: E501
    solomon_results: list[Result] = []
    print(f"Solomon VRPTW, fleet at the best-known count, {args.seconds:g} s each", flush=True)
    print(header)
    best_tours = {
        m.group(1): (int(m.group(2)), int(m.group(3)) / SCALE)
        for f in (DATA / "solomon100" / "best-tours").iterdir()
        if (m := re.match(r"(\w+)\.100\.(\d+)\.(\d+)\.tour", f.name))
    }
    names = sorted(best_tours) if args.all else TWELVE
    for name in names:
        (path,) = (DATA / "solomon100" / "instances").glob(f"{name}.100.*.vrptw")
        vehicles, best = best_tours[name]
        result = solomon(path, vehicles, best, args.seconds)
        _print(result)
        solomon_results.append(result)
    _summary("Solomon", solomon_results)

    print(f"\nTSPLIB, at most {TSP_MAX_NODES} nodes, {args.tsp_seconds:g} s each", flush=True)
    print(header)
    tsp_results: list[Result] = []
    optima = (DATA / "tsplib" / "optimal.tsv").read_text().splitlines()[1:]
    for line in optima:
        name, nodes, _kind, optimum = line.split("\t")
        if int(nodes) > TSP_MAX_NODES:
            continue
        result = tsp(DATA / "tsplib" / f"{name}.tsp", int(optimum), args.tsp_seconds)
        _print(result)
        tsp_results.append(result)
    _summary("TSPLIB", tsp_results)
    failed = [r.name for r in solomon_results + tsp_results if not r.served]
    if failed:
        print(f"not every customer served: {', '.join(failed)}")
    return 0
