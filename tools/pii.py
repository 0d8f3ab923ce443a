"""The personal data of one company, as the redaction before every prompt needs it."""

from sqlmodel import select

from db.models import Company, Rep, Store, User
from db.scope import CompanySession
from llm.redact import PiiContext


def pii_context(session: CompanySession) -> PiiContext:
    """Names of the company's people (store owners, reps, users) and its stores' addresses."""
    stores = session.exec(select(Store.owner_name, Store.address, Store.city)).all()
    names = [owner for owner, _, _ in stores]
    names += session.exec(select(Rep.name)).all()
    names += session.exec(select(User.name)).all()
    company = session.get(Company, session.company_id)
    return PiiContext.build(
        names,
        {address: city for _, address, city in stores},
        company.settings.get("phone_region", "IN"),
    )
