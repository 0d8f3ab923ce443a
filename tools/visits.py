"""A rep's visit to a store: check in where the store is, check out after a real visit.

Check-in is accepted within `MAX_DISTANCE_M` of the store (GPS_VALIDATION_FAILED with the
distance otherwise); a rep has at most one open visit (VISIT_ALREADY_OPEN; a unique index
enforces it under races too); check-out comes at least `MIN_VISIT` after check-in
(VISIT_TOO_SHORT) and only from the rep who checked in (VISIT_NOT_FOUND for anyone else).
Distances are great-circle (haversine) over the rep's own stores, the same rule on SQLite and
PostgreSQL: a rep has tens of stores, so no spatial index is needed to find the nearest.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from db.models import OrderEB2B, Store, Task, Transaction, Visit
from db.scope import CompanySession
from errors import ApiError

MAX_DISTANCE_M = 100.0
MIN_VISIT = timedelta(minutes=5)
EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Nearest:
    store: Store
    distance_m: float


def open_visit(session: CompanySession, rep_id: uuid.UUID) -> Visit | None:
    return session.exec(
        select(Visit).where(Visit.rep_id == rep_id, col(Visit.checked_out_at).is_(None))
    ).first()


def nearest_store(
    session: CompanySession, rep_id: uuid.UUID, lat: float, lng: float, today: date
) -> Nearest | None:
    """The rep's nearest store: their own stores and those of today's tasks."""
    tasked = select(Task.store_id).where(Task.rep_id == rep_id, Task.due_date == today)
    stores = session.exec(
        select(Store).where(
            Store.is_active, (col(Store.assigned_rep_id) == rep_id) | col(Store.id).in_(tasked)
        )
    ).all()
    found = [Nearest(s, distance_m(lat, lng, s.lat, s.lng)) for s in stores]
    return min(found, key=lambda n: n.distance_m, default=None)


def check_in(
    session: CompanySession,
    rep_id: uuid.UUID,
    lat: float,
    lng: float,
    today: date,
    store_id: uuid.UUID | None = None,
) -> Visit:
    """Open a visit at `store_id`, or at the rep's nearest store; committed."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ApiError(422, "INVALID_LOCATION", f"{lat},{lng} is not a location on Earth.")
    current = open_visit(session, rep_id)
    if current is not None:
        store = session.get(Store, current.store_id)
        raise ApiError(
            409,
            "VISIT_ALREADY_OPEN",
            f"You are checked in at {store.name} since {current.checked_in_at:%H:%M} UTC; "
            "check out there first.",
        )
    if store_id is not None:
        store = session.get(Store, store_id)
        if store is None or not store.is_active:
            raise ApiError(404, "STORE_NOT_FOUND", f"No store {store_id}.")
        near = Nearest(store, distance_m(lat, lng, store.lat, store.lng))
    else:
        nearest = nearest_store(session, rep_id, lat, lng, today)
        if nearest is None:
            raise ApiError(404, "STORE_NOT_FOUND", "You have no stores to visit.")
        near = nearest
    if near.distance_m > MAX_DISTANCE_M:
        raise ApiError(
            422,
            "GPS_VALIDATION_FAILED",
            f"You are {near.distance_m:,.0f} m from {near.store.name}; check in within "
            f"{MAX_DISTANCE_M:.0f} m of the store.",
        )
    visit = Visit(
        company_id=session.company_id,
        rep_id=rep_id,
        store_id=near.store.id,
        visit_date=today,
        checked_in_at=datetime.now(UTC),
        check_in_lat=lat,
        check_in_lng=lng,
        distance_m=round(near.distance_m, 1),
        outcome="open",
    )
    session.add(visit)
    try:
        session.commit()
    except IntegrityError:  # a second check-in raced this one
        session.rollback()
        raise ApiError(409, "VISIT_ALREADY_OPEN", "You are already checked in.") from None
    return visit


def check_out(
    session: CompanySession, rep_id: uuid.UUID, visit_id: uuid.UUID, notes: str = ""
) -> Visit:
    """Close the rep's visit; its outcome is "order" when an order was taken for the store
    during it. Committed."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.rep_id != rep_id:
        raise ApiError(404, "VISIT_NOT_FOUND", f"No visit {visit_id} of yours.")
    if visit.checked_out_at is not None:
        raise ApiError(409, "VISIT_CLOSED", f"You checked out at {visit.checked_out_at:%H:%M} UTC.")
    now = datetime.now(UTC)
    if now - visit.checked_in_at < MIN_VISIT:
        minutes = (now - visit.checked_in_at).total_seconds() / 60
        raise ApiError(
            422,
            "VISIT_TOO_SHORT",
            f"You checked in {minutes:.0f} min ago; a visit lasts at least "
            f"{MIN_VISIT.total_seconds() / 60:.0f} min.",
        )
    ordered = session.exec(
        select(OrderEB2B.id)
        .join(Transaction, col(Transaction.id) == col(OrderEB2B.transaction_id))
        .where(
            OrderEB2B.store_id == visit.store_id,
            OrderEB2B.created_at >= visit.checked_in_at,
            OrderEB2B.status != "cancelled",
            Transaction.rep_id == rep_id,
        )
    ).first()
    visit.checked_out_at, visit.outcome, visit.notes = (
        now,
        "order" if ordered else "no_order",
        notes,
    )
    session.commit()
    return visit
