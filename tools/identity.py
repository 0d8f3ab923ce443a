"""Who a phone number is within a company."""

from sqlmodel import select

from db.models import User
from db.scope import CompanySession


def who(session: CompanySession, phone: str) -> User | None:
    """The company's user with this E.164 phone, or None for a stranger."""
    return session.exec(select(User).where(User.phone == phone)).first()
