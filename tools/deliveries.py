"""Tomorrow's deliveries as vehicle routes: the confirmed orders due that day, one stop per
store with its cases, over the company's vehicles from its warehouse (`ml/routing.py`).

The company settings say where the warehouse is (`warehouse`: {"lat": .., "lng": ..}) and what
it drives (`vehicles`: [{"name": "Van 1", "capacity_cases": 150}, ..]); without them the plan
starts from the middle of the stores with `DEFAULT_VEHICLES`, and says so. A stop that does not
fit (capacity, the working day) is left out with the reason, never dropped silently; a store
without coordinates cannot be routed and is listed as such.
"""

import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from db.models import Company, OrderEB2B, Product, Store
from db.scope import CompanySession
from ml.routing import MAX_STOPS, Problem, Stop, solve
from tools.visits import distance_m

ROAD_FACTOR = 1.3
SPEED_M_S = 25_000 / 3600  # a loaded van in town
UNLOAD_S = 10 * 60
DAY_STARTS, DAY_ENDS = time(9, 0), time(18, 0)
DEFAULT_VEHICLES: list[dict[str, Any]] = [
    {"name": "Van 1", "capacity_cases": 150},
    {"name": "Van 2", "capacity_cases": 150},
]
SOLVE_S = 5.0


@dataclass(frozen=True)
class Drop:
    store: Store
    orders: list[int]  # order numbers
    cases: int
    arrive: datetime


@dataclass(frozen=True)
class VehicleRoute:
    name: str
    capacity: int
    drops: list[Drop]
    km: float
    back: datetime

    @property
    def load(self) -> int:
        return sum(d.cases for d in self.drops)


@dataclass
class DeliveryPlan:
    day: date
    depot: tuple[float, float]
    routes: list[VehicleRoute]
    left_out: list[tuple[Store, str]]
    orders: int
    notes: list[str] = field(default_factory=list)

    @property
    def km(self) -> float:
        return sum(r.km for r in self.routes)


def _cases(items: list[dict], units: dict[str, int]) -> int:
    return sum(math.ceil(item.get("quantity", 0) / max(units.get(item["sku"], 1), 1))
               for item in items)  # fmt: skip


def _drop(store: Store, by_store: dict, cases: int, midnight: datetime, seconds: int) -> Drop:
    orders = sorted(o.order_number for o in by_store[store.id])
    return Drop(store, orders, cases, midnight + timedelta(seconds=seconds))


def plan_deliveries(session: CompanySession, day: date) -> DeliveryPlan:
    """The routes for the orders due on `day` (the company's local date)."""
    company = session.get(Company, session.company_id)
    zone = ZoneInfo(company.timezone if company else "Asia/Kolkata")
    settings = company.settings if company else {}
    start = datetime.combine(day, time(0), zone)
    due = session.exec(
        select(OrderEB2B).where(
            OrderEB2B.status == "confirmed",
            col(OrderEB2B.delivery_by) >= start,
            col(OrderEB2B.delivery_by) < start + timedelta(days=1),
        )
    ).all()
    units = {p.sku: p.units_per_case for p in session.exec(select(Product))}
    by_store: dict[uuid.UUID, list[OrderEB2B]] = {}
    for order in due:
        by_store.setdefault(order.store_id, []).append(order)
    stores = {s.id: s for s in session.exec(select(Store).where(col(Store.id).in_(list(by_store))))}
    notes: list[str] = []
    left_out = [(s, "no location on record") for s in stores.values() if not (s.lat or s.lng)]
    routable = [s for s in stores.values() if s.lat or s.lng]
    if len(routable) > MAX_STOPS:
        notes.append(f"{len(routable)} stores: the first {MAX_STOPS} by order number are routed")
        routable = routable[:MAX_STOPS]
    vehicles: list[dict[str, Any]] = settings.get("vehicles") or DEFAULT_VEHICLES
    if not settings.get("vehicles"):
        notes.append("no vehicles set for the company: assumed " + ", ".join(
            f"{v['name']} ({v['capacity_cases']} cases)" for v in vehicles))  # fmt: skip
    warehouse = settings.get("warehouse")
    if warehouse:
        depot = (float(warehouse["lat"]), float(warehouse["lng"]))
    elif routable:
        depot = (sum(s.lat for s in routable) / len(routable),
                 sum(s.lng for s in routable) / len(routable))  # fmt: skip
        notes.append("no warehouse location set: routes start from the middle of the stores")
    else:
        depot = (0.0, 0.0)
    if not routable:
        return DeliveryPlan(day, depot, [], left_out, len(due), notes)
    cases = [_cases([i for o in by_store[s.id] for i in o.items], units) for s in routable]
    points = [depot, *((s.lat, s.lng) for s in routable)]
    metres = [[round(distance_m(*a, *b) * ROAD_FACTOR) for b in points] for a in points]
    seconds = [[round(m / SPEED_M_S) for m in row] for row in metres]
    opens = DAY_STARTS.hour * 3600 + DAY_STARTS.minute * 60
    closes = DAY_ENDS.hour * 3600 + DAY_ENDS.minute * 60
    stops = [Stop(s.code, service=UNLOAD_S, demand=c) for s, c in zip(routable, cases, strict=True)]
    capacities = [int(v["capacity_cases"]) for v in vehicles]
    result = solve(
        Problem(stops, metres, capacities, duration=seconds, day=(opens, closes), vehicle_cost=0),
        min(SOLVE_S, 0.5 + 0.05 * len(stops)),
    )
    routes = [
        VehicleRoute(
            vehicles[route.vehicle]["name"],
            capacities[route.vehicle],
            [
                Drop(
                    routable[c.stop],
                    sorted(o.order_number for o in by_store[routable[c.stop].id]),
                    cases[c.stop],
                    start + timedelta(seconds=c.start),
                )  # fmt: skip
                for c in route.calls
            ],
            route.distance / 1000,
            start + timedelta(seconds=route.back),
        )
        for route in result.routes
    ]
    left_out += [(routable[d.stop], d.reason) for d in result.dropped]
    return DeliveryPlan(day, depot, routes, left_out, len(due), notes + result.notes)
