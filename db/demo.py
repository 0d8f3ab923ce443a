"""A believable demo distributor in Pune: catalog, stores, reps, beats and 180 days of trade.

Everything is drawn from random generators seeded with `seed`, so the same seed, store count and
end date give the same rows (UUIDs included). Loading is one transaction and keyed by the demo
company's slug: running it again with the same seed and size changes nothing.
"""

import bisect
import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlmodel import SQLModel
from tqdm import tqdm

from db.import_kinds import KINDS, parse_product
from db.importer import read_rows
from db.models import (
    BeatPlan,
    Channel,
    Company,
    Incentive,
    OrderEB2B,
    Payment,
    Product,
    Promotion,
    Rep,
    Role,
    StockLevel,
    Store,
    Task,
    Tenant,
    Transaction,
    TransactionItem,
    User,
    Visit,
)

DEMO_SLUG = "demo-pune"
TIMEZONE = ZoneInfo("Asia/Kolkata")
STORES_PER_REP = 50

# (name, lat, lng, pincode, relative density)
NEIGHBOURHOODS = [
    ("Kothrud", 18.5074, 73.8077, "411038", 1.4),
    ("Karve Nagar", 18.4890, 73.8210, "411052", 0.8),
    ("Deccan Gymkhana", 18.5167, 73.8413, "411004", 0.7),
    ("Shivajinagar", 18.5308, 73.8475, "411005", 0.9),
    ("Sadashiv Peth", 18.5106, 73.8493, "411030", 1.0),
    ("Kasba Peth", 18.5195, 73.8589, "411011", 0.9),
    ("Camp", 18.5158, 73.8790, "411001", 0.8),
    ("Koregaon Park", 18.5362, 73.8940, "411001", 0.6),
    ("Yerawada", 18.5529, 73.8797, "411006", 0.9),
    ("Viman Nagar", 18.5679, 73.9143, "411014", 0.8),
    ("Kharadi", 18.5515, 73.9348, "411014", 0.9),
    ("Hadapsar", 18.5089, 73.9260, "411028", 1.5),
    ("Wanowrie", 18.4870, 73.9000, "411040", 0.7),
    ("Kondhwa", 18.4776, 73.8911, "411048", 1.1),
    ("Bibwewadi", 18.4695, 73.8630, "411037", 0.8),
    ("Katraj", 18.4575, 73.8677, "411046", 1.1),
    ("Dhankawadi", 18.4610, 73.8540, "411043", 0.8),
    ("Sinhagad Road", 18.4788, 73.8206, "411041", 1.0),
    ("Warje", 18.4847, 73.8000, "411058", 0.8),
    ("Aundh", 18.5590, 73.8077, "411007", 0.8),
    ("Baner", 18.5590, 73.7868, "411045", 0.9),
    ("Wakad", 18.5987, 73.7649, "411057", 1.0),
    ("Pimple Saudagar", 18.5980, 73.7970, "411027", 0.9),
    ("Pimpri", 18.6298, 73.7997, "411018", 1.2),
    ("Chinchwad", 18.6447, 73.7906, "411033", 1.2),
]

ROADS = [
    "Main Road",
    "Station Road",
    "Market Yard Road",
    "Gaothan Lane",
    "Shivaji Chowk",
    "Ganesh Peth Lane",
    "Tilak Road",
    "Paud Road",
    "Link Road",
    "Old Mumbai Highway",
    "Society Road",
    "Bazaar Peth",
    "Mandai Road",
    "Temple Road",
    "College Road",
]
STORE_PREFIXES = [
    "Shree Ganesh",
    "Balaji",
    "Sai",
    "Jai Bhavani",
    "Om",
    "Mahalaxmi",
    "Krishna",
    "Shiv Shakti",
    "Siddhivinayak",
    "Gurukrupa",
    "Annapurna",
    "Maruti",
    "Durga",
    "Navkar",
    "Mangal",
    "Swami Samarth",
    "Shubham",
    "Vishal",
    "Royal",
    "Sagar",
    "Jai Hind",
    "Mauli",
    "Tirupati",
    "Ambika",
    "Matoshree",
    "Ekdant",
    "Kalika",
    "Vighnaharta",
    "Amrut",
    "Parshwanath",
]
# channel type: (share of stores, name suffixes, categories it leans to)
CHANNEL_TYPES = {
    "kirana": (0.62, ["Kirana Stores", "General Stores", "Provision Stores", "Traders"], set()),
    "supermarket": (0.08, ["Super Market", "Mart", "Super Bazaar"], set()),
    "chemist": (0.10, ["Medical", "Chemists"], {"Baby & Health", "Personal Care"}),
    "paan": (
        0.12,
        ["Paan Shop", "Cold Drinks"],
        {"Beverages", "Snacks", "Chocolates & Confectionery"},
    ),
    "bakery": (0.08, ["Bakery", "Sweets & Bakery"], {"Biscuits", "Dairy", "Beverages"}),
}
FIRST_NAMES = [
    "Ramesh",
    "Suresh",
    "Mahesh",
    "Ganesh",
    "Prakash",
    "Sunil",
    "Anil",
    "Vijay",
    "Sanjay",
    "Rajesh",
    "Santosh",
    "Dinesh",
    "Nitin",
    "Sachin",
    "Amol",
    "Rahul",
    "Kiran",
    "Manoj",
    "Deepak",
    "Pravin",
    "Sunita",
    "Asha",
    "Meena",
    "Kavita",
    "Vaishali",
    "Rekha",
    "Jyoti",
    "Imran",
    "Salim",
    "Farhan",
    "Harpreet",
    "Mukesh",
    "Bharat",
    "Kishore",
    "Dilip",
    "Ashok",
]
LAST_NAMES = [
    "Patil",
    "Jadhav",
    "Pawar",
    "Shinde",
    "Kulkarni",
    "Deshmukh",
    "Joshi",
    "Gaikwad",
    "More",
    "Chavan",
    "Kale",
    "Bhosale",
    "Jain",
    "Agarwal",
    "Gupta",
    "Shaikh",
    "Khan",
    "Mehta",
    "Shah",
    "Wagh",
    "Salunkhe",
    "Kadam",
    "Mane",
    "Thorat",
    "Singh",
    "Sharma",
    "Bansal",
    "Oswal",
]
CATEGORY_POPULARITY = {
    "Biscuits": 3.0,
    "Snacks": 2.5,
    "Beverages": 2.5,
    "Noodles & Pasta": 2.0,
    "Chocolates & Confectionery": 2.0,
    "Tea & Coffee": 1.6,
    "Dairy": 1.5,
    "Personal Care": 1.5,
    "Home Care": 1.4,
    "Staples": 1.3,
    "Edible Oil": 1.0,
    "Spices & Masala": 1.0,
    "Baby & Health": 0.8,
}
# Orders by weekday (Monday first): Saturday stocking up before the weekend, Sunday quiet.
WEEKDAY_FACTOR = [1.05, 1.0, 1.0, 0.95, 1.05, 1.15, 0.5]
FESTIVE = {
    "Biscuits",
    "Snacks",
    "Chocolates & Confectionery",
    "Beverages",
    "Edible Oil",
    "Staples",
    "Dairy",
}
# (date, name, days of build-up before it, uplift at the peak, categories lifted)
FESTIVALS = [
    (date(2025, 3, 14), "Holi", 7, 1.4, FESTIVE),
    (date(2025, 8, 9), "Raksha Bandhan", 5, 1.5, {"Chocolates & Confectionery", "Biscuits"}),
    (date(2025, 8, 27), "Ganesh Chaturthi", 10, 1.5, FESTIVE),
    (date(2025, 10, 2), "Dussehra", 9, 1.4, FESTIVE),
    (date(2025, 10, 20), "Diwali", 14, 1.9, FESTIVE | {"Home Care", "Personal Care"}),
    (date(2026, 3, 4), "Holi", 7, 1.4, FESTIVE),
    (date(2026, 5, 27), "Eid al-Adha", 4, 1.3, {"Staples", "Edible Oil", "Spices & Masala"}),
    (date(2026, 8, 28), "Raksha Bandhan", 5, 1.5, {"Chocolates & Confectionery", "Biscuits"}),
    (date(2026, 9, 14), "Ganesh Chaturthi", 10, 1.5, FESTIVE),
    (date(2026, 10, 20), "Dussehra", 9, 1.4, FESTIVE),
    (date(2026, 11, 8), "Diwali", 14, 1.9, FESTIVE | {"Home Care", "Personal Care"}),
    (date(2027, 3, 22), "Holi", 7, 1.4, FESTIVE),
    (date(2027, 9, 4), "Ganesh Chaturthi", 10, 1.5, FESTIVE),
    (date(2027, 10, 29), "Diwali", 14, 1.9, FESTIVE | {"Home Care", "Personal Care"}),
]
TASK_TYPES = {
    "reorder": ("Reorder visit", "No order in {days} days; usual basket is due.", 1, 20),
    "msl_gap": (
        "Pitch must-sell {product}",
        "{product} is on the must-sell list and has not been bought in 30 days.",
        2,
        15,
    ),
    "promo": ("Pitch scheme: {promo}", "Active scheme the store has not used yet.", 3, 10),
}


class DemoExistsError(RuntimeError):
    """The demo company exists with other parameters; loading again needs a reset."""


@dataclass(frozen=True)
class DemoResult:
    loaded: bool  # False when the same demo data was already there
    company_id: uuid.UUID
    counts: dict[str, int]


def load_demo(
    engine: Engine,
    stores: int | None = None,
    seed: int | None = None,
    days: int | None = None,
    end: date | None = None,
    reset: bool = False,
    progress: bool = True,
) -> DemoResult:
    """Create the demo company: `stores` stores (500) and `days` days (180) of history up to
    `end` (yesterday). If the demo company exists and agrees with every parameter given, nothing
    changes; if it disagrees, `reset` replaces it."""
    asked = {"seed": seed, "stores": stores, "days": days, "end": end and end.isoformat()}
    asked = {name: value for name, value in asked.items() if value is not None}
    with engine.begin() as connection:
        existing = connection.execute(
            select(Company.id, Company.settings).where(Company.slug == DEMO_SLUG)
        ).first()
        if existing is not None:
            made = existing.settings.get("demo", {})
            if not reset and all(made.get(name) == value for name, value in asked.items()):
                return DemoResult(False, existing.id, _count_rows(connection, existing.id))
            if not reset:
                raise DemoExistsError(
                    f"demo company {DEMO_SLUG} exists with {made}; use --reset to replace it"
                )
            _delete_company(connection, existing.id)
        yesterday = datetime.now(TIMEZONE).date() - timedelta(days=1)
        params = {"seed": 42, "stores": 500, "days": 180, "end": yesterday.isoformat(), **asked}
        if params["stores"] < 1 or params["days"] < 1:
            raise ValueError("stores and days must be at least 1")
        tables = DemoBuilder(params, progress).build()
        _insert_all(connection, tables, progress)
        # Planner statistics for the rows just written: without them PostgreSQL takes the
        # tables for empty and joins them with nested loops (minutes instead of milliseconds).
        connection.exec_driver_sql("ANALYZE")
        company_id = tables[Company][0]["id"]
        return DemoResult(True, company_id, _count_rows(connection, company_id))


def _count_rows(connection: Connection, company_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for table in SQLModel.metadata.sorted_tables:
        if "company_id" in table.c:
            query = select(func.count()).select_from(table)
            counts[table.name] = connection.scalar(query.where(table.c.company_id == company_id))
    return counts


def _delete_company(connection: Connection, company_id: uuid.UUID) -> None:
    """Remove the demo company for good: demo data is the one thing we hard-delete."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if "company_id" in table.c:
            connection.execute(delete(table).where(table.c.company_id == company_id))
    tenant_id = connection.scalar(select(Company.tenant_id).where(Company.id == company_id))
    connection.execute(delete(Company.__table__).where(Company.id == company_id))
    others = connection.scalar(select(Company.id).where(Company.tenant_id == tenant_id).limit(1))
    if others is None:
        connection.execute(delete(Tenant.__table__).where(Tenant.id == tenant_id))


def _insert_all(connection: Connection, tables: dict[type, list[dict]], progress: bool) -> None:
    rows_by_table = {model.__tablename__: rows for model, rows in tables.items()}
    total = sum(len(rows) for rows in tables.values())
    with tqdm(total=total, desc="Writing", unit="row", disable=not progress) as bar:
        for table in SQLModel.metadata.sorted_tables:  # parents before children
            rows = rows_by_table.get(table.name, [])
            for start in range(0, len(rows), 5000):
                chunk = rows[start : start + 5000]
                connection.execute(insert(table), chunk)
                bar.update(len(chunk))
                bar.set_postfix_str(table.name)


def load_catalog() -> list[dict]:
    """The demo catalog shipped with the package, validated by the importer's own rules."""
    data = resources.files("db").joinpath("demo_catalog.csv").read_bytes()
    rows, errors = read_rows(data, (KINDS["catalog"].required, KINDS["catalog"].optional))
    if errors:
        raise ValueError(f"demo_catalog.csv line {errors[0].line}: {errors[0].message}")
    return [parse_product(row, None) for _line, row in rows]


def festival_uplift(day: date, category: str) -> float:
    """How much more of a category sells on `day` because a festival is coming."""
    uplift = 1.0
    for festival_day, _name, build_up, peak, categories in FESTIVALS:
        before = (festival_day - day).days
        if category in categories and 0 <= before <= build_up:
            uplift = max(uplift, 1 + (peak - 1) * (1 - before / (build_up + 1)))
    return uplift


class DemoBuilder:
    """Draws every row in memory, in foreign-key order; `build()` returns them per model."""

    def __init__(self, params: dict, progress: bool):
        self.seed = params["seed"]
        self.n_stores = params["stores"]
        self.days = params["days"]
        self.end = date.fromisoformat(params["end"])  # the last day of history; today is after
        self.start = self.end - timedelta(days=self.days - 1)
        self.params = params
        self.progress = progress
        self.ids = random.Random(f"{self.seed}:ids")
        self.rows: dict[type, list[dict]] = defaultdict(list)
        self.phones: set[str] = set()

    def rng(self, part: str) -> random.Random:
        """One generator per part, so changing one part leaves the others' draws as they were."""
        return random.Random(f"{self.seed}:{part}")

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.ids.randbytes(16), version=4)

    def phone(self, rng: random.Random) -> str:
        while True:
            number = f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def person(self, rng: random.Random) -> str:
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"

    def at(self, day: date, hour: float) -> datetime:
        """A local time on `day`, in UTC as stored."""
        local = datetime.combine(day, time(0), TIMEZONE) + timedelta(hours=hour)
        return local.astimezone(UTC)

    def add(self, model: type, **values) -> dict:
        values.setdefault("id", self.new_id())
        values.setdefault("created_at", self.at(self.start, 9))
        values.setdefault("updated_at", values["created_at"])
        self.rows[model].append(values)
        return values

    def build(self) -> dict[type, list[dict]]:
        self.company()
        self.catalog()
        self.reps_and_stores()
        self.promotions()
        self.trade()
        self.tasks()
        self.stock()
        self.payments()
        self.strip_drafts()
        return self.rows

    def company(self) -> None:
        tenant = self.add(Tenant, name="Demo Tenant", slug=DEMO_SLUG, settings={})
        company = self.add(
            Company,
            tenant_id=tenant["id"],
            name="Shree Sai Distributors",
            slug=DEMO_SLUG,
            city="Pune",
            timezone="Asia/Kolkata",
            currency="INR",
            settings={
                "demo": self.params,
                "phone_region": "IN",
                "delivery": {"days": 1, "by_hour": 14},
                "order_cutoff_hour": 18,
            },
        )
        self.company_id = company["id"]
        rng = self.rng("staff")
        for role, name in ((Role.admin, "Anita Kulkarni"), (Role.manager, "Vikram Deshmukh")):
            self.add(
                User,
                company_id=self.company_id,
                phone=self.phone(rng),
                name=name,
                role=role,
                preferred_language="en",
            )

    def catalog(self) -> None:
        rng = self.rng("catalog")
        self.products = []
        for values in load_catalog():
            row = self.add(Product, company_id=self.company_id, is_active=True, **values)
            weight = CATEGORY_POPULARITY.get(row["category"], 1.0)
            row["popularity"] = weight * rng.uniform(0.3, 1.7)
            self.products.append(row)
        self.product_by_sku = {p["sku"]: p for p in self.products}

    def reps_and_stores(self) -> None:
        rng = self.rng("stores")
        weights = [n[4] for n in NEIGHBOURHOODS]
        drafts = []
        for i in range(self.n_stores):
            name, lat, lng, pincode, _ = rng.choices(NEIGHBOURHOODS, weights)[0]
            kinds = list(CHANNEL_TYPES)
            channel_type = rng.choices(kinds, [CHANNEL_TYPES[k][0] for k in kinds])[0]
            suffix = rng.choice(CHANNEL_TYPES[channel_type][1])
            drafts.append(
                {
                    "code": f"ST{i + 1:05d}",
                    "name": f"{rng.choice(STORE_PREFIXES)} {suffix}",
                    "owner_name": self.person(rng),
                    "owner_phone": self.phone(rng),
                    "address": f"Shop {rng.randint(1, 80)}, {rng.choice(ROADS)}, {name}, "
                    f"Pune {pincode}",
                    "locality": name,
                    "city": "Pune",
                    "lat": round(rng.gauss(lat, 0.006), 6),
                    "lng": round(rng.gauss(lng, 0.006), 6),
                    "channel_type": channel_type,
                    "credit_limit_paise": rng.choice([10000, 25000, 50000, 100000]) * 100,
                    "is_active": True,
                }
            )
        # Territories: stores ordered by neighbourhood and bearing, cut into equal beats.
        centre = {n[0]: (n[1], n[2]) for n in NEIGHBOURHOODS}
        order = {n[0]: i for i, n in enumerate(NEIGHBOURHOODS)}
        drafts.sort(
            key=lambda s: (
                order[s["locality"]],
                math.atan2(
                    s["lat"] - centre[s["locality"]][0], s["lng"] - centre[s["locality"]][1]
                ),
            )
        )
        n_reps = max(10, math.ceil(self.n_stores / STORES_PER_REP)) if self.n_stores >= 10 else 1
        size = math.ceil(len(drafts) / n_reps)
        staff = self.rng("reps")
        self.stores = []
        self.reps = []
        for r in range(n_reps):
            group = drafts[r * size : (r + 1) * size]
            if not group:
                break
            localities = list(dict.fromkeys(s["locality"] for s in group))
            rep_name = self.person(staff)
            rep = self.add(
                Rep,
                company_id=self.company_id,
                code=f"R{r + 1:03d}",
                name=rep_name,
                phone=self.phone(staff),
                territory=" / ".join(localities),
                points_balance=0,
                is_active=True,
            )
            self.reps.append(rep)
            self.add(
                User,
                company_id=self.company_id,
                phone=rep["phone"],
                name=rep_name,
                role=Role.rep,
                rep_id=rep["id"],
                preferred_language="en",
            )
            sequence: dict[int, int] = defaultdict(int)
            for index, draft in enumerate(group):
                store = self.add(
                    Store, company_id=self.company_id, assigned_rep_id=rep["id"], **draft
                )
                store["weekday"] = index * 6 // len(group)  # Monday..Saturday beats
                sequence[store["weekday"]] += 1
                self.stores.append(store)
                self.add(
                    BeatPlan,
                    company_id=self.company_id,
                    rep_id=rep["id"],
                    store_id=store["id"],
                    weekday=store["weekday"],
                    sequence=sequence[store["weekday"]],
                )
                self.add(
                    User,
                    company_id=self.company_id,
                    phone=store["owner_phone"],
                    name=store["owner_name"],
                    role=Role.retailer,
                    store_id=store["id"],
                    preferred_language=rng.choice(["en", "en", "hi", "mr"]),
                )
        self.stores.sort(key=lambda s: s["code"])

    def promotions(self) -> None:
        """Five schemes, dated by the calendar they belong to (Diwali, summer, this month)."""
        today = self.end + timedelta(days=1)
        diwali = min(
            (d for d, name, *_ in FESTIVALS if name == "Diwali"),
            key=lambda d: abs((d - today).days),
        )
        summer = date(today.year if today.month >= 4 else today.year - 1, 4, 1)
        month = today.replace(day=1)
        next_month = (month + timedelta(days=32)).replace(day=1)
        launch = self.products[len(self.products) // 2]
        schemes = [
            (
                "DIWALI-CHOC",
                "Festive chocolate bonanza",
                "5% off all chocolates and sweets",
                {"category": "Chocolates & Confectionery", "discount_pct": 5.0},
                diwali - timedelta(days=21),
                diwali + timedelta(days=3),
            ),
            (
                "BISCUIT-1P6",
                "Biscuits: 6 free with 48",
                "6 packs free with every 48 packs",
                {"category": "Biscuits", "min_quantity": 48, "free_quantity": 6},
                month,
                next_month - timedelta(days=1),
            ),
            (
                "SUMMER-COOL",
                "Summer coolers",
                "4% off soft drinks on 48 bottles or more",
                {"category": "Beverages", "min_quantity": 48, "discount_pct": 4.0},
                summer,
                summer + timedelta(days=75),
            ),
            (
                "DETERGENT-3",
                "Detergent saver",
                "3% off detergents and dishwash",
                {"category": "Home Care", "discount_pct": 3.0},
                month - timedelta(days=20),
                next_month + timedelta(days=27),
            ),
            (
                "NEW-LAUNCH",
                f"Launch offer: {launch['name']}",
                f"1 free with every 12 {launch['name']}",
                {"product_id": launch["id"], "min_quantity": 12, "free_quantity": 1},
                today - timedelta(days=30),
                today + timedelta(days=30),
            ),
        ]
        self.schemes = [
            self.add(
                Promotion,
                company_id=self.company_id,
                code=code,
                name=name,
                description=description,
                starts_on=starts,
                ends_on=ends,
                is_active=True,
                product_id=terms.get("product_id"),
                brand=None,
                category=terms.get("category"),
                min_quantity=terms.get("min_quantity", 1),
                discount_pct=terms.get("discount_pct", 0.0),
                free_quantity=terms.get("free_quantity", 0),
            )
            for code, name, description, terms, starts, ends in schemes
        ]
        self.active_promotions = [
            p for p in self.schemes if p["starts_on"] <= today <= p["ends_on"]
        ]
        p = self.product_by_sku
        self.must_sell = [p[s] for s in list(p)[:: max(1, len(p) // 12)]][:12]

    def priced(self, product: dict, quantity: int, day: date) -> tuple[int, int, int]:
        """(pieces delivered, unit price, line total) with the scheme running on `day` applied:
        a discount lowers the unit price, free goods add pieces that are not charged."""
        price, charged = product["price_paise"], quantity
        for scheme in self.schemes:
            applies = scheme["product_id"] == product["id"] or (
                scheme["category"] is not None and scheme["category"] == product["category"]
            )
            if (
                applies
                and scheme["starts_on"] <= day <= scheme["ends_on"]
                and quantity >= scheme["min_quantity"]
            ):
                price = round(price * (100 - scheme["discount_pct"]) / 100)
                quantity += quantity // scheme["min_quantity"] * scheme["free_quantity"]
        return quantity, price, charged * price

    def habits(self, store: dict, rng: random.Random) -> dict:
        """A store's usual basket, size and loyalty: what makes its history look like its own."""
        leaning = CHANNEL_TYPES[store["channel_type"]][2]
        weights = [
            p["popularity"]
            * (3.0 if p["category"] in leaning else 1.0)
            * (0.3 if leaning and p["category"] not in leaning else 1.0)
            for p in self.products
        ]
        size = rng.lognormvariate(0, 0.6) * (2.5 if store["channel_type"] == "supermarket" else 1)
        basket = {}
        for product in rng.choices(self.products, weights, k=rng.randint(8, 24)):
            basket[product["sku"]] = (rng.uniform(0.3, 0.9), rng.lognormvariate(-1.5, 0.7) * size)
        return {
            "basket": basket,
            "loyalty": rng.uniform(0.55, 0.95),
            "whatsapp_rate": rng.choice([0, 0, 0, 0.04, 0.08, 0.15]),
        }

    def quantity(self, product: dict, cases: float) -> int:
        """Pieces as a retailer buys them: whole cases, else loose pieces or half-dozens."""
        per_case = product["units_per_case"]
        if cases >= 0.75:
            return round(cases) * per_case
        if per_case < 12:
            return max(1, round(cases * per_case))
        return max(1, round(cases * per_case / 6)) * 6

    def order_lines(self, habits: dict, day: date, rng: random.Random, small: bool) -> list[tuple]:
        lines = []
        for sku, (probability, cases) in habits["basket"].items():
            product = self.product_by_sku[sku]
            uplift = festival_uplift(day, product["category"]) * WEEKDAY_FACTOR[day.weekday()]
            if rng.random() < min(0.97, probability * (0.5 if small else 1.0) * uplift):
                cases_today = cases * uplift * rng.uniform(0.7, 1.3)
                lines.append((product, self.quantity(product, cases_today)))
        if not lines:
            sku = rng.choice(list(habits["basket"]))
            lines.append((self.product_by_sku[sku], self.quantity(self.product_by_sku[sku], 0.5)))
        return lines

    def sale(
        self,
        store: dict,
        day: date,
        moment: datetime,
        lines: list[tuple],
        channel: Channel,
        rep_id: uuid.UUID | None,
    ) -> dict:
        priced = [(product, *self.priced(product, qty, day)) for product, qty in lines]
        sale = self.add(
            Transaction,
            company_id=self.company_id,
            store_id=store["id"],
            rep_id=rep_id,
            transaction_date=day,
            channel=channel,
            total_paise=sum(line[3] for line in priced),
            status="completed",
            created_at=moment,
        )
        for product, pieces, unit_price, line_total in priced:
            self.add(
                TransactionItem,
                company_id=self.company_id,
                transaction_id=sale["id"],
                product_id=product["id"],
                quantity=pieces,
                unit_price_paise=unit_price,
                line_total_paise=line_total,
                created_at=moment,
            )
        store["order_days"].append(day)
        sale["lines"] = priced
        return sale

    def trade(self) -> None:
        rng = self.rng("trade")
        online = []
        for store in tqdm(
            self.stores, desc="Drawing history", unit="store", disable=not self.progress
        ):
            habits = self.habits(store, rng)
            store["habits"] = habits
            store["order_days"] = []
            store["outcomes"] = {}
            for offset in range(self.days):
                day = self.start + timedelta(days=offset)
                if day.weekday() == store["weekday"]:
                    self.visit(store, day, habits, rng)
                elif rng.random() < habits["whatsapp_rate"] * WEEKDAY_FACTOR[day.weekday()]:
                    moment = self.at(day, rng.uniform(8, 21))
                    lines = self.order_lines(habits, day, rng, small=True)
                    sale = self.sale(store, day, moment, lines, Channel.whatsapp, None)
                    online.append((moment, store, sale))
        online.sort(key=lambda entry: entry[0])
        for number, (moment, store, sale) in enumerate(online, start=1001):
            delivery = self.at(sale["transaction_date"] + timedelta(days=1), 14)
            self.add(
                OrderEB2B,
                company_id=self.company_id,
                order_number=number,
                store_id=store["id"],
                transaction_id=sale["id"],
                channel=Channel.whatsapp,
                status="delivered" if delivery < self.at(self.end, 20) else "confirmed",
                items=[
                    {
                        "sku": p["sku"],
                        "name": p["name"],
                        "quantity": pieces,
                        "unit_price_paise": price,
                        "line_total_paise": total,
                    }
                    for p, pieces, price, total in sale["lines"]
                ],
                total_paise=sale["total_paise"],
                delivery_by=delivery,
                created_at=moment,
            )

    def visit(self, store: dict, day: date, habits: dict, rng: random.Random) -> None:
        checked_in = self.at(day, 10 + store["weekday"] % 3 + rng.uniform(0, 8))
        roll = rng.random()
        outcome = (
            "closed" if roll < 0.03 else "order" if roll < 0.03 + habits["loyalty"] else "no_order"
        )
        distance = abs(rng.gauss(0, 25))
        store["outcomes"][day] = outcome
        self.add(
            Visit,
            company_id=self.company_id,
            rep_id=store["assigned_rep_id"],
            store_id=store["id"],
            visit_date=day,
            checked_in_at=checked_in,
            checked_out_at=checked_in + timedelta(minutes=rng.uniform(5, 25)),
            check_in_lat=store["lat"] + distance / 111_000,
            check_in_lng=store["lng"],
            distance_m=round(distance, 1),
            outcome=outcome,
            notes="",
            created_at=checked_in,
        )
        if outcome == "order":
            lines = self.order_lines(habits, day, rng, small=False)
            self.sale(
                store,
                day,
                checked_in + timedelta(minutes=4),
                lines,
                Channel.rep,
                store["assigned_rep_id"],
            )

    def tasks(self) -> None:
        """Rule-based tasks for the last week of beats, done when the visit ended in an order and
        missed when it did not, and today's, pending (today is the day after the history)."""
        rng = self.rng("tasks")
        points: dict[uuid.UUID, int] = defaultdict(int)
        today = self.end + timedelta(days=1)
        for offset in range(min(7, self.days), -1, -1):
            day = today - timedelta(days=offset)
            for store in self.stores:
                if store["weekday"] != day.weekday():
                    continue
                kind, values = self.task_for(store, day, rng)
                if kind is None:
                    continue
                title, reasoning, priority, reward = TASK_TYPES[kind]
                outcome = store["outcomes"].get(day)
                status = (
                    "pending" if day == today else "completed" if outcome == "order" else "missed"
                )
                task = self.add(
                    Task,
                    company_id=self.company_id,
                    rep_id=store["assigned_rep_id"],
                    store_id=store["id"],
                    task_type=kind,
                    title=title.format(**values),
                    reasoning=reasoning.format(**values),
                    pitch=values.get("pitch", ""),
                    priority=priority,
                    points=reward,
                    due_date=day,
                    status=status,
                    source="rules",
                    created_at=self.at(day, 7),
                    completed_at=self.at(day, 13) if status == "completed" else None,
                )
                if status == "completed":
                    points[store["assigned_rep_id"]] += reward
                    self.add(
                        Incentive,
                        company_id=self.company_id,
                        rep_id=store["assigned_rep_id"],
                        task_id=task["id"],
                        points=reward,
                        reason=task["title"],
                        earned_on=day,
                        created_at=self.at(day, 13),
                    )
        for rep in self.reps:
            rep["points_balance"] = points[rep["id"]]

    def task_for(self, store: dict, day: date, rng: random.Random) -> tuple[str | None, dict]:
        earlier = bisect.bisect_left(store["order_days"], day)
        last = store["order_days"][earlier - 1] if earlier else None
        if last is None or (day - last).days >= 10:
            days = (day - last).days if last else self.days
            return "reorder", {"days": days, "pitch": "Check shelf for the usual fast movers."}
        missing = [p for p in self.must_sell if p["sku"] not in store["habits"]["basket"]]
        if missing and rng.random() < 0.6:
            product = rng.choice(missing)
            return "msl_gap", {
                "product": product["name"],
                "pitch": f"Offer a trial quantity of {product['name']}.",
            }
        if self.active_promotions and rng.random() < 0.5:
            promo = rng.choice(self.active_promotions)
            return "promo", {"promo": promo["name"], "pitch": promo["description"]}
        return None, {}

    def stock(self) -> None:
        """On-hand stock of about three weeks of sales, with a few fast movers sold out."""
        rng = self.rng("stock")
        sold: dict[uuid.UUID, int] = defaultdict(int)
        for item in self.rows[TransactionItem]:
            sold[item["product_id"]] += item["quantity"]
        sold_out = {p["sku"] for p in rng.sample(self.products, k=min(3, len(self.products)))}
        for product in self.products:
            weekly = sold[product["id"]] * 7 / self.days
            quantity = (
                0
                if product["sku"] in sold_out
                else round(weekly * rng.uniform(2, 4)) + product["units_per_case"] * 2
            )
            self.add(
                StockLevel,
                company_id=self.company_id,
                product_id=product["id"],
                warehouse="MAIN",
                quantity=quantity,
                reorder_level=round(weekly) + product["units_per_case"],
            )

    def payments(self) -> None:
        """Each invoice paid in full when the store gets round to it: most within their terms,
        some a week or two late as a habit, and a few through a bad patch of 1-3 months when
        bills wait until it ends (the credit model's synthetic ground truth). Limits are then
        set with room above what each store owes at the end, so no demo order is held."""
        rng = self.rng("payments")
        invoices: dict[uuid.UUID, list[dict]] = defaultdict(list)
        for sale in self.rows[Transaction]:
            invoices[sale["store_id"]].append(sale)
        number = 0
        for store in self.stores:
            store["credit_days"] = rng.choice([7, 14, 14, 21])
            habit = rng.choices(["prompt", "late", "very late"], [0.6, 0.3, 0.1])[0]
            bad_patches = []
            for _ in range(rng.choices([0, 1, 2], [0.7, 0.22, 0.08])[0]):
                begins = self.start + timedelta(days=rng.randrange(self.days))
                bad_patches.append((begins, begins + timedelta(days=rng.randint(30, 90))))
            owed_at_end, month = 0, 0
            for sale in sorted(invoices[store["id"]], key=lambda s: s["transaction_date"]):
                sold_on = sale["transaction_date"]
                due = sold_on + timedelta(days=store["credit_days"])
                late = {"prompt": 0, "late": 10, "very late": 25}[habit]
                pays = due + timedelta(days=round(rng.uniform(-store["credit_days"], 4) + late))
                for begins, ends in bad_patches:
                    if begins <= pays <= ends:
                        pays = ends + timedelta(days=rng.randint(0, 10))
                pays = max(pays, sold_on)
                if sold_on > self.end - timedelta(days=30):
                    month += sale["total_paise"]
                if pays > self.end:
                    owed_at_end += sale["total_paise"]
                    continue
                number += 1
                self.add(
                    Payment,
                    company_id=self.company_id,
                    store_id=store["id"],
                    paid_on=pays,
                    amount_paise=sale["total_paise"],
                    method=rng.choice(["cash", "upi", "upi", "cheque"]),
                    external_id=f"RCPT{number:07d}",
                    created_at=self.at(pays, 18),
                )
            headroom = owed_at_end + max(month, 5000_00) * 2
            store["credit_limit_paise"] = max(
                store["credit_limit_paise"], math.ceil(headroom / 5000_00) * 5000_00
            )

    def strip_drafts(self) -> None:
        """Make rows plain: drop the helper keys the drawing kept, and give every row of a table
        the same columns (a bulk insert needs one shape), nullable ones left out as NULL."""
        for model, rows in self.rows.items():
            columns = model.__table__.c
            nullable = [c.key for c in columns if c.nullable]
            for row in rows:
                for key in [k for k in row if k not in columns]:
                    del row[key]
                for key in nullable:
                    row.setdefault(key, None)
