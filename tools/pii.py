"""The personal data of one company, as the redaction before every prompt needs it.

Built per turn from the company's stores, reps and users, and cached for as long as those
tables are unchanged (a count and the latest change of each, checked on every call), so a store
imported a moment ago is redacted from the next prompt.
"""

import threading
import uuid
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, func
from sqlmodel import select

from db.models import Company, Rep, Store, User
from db.scope import CompanySession
from llm.redact import PiiContext

_cache: "WeakKeyDictionary[Engine, dict[uuid.UUID, tuple[tuple, PiiContext]]]" = WeakKeyDictionary()
_lock = threading.Lock()


def pii_context(session: CompanySession) -> PiiContext:
    """Names of the company's stores and people (owners, reps, users) and its addresses."""
    version = tuple(
        tuple(session.exec(select(func.count(), func.max(table.updated_at))).one())
        for table in (Store, Rep, User, Company)
    )
    with _lock:
        known = _cache.setdefault(session.get_bind(), {})
        cached = known.get(session.company_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    stores = session.exec(select(Store.name, Store.owner_name, Store.address, Store.city)).all()
    reps = set(session.exec(select(Rep.name)).all())
    owners = [owner for _, owner, _, _ in stores]
    users = [name for name in session.exec(select(User.name)).all() if name not in reps]
    company = session.get(Company, session.company_id)
    context = PiiContext.build(
        users,
        {address: city for _, _, address, city in stores if address},
        company.settings.get("phone_region", "IN"),
        reps=reps,
        stores=[name for name, _, _, _ in stores],
        owners=owners,
    )
    with _lock:
        known[session.company_id] = (version, context)
    return context
