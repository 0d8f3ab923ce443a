"""Fit the stops a plan left out into the vehicles it has: an ejection pool (Nagata and
Braysy, 2009), the technique behind the best vehicle counts on Solomon's instances.

Guided local search moves stops between routes to shorten them; it rarely finds room for the
last few stops of a tight fleet, because every single move that makes room costs distance. The
pool does what it cannot: take a left-out stop, put it where it fits, or else where the stops it
must push out are the ones that were pushed out least often so far, and carry on with those.
Stops that keep failing get heavier, so over time the hard ones are placed first and the easy
ones move around them. Random feasible moves after each ejection stop it from cycling.

Feasibility is checked in constant time per position from each route's earliest and latest
service starts (the "forward/backward slack" of insertion heuristics); only the changed
stretch of a route is walked.
"""

import itertools
import random
import time
from dataclasses import dataclass, field

NEAR = 4  # stops either side of the insertion point that may be pushed out
MAX_EJECT = 3
MOVES = 200  # random feasible moves after each ejection
NEIGHBOURS = 10  # a move pairs a stop with one of its nearest
ROUND_S = 2.5  # seconds per round of the pool, each from the same routes
LONGER_MOVES = (0.0, 0.3)  # per round: the share of lengthening random moves taken


@dataclass
class Fleet:
    """The times and loads the checks need: node 0 is the depot, `travel` includes service."""

    travel: list[list[int]]
    distance: list[list[int]]
    earliest: list[int]
    latest: list[int]
    demand: list[int]
    capacity: list[int]  # per route
    neighbours: list[list[int]] = field(default_factory=list)  # nearest stops of each stop

    def __post_init__(self) -> None:
        stops = range(1, len(self.demand))
        self.neighbours = [[]] + [
            sorted((o for o in stops if o != s), key=lambda o: self.distance[s][o])[:NEIGHBOURS]
            for s in stops
        ]


class Routes:
    """Routes as node lists with the depot at both ends, and their earliest and latest starts."""

    def __init__(self, fleet: Fleet, routes: list[list[int]]) -> None:
        self.fleet = fleet
        self.nodes = [[0, *route, 0] for route in routes]
        self.early: list[list[int]] = [[] for _ in routes]
        self.late: list[list[int]] = [[] for _ in routes]
        self.load = [0] * len(routes)
        for r in range(len(routes)):
            self.update(r)

    def update(self, r: int) -> None:
        f, nodes = self.fleet, self.nodes[r]
        early = [f.earliest[0]]
        for previous, node in zip(nodes, nodes[1:], strict=False):
            early.append(max(early[-1] + f.travel[previous][node], f.earliest[node]))
        late = [f.latest[0]] * len(nodes)
        for i in range(len(nodes) - 2, -1, -1):
            late[i] = min(f.latest[nodes[i]], late[i + 1] - f.travel[nodes[i]][nodes[i + 1]])
        self.early[r], self.late[r] = early, late
        self.load[r] = sum(f.demand[n] for n in nodes)

    def fits(self, r: int, first: int, last: int, middle: list[int]) -> bool:
        """Whether route r stays on time with positions first..last replaced by `middle`."""
        f, nodes = self.fleet, self.nodes[r]
        t, previous = self.early[r][first - 1], nodes[first - 1]
        for node in middle:
            t = max(t + f.travel[previous][node], f.earliest[node])
            if t > f.latest[node]:
                return False
            previous = node
        return t + f.travel[previous][nodes[last + 1]] <= self.late[r][last + 1]

    def positions(self) -> dict[int, tuple[int, int]]:
        """Each stop's route and position."""
        return {n: (r, i) for r, nodes in enumerate(self.nodes) for i, n in enumerate(nodes) if n}

    def plain(self) -> list[list[int]]:
        return [nodes[1:-1] for nodes in self.nodes]


def fill(
    fleet: Fleet, routes: list[list[int]], left_out: list[int], deadline: float
) -> list[list[int]] | None:
    """The routes with every left-out stop placed that a vehicle could serve on its own, or
    None if the deadline came first. (A stop no vehicle can serve even alone stays out.)

    The search runs in rounds of ROUND_S seconds from the same routes, each with its own random
    seed, alternately taking only the random moves that do not lengthen the routes and taking
    some that do: which of the two gets out of a tight corner differs from instance to instance
    (on Solomon's, R211 and RC101 want the first, R110 the second)."""
    servable = [stop for stop in left_out if _alone_fits(fleet, stop)]
    round_ = 0
    while time.perf_counter() < deadline:
        worse = LONGER_MOVES[round_ % len(LONGER_MOVES)]
        rng = random.Random(round_ // len(LONGER_MOVES))
        until = min(deadline, time.perf_counter() + ROUND_S)
        placed = _fill_round(fleet, routes, servable, until, rng, worse)
        if placed is not None:
            return placed
        round_ += 1
    return None


def _alone_fits(fleet: Fleet, stop: int) -> bool:
    there = max(fleet.earliest[0] + fleet.travel[0][stop], fleet.earliest[stop])
    return (
        there <= fleet.latest[stop]
        and there + fleet.travel[stop][0] <= fleet.latest[0]
        and fleet.demand[stop] <= max(fleet.capacity)
    )


def _fill_round(
    fleet: Fleet,
    routes: list[list[int]],
    left_out: list[int],
    deadline: float,
    rng: random.Random,
    worse: float,
) -> list[list[int]] | None:
    state = Routes(fleet, routes)
    pool = list(left_out)
    weight = [1] * len(fleet.demand)
    while pool:
        if time.perf_counter() > deadline:
            return None
        stop = pool.pop()
        if _insert_best(state, stop):
            continue
        weight[stop] += 1
        ejected = _insert_ejecting(state, stop, weight)
        if ejected is None:  # fits nowhere even alone in an emptied stretch: try it later
            pool.insert(0, stop)
        else:
            pool.extend(ejected)
        _perturb(state, rng, MOVES, worse)
    return state.plain()


def _insert_best(state: Routes, stop: int) -> bool:
    f, best = state.fleet, None
    for r, nodes in enumerate(state.nodes):
        if state.load[r] + f.demand[stop] > f.capacity[r]:
            continue
        for position in range(1, len(nodes)):
            if state.fits(r, position, position - 1, [stop]):
                cost = _added(state, r, position, position - 1, [stop])
                if best is None or cost < best[0]:
                    best = (cost, r, position)
    if best is None:
        return False
    _, r, position = best
    state.nodes[r].insert(position, stop)
    state.update(r)
    return True


def _insert_ejecting(state: Routes, stop: int, weight: list[int]) -> list[int] | None:
    """Insert `stop` pushing out at most MAX_EJECT stops near it: the least weight in total,
    then the least added distance."""
    f, best = state.fleet, None
    # Single ejections first: the best of them bounds the weight of the larger sets.
    for most, r in itertools.product((1, MAX_EJECT), range(len(state.nodes))):
        nodes = state.nodes[r]
        room = f.capacity[r] - state.load[r] - f.demand[stop]  # what must be pushed out: -room
        weights = [weight[n] for n in nodes]
        for position in range(1, len(nodes)):
            near = list(range(max(1, position - NEAR), min(len(nodes) - 1, position + NEAR)))
            if near and not state.fits(r, near[0], near[-1], [stop]):
                continue  # pushing out all of them leaves no room: fewer cannot either
            bound = best[0] if best is not None else 1 << 60
            for score, out in _ejections(near, weights, bound, most):
                if room < 0 and sum(f.demand[nodes[i]] for i in out) < -room:
                    continue
                first = min(position, *out) if out else position
                last = max(position - 1, *out) if out else position - 1
                middle = [nodes[i] for i in range(first, position) if i not in out]
                middle.append(stop)
                middle += [nodes[i] for i in range(position, last + 1) if i not in out]
                if state.fits(r, first, last, middle):
                    key = (score, _added(state, r, first, last, middle))
                    if best is None or key < best[:2]:
                        best = (*key, r, first, last, middle, out)
    if best is None:
        return None
    *_, r, first, last, middle, out = best
    nodes = state.nodes[r]
    ejected = [nodes[i] for i in out]
    nodes[first : last + 1] = middle
    state.update(r)
    return ejected


def _ejections(
    near: list[int], weights: list[int], bound: int, most: int
) -> list[tuple[int, tuple[int, ...]]]:
    """The sets of at most `most` positions of `near` weighing no more than `bound`, with
    their weights (a set over the bound is not extended: weights are positive)."""
    found: list[tuple[int, tuple[int, ...]]] = [(0, ())]
    frontier: list[tuple[int, tuple[int, ...], int]] = [(0, (), 0)]
    for _ in range(most):
        grown: list[tuple[int, tuple[int, ...], int]] = []
        for score, out, start in frontier:
            for k in range(start, len(near)):
                total = score + weights[near[k]]
                if total <= bound:
                    grown.append((total, (*out, near[k]), k + 1))
        found += [(score, out) for score, out, _ in grown]
        frontier = grown
    return found


def _added(state: Routes, r: int, first: int, last: int, middle: list[int]) -> int:
    d, nodes = state.fleet.distance, state.nodes[r]
    new = [nodes[first - 1], *middle, nodes[last + 1]]
    old = nodes[first - 1 : last + 2]
    return sum(d[x][y] for x, y in zip(new, new[1:], strict=False)) - sum(
        d[x][y] for x, y in zip(old, old[1:], strict=False)
    )


def _perturb(state: Routes, rng: random.Random, moves: int, worse: float) -> None:
    """Random feasible moves between a stop and one of its nearest neighbours on another route
    (relocate, swap, or exchange the routes' tails: 2-opt*): new room, same stops."""
    f, near = state.fleet, state.fleet.neighbours
    where = state.positions()
    for _ in range(moves):
        c = rng.randrange(1, len(f.demand))
        d = rng.choice(near[c])
        if c not in where or d not in where or where[c][0] == where[d][0]:
            continue  # one is in the pool, or both on one route
        (a, i), (b, j) = where[c], where[d]
        na, nb = state.nodes[a], state.nodes[b]
        kind = rng.randrange(3)
        dist = f.distance
        if kind == 0:  # c moves in after d
            if state.load[b] + f.demand[c] > f.capacity[b]:
                continue
            delta = (
                dist[d][c]
                + dist[c][nb[j + 1]]
                - dist[d][nb[j + 1]]
                - dist[na[i - 1]][c]
                - dist[c][na[i + 1]]
                + dist[na[i - 1]][na[i + 1]]
            )
            if delta > 0 and rng.random() >= worse:
                continue
            if not (state.fits(b, j + 1, j, [c]) and state.fits(a, i, i, [])):
                continue
            nb.insert(j + 1, c)
            del na[i]
        elif kind == 1:  # c and d change places
            if state.load[a] - f.demand[c] + f.demand[d] > f.capacity[a]:
                continue
            if state.load[b] - f.demand[d] + f.demand[c] > f.capacity[b]:
                continue
            delta = (
                dist[na[i - 1]][d]
                + dist[d][na[i + 1]]
                - dist[na[i - 1]][c]
                - dist[c][na[i + 1]]
                + dist[nb[j - 1]][c]
                + dist[c][nb[j + 1]]
                - dist[nb[j - 1]][d]
                - dist[d][nb[j + 1]]
            )
            if delta > 0 and rng.random() >= worse:
                continue
            if not (state.fits(a, i, i, [d]) and state.fits(b, j, j, [c])):
                continue
            na[i], nb[j] = d, c
        else:  # a ends with b's tail after d, b with a's tail after c
            head_a = sum(f.demand[n] for n in na[: i + 1])
            head_b = sum(f.demand[n] for n in nb[: j + 1])
            tail_a, tail_b = state.load[a] - head_a, state.load[b] - head_b
            if head_a + tail_b > f.capacity[a] or head_b + tail_a > f.capacity[b]:
                continue
            delta = (
                dist[c][nb[j + 1]] + dist[d][na[i + 1]] - dist[c][na[i + 1]] - dist[d][nb[j + 1]]
            )
            if delta > 0 and rng.random() >= worse:
                continue
            if state.early[a][i] + f.travel[c][nb[j + 1]] > state.late[b][j + 1]:
                continue
            if state.early[b][j] + f.travel[d][na[i + 1]] > state.late[a][i + 1]:
                continue
            na[i + 1 :], nb[j + 1 :] = nb[j + 1 :], na[i + 1 :]
        state.update(a)
        state.update(b)
        where = state.positions()
