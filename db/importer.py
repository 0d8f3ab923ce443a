"""Import of a company's own data from CSV or JSON: catalog, reps, stores, stock, transactions
(with their items), promotions, users and beat plans (the columns of each: `db/import_kinds.py`).

Valid rows are written in one transaction; every bad row is reported with its line, column and
the reason. With `strict`, one bad row means nothing is written. Rows are matched on their
external id (sku, code, phone, ...), so importing the same file again updates instead of
duplicating, and revives rows that were soft-deleted. A transaction is all its lines or none.
"""

import csv
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from db.import_kinds import (
    KINDS,
    MAX_PIECES,
    SALE_COLUMNS,
    SALE_OPTIONAL,
    FieldError,
    Kind,
    Known,
    day,
    optional,
    paise,
    reference,
    text,
    whole_number,
)
from db.models import (
    Channel,
    Company,
    Product,
    Rep,
    Role,
    Store,
    Transaction,
    TransactionItem,
    User,
)
from db.scope import CompanySession

IMPORTABLE = (*KINDS, "transactions")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing columns, not JSON)."""


@dataclass
class RowError:
    line: int
    message: str
    column: str | None = None

    def __str__(self) -> str:
        """`line: column: reason`, or `line: reason` when the reason starts with the column."""
        named = self.column is None or self.message.startswith(self.column)
        return (
            f"{self.line}: {self.message}"
            if named
            else f"{self.line}: {self.column}: {self.message}"
        )


@dataclass
class ImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False


Rows = list[tuple[int, dict[str, str]]]


def read_rows(
    data: bytes, columns: tuple[tuple[str, ...], tuple[str, ...]]
) -> tuple[Rows, list[RowError]]:
    """CSV rows with the line each starts on, and the rows that cannot even be read (bad bytes,
    wrong number of fields). A quote left open is an error for the whole file."""
    # Undecodable bytes become lone surrogates, so one bad line does not sink the whole file.
    text_ = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text_, newline=""), strict=True)
    records = _records(reader)
    _line, header = next(records, (1, []))
    header = [name.strip() for name in header]
    if not any(header):
        raise ImportFileError("line 1: the file is empty; expected a header row")
    _check_columns(header, columns)
    rows, errors = [], []
    for line, fields in records:
        if len(fields) != len(header):
            errors.append(RowError(line, f"{len(fields)} fields, header has {len(header)}"))
        elif any(_has_bad_bytes(value) for value in fields):
            errors.append(RowError(line, "not valid UTF-8; save the file as UTF-8"))
        elif any(value.strip() for value in fields):
            rows.append((line, dict(zip(header, fields, strict=True))))
    return rows, errors


def _check_columns(
    present: Iterable[str], columns: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    required, optional_ = columns
    missing = [column for column in required if column not in set(present)]
    if missing:
        raise ImportFileError(
            f"line 1: missing column(s) {', '.join(missing)}; "
            f"expected {','.join(required + optional_)}"
        )


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted field may span lines)."""
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"line {start}: {exc}") from None
        if fields:
            yield start, fields


def _has_bad_bytes(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def read_json_rows(
    data: bytes | list, columns: tuple[tuple[str, ...], tuple[str, ...]]
) -> tuple[Rows, list[RowError]]:
    """Objects from a JSON array, JSON Lines, or (from the sync API) a parsed list, each with
    the line it starts on (its position in the list for the API)."""
    if isinstance(data, list):
        objects = list(enumerate(data, 1))
    else:
        try:
            objects = list(_json_objects(data.decode("utf-8-sig")))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ImportFileError(
                f"not JSON (an array of objects, or one object a line): {exc}"
            ) from None
    rows, errors = [], []
    for line, obj in objects:
        if not isinstance(obj, dict):
            errors.append(RowError(line, "expected an object of column: value"))
            continue
        try:
            rows.append((line, {str(k): _json_value(k, v) for k, v in obj.items()}))
        except FieldError as exc:
            errors.append(RowError(line, str(exc), exc.column))
    if not errors:
        for _line, row in rows[:1]:
            _check_columns(row, columns)
    return rows, errors


def _json_objects(content: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    position = _skip(content, 0)
    in_array = content.startswith("[", position)
    if in_array:
        position = _skip(content, position + 1)
    while position < len(content) and not (in_array and content[position] == "]"):
        obj, end = decoder.raw_decode(content, position)
        yield content.count("\n", 0, position) + 1, obj
        position = _skip(content, end)
        if in_array and content.startswith(",", position):
            position = _skip(content, position + 1)


def _skip(content: str, position: int) -> int:
    while position < len(content) and content[position].isspace():
        position += 1
    return position


def _json_value(column: Any, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        raise FieldError(str(column), f"{column} must be text or a number")
    return str(value)


def import_file(
    session: CompanySession,
    kind_name: str,
    data: bytes | list,
    *,
    fmt: str = "csv",
    strict: bool = False,
) -> ImportReport:
    """Import one file (or the sync API's list of objects) into the session's company; see the
    module docstring for the rules."""
    columns = (
        (SALE_COLUMNS, SALE_OPTIONAL)
        if kind_name == "transactions"
        else (KINDS[kind_name].required, KINDS[kind_name].optional)
    )
    report = ImportReport(kind_name)
    if fmt == "json" or isinstance(data, list):
        rows, report.errors = read_json_rows(data, columns)
    else:
        assert isinstance(data, bytes)
        rows, report.errors = read_rows(data, columns)
    known = known_rows(session)
    if kind_name == "transactions":
        _import_sales(session, rows, known, report)
    else:
        _import_rows(session, KINDS[kind_name], kind_name, rows, known, report)
    report.errors.sort(key=lambda error: error.line)
    if report.errors and strict:
        session.rollback()
        return report
    session.commit()
    report.committed = True
    return report


def known_rows(session: CompanySession) -> Known:
    company = session.get(Company, session.company_id)
    return Known(
        region=company.settings.get("phone_region", "IN"),
        today=datetime.now(ZoneInfo(company.timezone)).date(),
        products={p.sku: p for p in session.exec(select(Product))},
        stores={s.code: s for s in session.exec(select(Store))},
        reps={r.code: r for r in session.exec(select(Rep))},
    )


def _import_rows(
    session: CompanySession,
    kind: Kind,
    kind_name: str,
    rows: Rows,
    known: Known,
    report: ImportReport,
) -> None:
    existing = {
        tuple(getattr(obj, name) for name in kind.key): obj
        for obj in session.exec(select(kind.model).execution_options(include_deleted=True))
    }
    identities = Identities(session.exec(select(User).execution_options(include_deleted=True)))
    first_line: dict[tuple, int] = {}
    for line, row in rows:
        try:
            values = kind.parse(row, known)
            key = tuple(values[name] for name in kind.key)
            if key in first_line:
                shown = "/".join((row.get(c) or "").strip() or "-" for c in kind.columns)
                raise FieldError(
                    kind.columns[0],
                    f"duplicate {'/'.join(kind.columns)} {shown!r} "
                    f"(first on line {first_line[key]})",
                )
            first_line[key] = line
            if kind_name == "users":
                identities.check_staff(values["phone"])
            identity = _identity(kind_name, values)
            if identity is not None:
                identities.check(identity, existing.get(key))
            obj = _upsert(session, kind.model, existing.get(key), values, report)
            existing[key] = obj
            if identity is not None:
                identities.link(session, identity, obj)
        except FieldError as exc:
            report.errors.append(RowError(line, str(exc), exc.column))
        except ValueError as exc:
            report.errors.append(RowError(line, str(exc)))


def _upsert(session, model, obj, values: dict[str, Any], report: ImportReport):
    if obj is None:
        obj = model(**values)
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


@dataclass
class SaleLine:
    line: int
    values: dict[str, Any]  # store_id, rep_id, transaction_date, channel (the same on each line)
    item: tuple[uuid.UUID, int, int]  # product_id, pieces, unit price in paise


def _sale_line(row: dict[str, str], known: Known) -> SaleLine:
    product = reference(row, "sku", known.products, "product")
    channel = (optional(row, "channel") or Channel.rep).lower()
    if channel not in Channel.__members__:
        raise FieldError("channel", f"channel {channel!r} is not one of {', '.join(Channel)}")
    rep = reference(row, "rep_code", known.reps, "rep") if optional(row, "rep_code") else None
    price = paise(row, "unit_price_inr") if optional(row, "unit_price_inr") else product.price_paise
    values = {
        "store_id": reference(row, "store_code", known.stores, "store").id,
        "rep_id": rep.id if rep else None,
        "transaction_date": day(row, "date", known, past_only=True),
        "channel": Channel(channel),
    }
    return SaleLine(0, values, (product.id, whole_number(row, "quantity", 1, MAX_PIECES), price))


def _import_sales(session: CompanySession, rows: Rows, known: Known, report: ImportReport) -> None:
    """Lines grouped by external_id into sales; a sale with any bad line is not written, and a
    sale imported before is left as it was when it matches and refused when it differs."""
    groups: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, row in rows:
        try:
            groups[text(row, "external_id", 64)].append((line, row))
        except FieldError as exc:
            report.errors.append(RowError(line, str(exc), exc.column))
    existing = {
        sale.external_id: sale
        for sale in session.exec(
            select(Transaction).where(col(Transaction.external_id).in_(list(groups)))
        )
    }
    for external_id, group in groups.items():
        lines: list[SaleLine] = []
        bad: list[RowError] = []
        for line, row in group:
            try:
                sale_line = _sale_line(row, known)
                sale_line.line = line
                if lines and sale_line.values != lines[0].values:
                    column = next(k for k, v in sale_line.values.items() if lines[0].values[k] != v)
                    raise FieldError(
                        _SALE_COLUMN[column],
                        f"{_SALE_COLUMN[column]} differs from line {lines[0].line} "
                        f"of sale {external_id}",
                    )
                lines.append(sale_line)
            except FieldError as exc:
                bad.append(RowError(line, str(exc), exc.column))
        if bad:
            report.errors += bad
            report.errors += [
                RowError(s.line, f"sale {external_id} not imported: line {bad[0].line} is bad")
                for s in lines
            ]
            continue
        items = sorted(s.item for s in lines)
        total = sum(pieces * price for _product, pieces, price in items)
        sale = existing.get(external_id)
        if sale is not None:
            if _sale_items(session, sale) == items and all(
                getattr(sale, k) == v for k, v in lines[0].values.items()
            ):
                report.unchanged += 1
            else:
                report.errors.append(
                    RowError(
                        group[0][0],
                        f"sale {external_id} was imported before with other content; "
                        "a sale does not change: give the correction its own external_id",
                        "external_id",
                    )
                )
            continue
        sale = Transaction(external_id=external_id, total_paise=total, **lines[0].values)
        session.add(sale)
        session.flush()
        for product_id, pieces, price in items:
            session.add(
                TransactionItem(
                    company_id=sale.company_id,
                    transaction_id=sale.id,
                    product_id=product_id,
                    quantity=pieces,
                    unit_price_paise=price,
                    line_total_paise=pieces * price,
                )
            )
        report.created += 1


_SALE_COLUMN = {
    "store_id": "store_code",
    "rep_id": "rep_code",
    "transaction_date": "date",
    "channel": "channel",
}


def _sale_items(session: CompanySession, sale: Transaction) -> list[tuple[uuid.UUID, int, int]]:
    items = session.exec(select(TransactionItem).where(TransactionItem.transaction_id == sale.id))
    return sorted((i.product_id, i.quantity, i.unit_price_paise) for i in items)


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
            raise FieldError(
                "phone" if identity.role == Role.rep else "owner_phone",
                f"phone {identity.phone} already belongs to another {user.role}",
            )

    def check_staff(self, phone: str) -> None:
        """A manager or admin's phone must not be a rep's or a store owner's."""
        user = self.by_phone.get(phone)
        if user is not None and user.deleted_at is None and user.role in (Role.rep, Role.retailer):
            raise FieldError("phone", f"phone {phone} already belongs to a {user.role}")

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
