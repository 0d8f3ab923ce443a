"""Credit: payments settle the oldest bills first, imported payments and terms, tiers learned from
payment history, and an order over the limit held for a manager who releases it in chat."""

import math
import re
from datetime import date, timedelta

from sqlmodel import select

from db.demo import load_demo
from db.engine import company_session
from db.models import OrderEB2B, Payment, Prediction, Role, Store, User
from ml.credit import Ledger, defaulted, settled_days, standing
from tests.test_importer import REPS, STORES, run_import
from tests.test_whatsapp_pipeline import replies, retailer, say, shop  # noqa: F401
from tools.credit import score_credit, store_credit

# two bills (100 on day 0, 200 on day 5) on 14-day terms; 150 paid on day 10, 150 on day 40
LEDGER = Ledger(invoices=[(0, 100), (5, 200)], payments=[(10, 150), (40, 150)], credit_days=14)


def test_payments_settle_the_oldest_bill_first_and_lateness_counts_from_the_due_date():
    assert settled_days(LEDGER) == [10, 40]
    on_day_30 = standing(LEDGER, 30)
    # the first bill is paid; 150 of the second is open, due on day 19: 11 days overdue
    assert (on_day_30.outstanding, on_day_30.overdue, on_day_30.days_overdue) == (150, 150, 11)
    assert standing(LEDGER, 40).outstanding == 0
    unpaid = Ledger(invoices=[(0, 100)], payments=[(3, 60)], credit_days=7)
    assert settled_days(unpaid) == [math.inf]
    assert standing(unpaid, 5).overdue == 0  # not due yet
    # due day 7, 30 days late on day 37: a default for a cut-off in the 60 days before that
    assert defaulted(unpaid, cutoff=0) and not defaulted(unpaid, cutoff=40)
    assert not defaulted(LEDGER, cutoff=0)  # paid 21 days after the due date: late, not 30


def test_payments_and_credit_terms_import_with_bad_lines_named(engine, two_companies):
    alpha, _ = two_companies
    run_import(engine, alpha, "reps", REPS)
    terms = STORES.replace("rep_code\n", "rep_code,credit_limit_inr,credit_days\n", 1)
    terms = terms.replace(",R01\n", ",R01,20000,7\n").replace("73.841,\n", "73.841,,,\n")
    assert run_import(engine, alpha, "stores", terms).errors == []
    today = date.today()
    report = run_import(
        engine,
        alpha,
        "payments",
        "external_id,store_code,date,amount_inr,method\n"
        f"R1,ST1,{today - timedelta(days=3)},1500.50,UPI\n"
        f"R2,ST9,{today},100,cash\n"
        f"R3,ST2,{today + timedelta(days=2)},100,cash\n"
        f"R4,ST2,{today},0,cash\n",
    )
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "store_code"),
        (4, "date"),
        (5, "amount_inr"),
    ]
    assert "'ST9' is not a store of this company" in report.errors[0].message
    with company_session(alpha, engine) as session:
        (paid,) = session.exec(select(Payment)).all()
        assert (paid.amount_paise, paid.method, paid.external_id) == (150050, "upi", "R1")
        stores = {s.code: s for s in session.exec(select(Store))}
        assert (stores["ST1"].credit_limit_paise, stores["ST1"].credit_days) == (2_000_000, 7)
        assert (stores["ST2"].credit_limit_paise, stores["ST2"].credit_days) == (0, 14)
    again = run_import(
        engine, alpha, "payments", f"external_id,store_code,date,amount_inr\nR1,ST1,{today},9\n"
    )
    assert (again.created, again.updated) == (0, 1)  # the receipt's id: corrected, not doubled


def test_stores_that_pay_late_are_scored_riskier_with_their_reasons(engine):
    company = load_demo(engine, stores=60, days=180, progress=False).company_id
    with company_session(company, engine) as session:
        day = date.today()
        made = score_credit(session, day)
        assert made.written == 60 and made.fallback is None
        scores = session.exec(select(Prediction).where(Prediction.model == "credit")).all()
        worst = max(scores, key=lambda p: p.details["days_overdue"])
        clean = [p for p in scores if p.details["days_overdue"] == 0]
        assert worst.details["days_overdue"] > 30 and worst.details["tier"] in ("C", "D")
        assert worst.value > sorted(p.value for p in clean)[len(clean) // 2]
        assert "overdue" in " ".join(r["reason"] for r in worst.details["reasons"])
        store = session.get(Store, worst.store_id)
        credit = store_credit(session, store, day)
        assert credit is not None and credit.tier == worst.details["tier"]
        assert credit.standing.outstanding == worst.details["outstanding_paise"]
        assert f"credit tier {credit.tier}" in credit.summary()


def _manager(client, company_id) -> str:
    with company_session(company_id, client.app.state.runtime.engine) as session:
        return session.exec(select(User).where(User.role == Role.manager)).first().phone


def test_an_order_over_the_limit_waits_for_a_manager_who_releases_it(shop):  # noqa: F811
    client, company_id = shop
    phone, store = retailer(client, company_id, index=3)
    manager = _manager(client, company_id)
    engine = client.app.state.runtime.engine
    with company_session(company_id, engine) as session:
        owed = store_credit(session, session.get(Store, store.id), date.today())
        assert owed is not None
        session.get(Store, store.id).credit_limit_paise = owed.standing.outstanding + 100_00
        session.commit()
    say(client, phone, "2 cs parle g 250")
    (held,) = replies(client, phone, 1)
    assert "waits for your distributor's approval" in held.text
    number = int(held.text.split("#")[1].split()[0])
    alert = replies(client, manager, 1)[-1]  # a template: the manager's window is closed
    assert f"Credit hold: order #{number} from {store.name}" in alert.text
    assert 'Reply "held orders"' in alert.text

    say(client, manager, "held orders")
    listed = replies(client, manager, 2)[-1]
    assert listed.text.startswith(f"Order #{number} from {store.name}")
    assert [b.id for b in listed.buttons] == [f"credit:release:{number}", f"credit:cancel:{number}"]
    say(client, phone, button={"id": f"credit:release:{number}", "title": "Release it"})
    assert replies(client, phone, 2)[-1].text.startswith("Only a manager")
    say(client, manager, button={"id": f"credit:release:{number}", "title": "Release it"})
    assert f"Order #{number} released" in replies(client, manager, 3)[-1].text
    assert "is approved" in replies(client, phone, 3)[-1].text
    with company_session(company_id, engine) as session:
        order = session.exec(select(OrderEB2B).where(OrderEB2B.order_number == number)).one()
        assert order.status == "confirmed"

    say(client, phone, "udhaar kitna hai")
    account = replies(client, phone, 4)[-1].text
    assert account.startswith("Your account:\nCredit: ") and "limit" in account


def test_an_order_within_the_limit_says_what_is_owed(shop):  # noqa: F811
    client, company_id = shop
    phone, _store = retailer(client, company_id, index=4)
    say(client, phone, "1 cs parle g 250")
    (confirmed,) = replies(client, phone, 1)
    assert "confirmed" in confirmed.text and "\nCredit: ₹" in confirmed.text


def test_a_manager_asks_who_owes_the_most(shop):  # noqa: F811
    client, company_id = shop
    manager = _manager(client, company_id)
    with company_session(company_id, client.app.state.runtime.engine) as session:
        assert score_credit(session, date.today()).written > 0
    sent = len(client.app.state.runtime.senders["whatsapp"].sent[manager])
    say(client, manager, "which stores owe the most")
    listed = replies(client, manager, sent + 1)[-1].text
    assert listed.startswith("Highest credit risk:\n1. ")
    assert re.search(r"^1\. .+: tier [A-D], ₹[\d,]+ owed", listed, re.M)
