"""A company's people and addresses are redacted from text bound for a prompt."""

from sqlmodel import select

from db.demo import load_demo
from db.engine import company_session
from db.models import Store
from llm.redact import redact, restore
from tools.pii import pii_context


def test_demo_people_phones_and_addresses_are_redacted(engine):
    result = load_demo(engine, stores=12, days=7, progress=False)
    with company_session(result.company_id, engine) as session:
        store = session.exec(select(Store)).first()
        context = pii_context(session)
    text = (
        f"{store.owner_name} ({store.owner_phone}) of {store.name}, {store.address} wants 2 cs "
        "Parle-G"
    )
    redacted = redact(text, context)
    assert redacted.startswith("Store Owner ")
    assert f"(+91****{store.owner_phone[-4:]}) of Store " in redacted
    assert redacted.endswith(", Pune wants 2 cs Parle-G")
    assert restore(redacted, context) == text.replace(
        store.owner_phone, redacted.split("(")[1].split(")")[0]
    ).replace(store.address, "Pune")
