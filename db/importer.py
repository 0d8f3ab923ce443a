"""CSV import of a company's catalog, stores and reps.

Valid rows are written in one transaction; every bad row is reported with its line number and
the reason. With `strict`, one bad row means nothing is written. Rows are matched on their
external code (sku or code), so importing the same file again updates instead of duplicating,
and revives rows that were soft-deleted.
"""

import csv
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from sqlmodel import SQLModel, select

from db.models import Company, Product, Rep, Role, Store, User
from db.scope import CompanySession

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_PIECE_PAISE = 10_000_000 * 100  # ₹1 crore for one piece: anything above is a typo
MAX_UNITS_PER_CASE = 10_000


class CsvFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing columns)."""


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class ImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False


@dataclass(frozen=True)
class CsvKind:
    model: type[SQLModel]
    key: str  # the external code column, also the model attribute
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[dict[str, str], str], dict[str, Any]]  # (row, phone region) -> values


def _text(row: dict[str, str], column: str, max_length: int = 200) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise ValueError(f"{column} is empty")
    if len(value) > max_length:
        raise ValueError(f"{column} is longer than {max_length} characters")
    return value


def _code(row: dict[str, str], column: str) -> str:
    value = _text(row, column, 64)
    if not CODE_PATTERN.match(value):
        raise ValueError(f"{column} {value!r} may only hold letters, digits, '.', '_' and '-'")
    return value


def _positive_int(row: dict[str, str], column: str, maximum: int) -> int:
    value = _text(row, column)
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a whole number") from None
    if not 0 < number <= maximum:
        raise ValueError(f"{column} must be between 1 and {maximum}, got {number}")
    return number


def _paise(row: dict[str, str], column: str) -> int:
    """Rupees with at most two decimals ("45", "45.50") as integer paise."""
    value = _text(row, column)
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{column} {value!r} is not an amount in rupees") from None
    if not amount.is_finite() or not 0 <= amount * 100 <= MAX_PIECE_PAISE:
        raise ValueError(
            f"{column} must be between 0 and {MAX_PIECE_PAISE // 100} rupees, got {value!r}"
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{column} {value!r} has more than two decimals")
    return int(amount * 100)


def _coordinate(row: dict[str, str], column: str, limit: float) -> float:
    value = _text(row, column)
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a number") from None
    if not -limit <= number <= limit:
        raise ValueError(f"{column} {number} is outside -{limit:g}..{limit:g}")
    return number


def _phone(row: dict[str, str], column: str, region: str) -> str:
    value = _text(row, column, 32)
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{column} {value!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{column} {value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_product(row: dict[str, str], _region: str) -> dict[str, Any]:
    price = _paise(row, "price_inr")
    mrp = _paise(row, "mrp_inr") if (row.get("mrp_inr") or "").strip() else price
    if price > mrp:
        raise ValueError(f"price_inr {price / 100:.2f} is above mrp_inr {mrp / 100:.2f}")
    aliases = [a.strip().lower() for a in (row.get("aliases") or "").split("|")]
    return {
        "sku": _code(row, "sku"),
        "name": _text(row, "name"),
        "brand": _text(row, "brand"),
        "category": _text(row, "category"),
        "pack_size": _text(row, "pack_size", 32),
        "units_per_case": _positive_int(row, "units_per_case", MAX_UNITS_PER_CASE),
        "price_paise": price,
        "mrp_paise": mrp,
        "aliases": list(dict.fromkeys(a for a in aliases if a)),
    }


def parse_store(row: dict[str, str], region: str) -> dict[str, Any]:
    lat = _coordinate(row, "lat", 90)
    lng = _coordinate(row, "lng", 180)
    if lat == 0 and lng == 0:
        raise ValueError("lat,lng is 0,0: the coordinates are missing")
    return {
        "code": _code(row, "code"),
        "name": _text(row, "name"),
        "owner_name": _text(row, "owner_name"),
        "owner_phone": _phone(row, "owner_phone", region),
        "address": _text(row, "address", 500),
        "locality": _text(row, "locality"),
        "city": _text(row, "city"),
        "lat": lat,
        "lng": lng,
        "channel_type": (row.get("channel_type") or "").strip() or "kirana",
        "rep_code": (row.get("rep_code") or "").strip() or None,
    }


def parse_rep(row: dict[str, str], region: str) -> dict[str, Any]:
    return {
        "code": _code(row, "code"),
        "name": _text(row, "name"),
        "phone": _phone(row, "phone", region),
        "territory": _text(row, "territory"),
    }


KINDS: dict[str, CsvKind] = {
    "catalog": CsvKind(
        Product,
        "sku",
        ("sku", "name", "brand", "category", "pack_size", "units_per_case", "price_inr"),
        ("mrp_inr", "aliases"),
        parse_product,
    ),
    "stores": CsvKind(
        Store,
        "code",
        ("code", "name", "owner_name", "owner_phone", "address", "locality", "city", "lat", "lng"),
        ("channel_type", "rep_code"),
        parse_store,
    ),
    "reps": CsvKind(Rep, "code", ("code", "name", "phone", "territory"), (), parse_rep),
}


def read_rows(
    data: bytes, kind: CsvKind
) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    """Rows with the line each starts on, and the rows that cannot even be read (bad bytes,
    wrong number of fields). A quote left open is an error for the whole file."""
    # Undecodable bytes become lone surrogates, so one bad line does not sink the whole file.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records = _records(reader)
    _line, header = next(records, (1, []))
    header = [name.strip() for name in header]
    if not any(header):
        raise CsvFileError("line 1: the file is empty; expected a header row")
    missing = [column for column in kind.required if column not in header]
    if missing:
        raise CsvFileError(
            f"line 1: missing column(s) {', '.join(missing)}; "
            f"expected {','.join(kind.required + kind.optional)}"
        )
    rows, errors = [], []
    for line, fields in records:
        if len(fields) != len(header):
            errors.append(RowError(line, f"{len(fields)} fields, header has {len(header)}"))
        elif any(_has_bad_bytes(value) for value in fields):
            errors.append(RowError(line, "not valid UTF-8; save the file as UTF-8"))
        elif any(value.strip() for value in fields):
            rows.append((line, dict(zip(header, fields, strict=True))))
    return rows, errors


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted field may span lines)."""
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFileError(f"line {start}: {exc}") from None
        if fields:
            yield start, fields


def _has_bad_bytes(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def import_csv(
    session: CompanySession, kind_name: str, data: bytes, *, strict: bool = False
) -> ImportReport:
    """Import one CSV file into the session's company; see the module docstring for the rules."""
    kind = KINDS[kind_name]
    report = ImportReport(kind_name)
    rows, report.errors = read_rows(data, kind)

    existing = {
        getattr(obj, kind.key): obj
        for obj in session.exec(select(kind.model).execution_options(include_deleted=True))
    }
    identities = Identities(session.exec(select(User).execution_options(include_deleted=True)))
    reps = {rep.code: rep for rep in session.exec(select(Rep))}
    first_line: dict[str, int] = {}
    company = session.get(Company, session.company_id)
    region = company.settings.get("phone_region", "IN")

    for line, row in rows:
        try:
            values = kind.parse(row, region)
            key = values[kind.key]
            if key in first_line:
                raise ValueError(f"duplicate {kind.key} {key!r} (first on line {first_line[key]})")
            first_line[key] = line
            if kind_name == "stores":
                rep_code = values.pop("rep_code")
                if rep_code is not None and rep_code not in reps:
                    raise ValueError(f"rep_code {rep_code!r} is not a rep of this company")
                values["assigned_rep_id"] = reps[rep_code].id if rep_code else None
            identity = _identity(kind_name, values)
            if identity is not None:
                identities.check(identity, existing.get(key))
            obj = _upsert(session, kind, existing.get(key), values, report)
            existing[key] = obj
            if identity is not None:
                identities.link(session, identity, obj)
        except ValueError as exc:
            report.errors.append(RowError(line, str(exc)))

    report.errors.sort(key=lambda error: error.line)
    if report.errors and strict:
        session.rollback()
        return report
    session.commit()
    report.committed = True
    return report


def _upsert(session, kind: CsvKind, obj, values: dict[str, Any], report: ImportReport):
    if obj is None:
        obj = kind.model(**values)
        session.add(obj)
        report.created += 1
    elif obj.deleted_at is not None or any(getattr(obj, k) != v for k, v in values.items()):
        for name, value in values.items():
            setattr(obj, name, value)
        obj.deleted_at = None
        report.updated += 1
    else:
        report.unchanged += 1
    return obj


@dataclass(frozen=True)
class Identity:
    phone: str
    role: Role
    name: str
    link: str  # the User column that points at the store or rep


def _identity(kind_name: str, values: dict[str, Any]) -> Identity | None:
    """Store owners and reps become known phone identities, so their messages reach us."""
    if kind_name == "stores":
        return Identity(values["owner_phone"], Role.retailer, values["owner_name"], "store_id")
    if kind_name == "reps":
        return Identity(values["phone"], Role.rep, values["name"], "rep_id")
    return None


class Identities:
    """The company's users by phone and by the store or rep they stand for."""

    def __init__(self, users: Iterable[User]) -> None:
        self.by_phone: dict[str, User] = {}
        self.by_row: dict[uuid.UUID, list[User]] = defaultdict(list)
        for user in users:
            self._index(user)

    def _index(self, user: User) -> None:
        self.by_phone[user.phone] = user
        for row_id in (user.store_id, user.rep_id):
            if row_id is not None:
                self.by_row[row_id].append(user)

    def check(self, identity: Identity, obj) -> None:
        user = self.by_phone.get(identity.phone)
        if user is None or user.deleted_at is not None:
            return
        linked = getattr(user, identity.link)
        if user.role != identity.role or (linked is not None and (obj is None or linked != obj.id)):
            raise ValueError(f"phone {identity.phone} already belongs to another {user.role}")

    def link(self, session: CompanySession, identity: Identity, obj) -> None:
        """Point the phone's user at the row (reviving a deleted one), and retire the user of
        a phone number the row no longer has."""
        for user in self.by_row[obj.id]:
            if user.phone != identity.phone and user.deleted_at is None:
                session.delete(user)
        user = self.by_phone.get(identity.phone)
        if user is None:
            user = User(phone=identity.phone, role=identity.role, name=identity.name)
            session.add(user)
        user.deleted_at = None
        user.role = identity.role
        user.name = identity.name
        setattr(user, identity.link, obj.id)
        self._index(user)
