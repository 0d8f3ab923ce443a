"""Messages the system sends to people by itself (a morning push, a stock alert, an order held
for credit), each at most once: the outbox row and its `Notification` key are written in the
caller's transaction, so a retried job or turn cannot send it twice."""

from sqlmodel import col, select

from db import outbox
from db.models import Company, Notification, Role, User
from db.scope import CompanySession
from messages import OutboundMessage
from settings import Settings


def messaging_channel(session: CompanySession, settings: Settings) -> tuple[str, str]:
    """The company's channel and number for messages nobody asked for: WhatsApp when it is set
    up (or nothing is: development), else SMS."""
    company = session.get(Company, session.company_id)
    whatsapp = company.settings.get("whatsapp_phone_number_id") or settings.whatsapp_phone_number_id
    sms = company.settings.get("sms_phone_number_id") or settings.twilio_phone_number
    if whatsapp or not sms:
        return "whatsapp", whatsapp or "whatsapp"
    return "sms", sms


def sent_before(session: CompanySession, key: str) -> bool:
    return session.exec(select(Notification.id).where(Notification.key == key)).first() is not None


def queue_once(
    session: CompanySession,
    key: str,
    user: User,
    channel: str,
    our_number: str,
    message: OutboundMessage,
) -> None:
    """Queue `message` for `user` under `key`; the caller commits (a second commit of the same
    key fails on its unique constraint)."""
    (row,) = outbox.record(session, channel, our_number, user.phone, [message])
    session.flush()
    session.add(
        Notification(company_id=session.company_id, key=key, user_id=user.id, message_id=row.id)
    )


def managers(session: CompanySession) -> list[User]:
    return list(
        session.exec(select(User).where(col(User.role).in_([Role.manager, Role.admin]))).all()
    )
