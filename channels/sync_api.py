"""The sync API: a distributor's own system (ERP, DMS) keeps our copy of its data current.

    PUT  /api/v1/stock          stock on hand: [{"sku", "quantity", "warehouse"?, "reorder_level"?}]
    POST /api/v1/transactions   sales: [{"external_id", "store_code", "date", "rep_code"?,
                                "channel"?, "items": [{"sku", "quantity", "unit_price_inr"?}]}]
    POST /api/v1/stores         stores, the columns of `opensales import stores`
    POST /api/v1/products       products, the columns of `opensales import catalog`
    POST /api/v1/payments       payments received: [{"external_id", "store_code", "date",
                                "amount_inr", "method"?}]

Each body is a JSON list (or {"items": [...]}) and is checked by the importer's own rules: all
of it is written or, with any bad entry, none of it (422 IMPORT_INVALID, each error with its
index and field). Everything is idempotent by the external id, so a retry changes nothing. The
caller is an admin token of the company (`channels/auth.py`).
"""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from channels.auth import Principal, request_principal
from db.engine import company_session
from db.importer import ImportFileError, ImportReport, import_file
from db.models import Role
from errors import ApiError

MAX_ENTRIES = 10_000


async def _admin(request: Request) -> Principal:
    principal = await request_principal(request)
    if principal.role != Role.admin:
        raise ApiError(403, "ROLE_FORBIDDEN", "The sync API needs an admin token.")
    return principal


async def _entries(request: Request) -> list:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "MALFORMED_JSON", "The body is not valid JSON.") from None
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        body = body["items"]
    if not isinstance(body, list) or not body:
        raise ApiError(422, "INVALID_BODY", 'Send a non-empty JSON list, or {"items": [...]}.')
    if len(body) > MAX_ENTRIES:
        raise ApiError(413, "BODY_TOO_LARGE", f"Send at most {MAX_ENTRIES} entries per call.")
    return body


def _sale_lines(sales: list) -> tuple[list, list[int]]:
    """Each sale with its items as the importer's lines (one per item), and the sale's position
    in the body for each line, so that errors point at the sale."""
    lines, positions = [], []
    for position, sale in enumerate(sales):
        items = sale.get("items") if isinstance(sale, dict) else None
        head = {k: v for k, v in sale.items() if k != "items"} if isinstance(sale, dict) else sale
        if not isinstance(items, list) or not items:
            lines.append(head)  # the importer reports it: a sale with no sku and quantity
            positions.append(position)
            continue
        for item in items:
            lines.append({**head, **item} if isinstance(item, dict) else item)
            positions.append(position)
    return lines, positions


async def _import(request: Request, kind: str, entries: list, positions: list[int]) -> JSONResponse:
    principal = await _admin(request)

    def run() -> ImportReport:
        with company_session(principal.company_id, request.app.state.runtime.engine) as session:
            return import_file(session, kind, entries, fmt="json", strict=True)

    try:
        report = await asyncio.to_thread(run)
    except ImportFileError as exc:
        raise ApiError(422, "IMPORT_INVALID", str(exc)) from None
    counts = {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}
    if report.errors:
        errors = [
            {"index": positions[e.line - 1], "field": e.column, "message": e.message}
            for e in report.errors
        ]
        return JSONResponse(
            {
                "code": "IMPORT_INVALID",
                "message": f"{len(errors)} bad entr{'y' if len(errors) == 1 else 'ies'}; "
                "nothing was written",
                "errors": errors,
            },
            status_code=422,
        )
    return JSONResponse(counts)


async def stock(request: Request) -> JSONResponse:
    entries = await _entries(request)
    return await _import(request, "stock", entries, list(range(len(entries))))


async def transactions(request: Request) -> JSONResponse:
    lines, positions = _sale_lines(await _entries(request))
    return await _import(request, "transactions", lines, positions)


async def stores(request: Request) -> JSONResponse:
    entries = await _entries(request)
    return await _import(request, "stores", entries, list(range(len(entries))))


async def products(request: Request) -> JSONResponse:
    entries = await _entries(request)
    return await _import(request, "catalog", entries, list(range(len(entries))))


async def payments(request: Request) -> JSONResponse:
    entries = await _entries(request)
    return await _import(request, "payments", entries, list(range(len(entries))))


routes = [
    Route("/api/v1/stock", stock, methods=["PUT"]),
    Route("/api/v1/transactions", transactions, methods=["POST"]),
    Route("/api/v1/stores", stores, methods=["POST"]),
    Route("/api/v1/products", products, methods=["POST"]),
    Route("/api/v1/payments", payments, methods=["POST"]),
]
