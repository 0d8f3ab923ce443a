"""What each importable kind looks like: its columns, how a row is checked, and which model row
it becomes. The import itself (reading files, matching rows, one transaction) is
`db/importer.py`; the sync API sends the same rows as JSON.

A bad value raises `FieldError` naming its column, so an error says file, line, column, reason.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from sqlmodel import SQLModel

from db.models import BeatPlan, Payment, Product, Promotion, Rep, Role, StockLevel, Store, User

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_PIECE_PAISE = 10_000_000 * 100  # ₹1 crore for one piece: anything above is a typo
MAX_UNITS_PER_CASE = 10_000
MAX_PIECES = 10_000_000
MAX_CREDIT_DAYS = 365
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class FieldError(ValueError):
    """One value of a row is wrong."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column


@dataclass
class Known:
    """What rows may refer to: the company's rows by external code, its phone region and day."""

    region: str
    today: date
    products: dict[str, Product]
    stores: dict[str, Store]
    reps: dict[str, Rep]


@dataclass(frozen=True)
class Kind:
    model: type[SQLModel]
    columns: tuple[str, ...]  # the file columns that identify a row (its external id)
    key: tuple[str, ...]  # the model attributes they become
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[dict[str, str], Known], dict[str, Any]]  # row -> model values


def text(row: dict[str, str], column: str, max_length: int = 200) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise FieldError(column, f"{column} is empty")
    if len(value) > max_length:
        raise FieldError(column, f"{column} is longer than {max_length} characters")
    return value


def optional(row: dict[str, str], column: str) -> str | None:
    return (row.get(column) or "").strip() or None


def code(row: dict[str, str], column: str) -> str:
    value = text(row, column, 64)
    if not CODE_PATTERN.match(value):
        raise FieldError(column, f"{column} {value!r} may only hold letters, digits, '.', '_', '-'")
    return value


def whole_number(row: dict[str, str], column: str, minimum: int, maximum: int) -> int:
    value = text(row, column)
    try:
        number = int(value)
    except ValueError:
        raise FieldError(column, f"{column} {value!r} is not a whole number") from None
    if not minimum <= number <= maximum:
        raise FieldError(column, f"{column} must be between {minimum} and {maximum}, got {number}")
    return number


def paise(row: dict[str, str], column: str) -> int:
    """Rupees with at most two decimals ("45", "45.50") as integer paise."""
    value = text(row, column)
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise FieldError(column, f"{column} {value!r} is not an amount in rupees") from None
    if not amount.is_finite() or not 0 <= amount * 100 <= MAX_PIECE_PAISE:
        raise FieldError(
            column, f"{column} must be between 0 and {MAX_PIECE_PAISE // 100} rupees, got {value!r}"
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldError(column, f"{column} {value!r} has more than two decimals")
    return int(amount * 100)


def coordinate(row: dict[str, str], column: str, limit: float) -> float:
    value = text(row, column)
    try:
        number = float(value)
    except ValueError:
        raise FieldError(column, f"{column} {value!r} is not a number") from None
    if not -limit <= number <= limit:
        raise FieldError(column, f"{column} {number} is outside -{limit:g}..{limit:g}")
    return number


def phone(row: dict[str, str], column: str, region: str) -> str:
    value = text(row, column, 32)
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise FieldError(column, f"{column} {value!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(column, f"{column} {value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def day(row: dict[str, str], column: str, known: Known, *, past_only: bool = False) -> date:
    value = text(row, column, 10)
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise FieldError(column, f"{column} {value!r} is not a date (YYYY-MM-DD)") from None
    if past_only and parsed > known.today:
        raise FieldError(column, f"{column} {value} is in the future (today is {known.today})")
    return parsed


def reference(row: dict[str, str], column: str, rows: dict[str, Any], what: str):
    value = text(row, column, 64)
    found = rows.get(value)
    if found is None:
        raise FieldError(column, f"{column} {value!r} is not a {what} of this company")
    return found


def parse_product(row: dict[str, str], _known: Known | None) -> dict[str, Any]:
    price = paise(row, "price_inr")
    mrp = paise(row, "mrp_inr") if optional(row, "mrp_inr") else price
    if price > mrp:
        raise FieldError(
            "price_inr", f"price_inr {price / 100:.2f} is above mrp_inr {mrp / 100:.2f}"
        )
    aliases = [a.strip().lower() for a in (row.get("aliases") or "").split("|")]
    return {
        "sku": code(row, "sku"),
        "name": text(row, "name"),
        "brand": text(row, "brand"),
        "category": text(row, "category"),
        "pack_size": text(row, "pack_size", 32),
        "units_per_case": whole_number(row, "units_per_case", 1, MAX_UNITS_PER_CASE),
        "price_paise": price,
        "mrp_paise": mrp,
        "aliases": list(dict.fromkeys(a for a in aliases if a)),
    }


def parse_store(row: dict[str, str], known: Known) -> dict[str, Any]:
    lat = coordinate(row, "lat", 90)
    lng = coordinate(row, "lng", 180)
    if lat == 0 and lng == 0:
        raise FieldError("lat", "lat,lng is 0,0: the coordinates are missing")
    rep = reference(row, "rep_code", known.reps, "rep") if optional(row, "rep_code") else None
    return {
        "code": code(row, "code"),
        "name": text(row, "name"),
        "owner_name": text(row, "owner_name"),
        "owner_phone": phone(row, "owner_phone", known.region),
        "address": text(row, "address", 500),
        "locality": text(row, "locality"),
        "city": text(row, "city"),
        "lat": lat,
        "lng": lng,
        "channel_type": optional(row, "channel_type") or "kirana",
        "assigned_rep_id": rep.id if rep else None,
        **_credit_terms(row),
    }


def _credit_terms(row: dict[str, str]) -> dict[str, Any]:
    """The credit limit and payment terms, when the file gives them (else left as they are)."""
    terms: dict[str, Any] = {}
    if optional(row, "credit_limit_inr"):
        terms["credit_limit_paise"] = paise(row, "credit_limit_inr")
    if optional(row, "credit_days"):
        terms["credit_days"] = whole_number(row, "credit_days", 0, MAX_CREDIT_DAYS)
    return terms


def parse_payment(row: dict[str, str], known: Known) -> dict[str, Any]:
    amount = paise(row, "amount_inr")
    if amount == 0:
        raise FieldError("amount_inr", "amount_inr is 0: a payment must be more than nothing")
    return {
        "external_id": code(row, "external_id"),
        "store_id": reference(row, "store_code", known.stores, "store").id,
        "paid_on": day(row, "date", known, past_only=True),
        "amount_paise": amount,
        "method": (optional(row, "method") or "").lower()[:32],
    }


def parse_rep(row: dict[str, str], known: Known) -> dict[str, Any]:
    return {
        "code": code(row, "code"),
        "name": text(row, "name"),
        "phone": phone(row, "phone", known.region),
        "territory": text(row, "territory"),
    }


def parse_stock(row: dict[str, str], known: Known) -> dict[str, Any]:
    return {
        "product_id": reference(row, "sku", known.products, "product").id,
        "warehouse": code(row, "warehouse") if optional(row, "warehouse") else "MAIN",
        "quantity": whole_number(row, "quantity", 0, MAX_PIECES),
        "reorder_level": (
            whole_number(row, "reorder_level", 0, MAX_PIECES)
            if optional(row, "reorder_level")
            else 0
        ),
    }


def parse_promotion(row: dict[str, str], known: Known) -> dict[str, Any]:
    targets = [column for column in ("sku", "brand", "category") if optional(row, column)]
    if len(targets) > 1:
        raise FieldError(targets[1], "give one of sku, brand or category, not several")
    starts, ends = day(row, "starts_on", known), day(row, "ends_on", known)
    if ends < starts:
        raise FieldError("ends_on", f"ends_on {ends} is before starts_on {starts}")
    discount = optional(row, "discount_pct") or "0"
    try:
        discount_pct = float(discount)
    except ValueError:
        raise FieldError("discount_pct", f"discount_pct {discount!r} is not a number") from None
    if not 0 <= discount_pct <= 100:
        raise FieldError("discount_pct", f"discount_pct must be 0-100, got {discount_pct:g}")
    free = (
        whole_number(row, "free_quantity", 0, MAX_PIECES) if optional(row, "free_quantity") else 0
    )
    if discount_pct == 0 and free == 0:
        raise FieldError("discount_pct", "a promotion needs discount_pct or free_quantity")
    product = reference(row, "sku", known.products, "product") if "sku" in targets else None
    return {
        "code": code(row, "code"),
        "name": text(row, "name"),
        "description": optional(row, "description") or text(row, "name"),
        "product_id": product.id if product else None,
        "brand": optional(row, "brand"),
        "category": optional(row, "category"),
        "min_quantity": (
            whole_number(row, "min_quantity", 1, MAX_PIECES) if optional(row, "min_quantity") else 1
        ),
        "discount_pct": discount_pct,
        "free_quantity": free,
        "starts_on": starts,
        "ends_on": ends,
    }


def parse_user(row: dict[str, str], known: Known) -> dict[str, Any]:
    role = text(row, "role", 16).lower()
    if role not in (Role.manager, Role.admin):
        raise FieldError(
            "role", f"role {role!r} is not manager or admin (reps and retailers come with reps "
            "and stores)"
        )  # fmt: skip
    return {
        "phone": phone(row, "phone", known.region),
        "name": text(row, "name"),
        "role": Role(role),
        "preferred_language": optional(row, "language") or "en",
    }


def parse_beat(row: dict[str, str], known: Known) -> dict[str, Any]:
    rep = reference(row, "rep_code", known.reps, "rep")
    store = reference(row, "store_code", known.stores, "store")
    name = text(row, "weekday", 16).lower()
    weekday = next(
        (n for n, full in enumerate(WEEKDAYS) if len(name) >= 3 and full.startswith(name)), None
    )
    if weekday is None:
        raise FieldError("weekday", f"weekday {name!r} is not a day name (mon ... sun)")
    return {
        "rep_id": rep.id,
        "store_id": store.id,
        "weekday": weekday,
        "sequence": whole_number(row, "sequence", 1, 1000),
    }


KINDS: dict[str, Kind] = {
    "catalog": Kind(
        Product,
        ("sku",),
        ("sku",),
        ("sku", "name", "brand", "category", "pack_size", "units_per_case", "price_inr"),
        ("mrp_inr", "aliases"),
        parse_product,
    ),
    "reps": Kind(Rep, ("code",), ("code",), ("code", "name", "phone", "territory"), (), parse_rep),
    "stores": Kind(
        Store,
        ("code",),
        ("code",),
        ("code", "name", "owner_name", "owner_phone", "address", "locality", "city", "lat", "lng"),
        ("channel_type", "rep_code", "credit_limit_inr", "credit_days"),
        parse_store,
    ),
    "stock": Kind(
        StockLevel,
        ("sku", "warehouse"),
        ("product_id", "warehouse"),
        ("sku", "quantity"),
        ("warehouse", "reorder_level"),
        parse_stock,
    ),
    "promotions": Kind(
        Promotion,
        ("code",),
        ("code",),
        ("code", "name", "starts_on", "ends_on"),
        (
            "description",
            "sku",
            "brand",
            "category",
            "min_quantity",
            "discount_pct",
            "free_quantity",
        ),
        parse_promotion,
    ),  # fmt: skip
    "payments": Kind(
        Payment,
        ("external_id",),
        ("external_id",),
        ("external_id", "store_code", "date", "amount_inr"),
        ("method",),
        parse_payment,
    ),
    "users": Kind(
        User, ("phone",), ("phone",), ("phone", "name", "role"), ("language",), parse_user
    ),
    "beats": Kind(
        BeatPlan,
        ("rep_code", "store_code", "weekday"),
        ("rep_id", "store_id", "weekday"),
        ("rep_code", "store_code", "weekday", "sequence"),
        (),
        parse_beat,
    ),
}

# Transactions are lines of items grouped by the sale's external id: see importer.import_sales.
SALE_COLUMNS = ("external_id", "store_code", "date", "sku", "quantity")
SALE_OPTIONAL = ("unit_price_inr", "rep_code", "channel")
