"""Credit in chat: a retailer asks what it owes ("udhaar kitna hai"); a rep asks about the store
being visited or one of theirs by name; a manager about any store, the riskiest accounts, and
the orders held for credit, which a manager releases or cancels with a button (the retailer is
told). The numbers come from `tools/credit.py`, the order's fate from `tools/orders.py`."""

from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from agents.tasks import today
from db.models import OrderEB2B, Role, Store, User
from messages import Button, OutboundMessage
from phrases import CREDIT_ASKS, CREDIT_SURE
from tools.alerts import messaging_channel, queue_once
from tools.credit import Credit, riskiest, store_credit, tracked
from tools.forecasts import named_store
from tools.money import rupees
from tools.orders import HELD, cancel_order, held_orders, release_order
from tools.visits import open_visit

STAFF = frozenset({Role.manager, Role.admin})
SHOWN = 8
NOT_TRACKED = (
    "Credit is not tracked here yet: payments have not been imported "
    "(`opensales import payments`, or the sync API's /api/v1/payments)."
)


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    choice = state.get("choice") or ""
    if choice.startswith("credit:"):
        _decide(ctx, choice)
        return {"active": None}
    text = state.get("text", "")
    if not tracked(ctx.session):
        ctx.say(NOT_TRACKED)
        return {"active": None}
    store = _store(ctx, text)
    if store is not None:
        credit = store_credit(ctx.session, store, today(ctx))
        assert credit is not None
        ctx.say(_standing(ctx, credit))
    elif ctx.sender.role in STAFF and ("held" in text.lower() or "hold" in text.lower()):
        _held(ctx)
    else:
        _riskiest(ctx)
    return {"active": None}


def _store(ctx: AgentContext, text: str) -> Store | None:
    """The store asked about: the retailer's own; the one a rep is visiting or names among
    theirs; any a manager names."""
    if ctx.sender.role == Role.retailer:
        return ctx.session.get(Store, ctx.sender.store_id) if ctx.sender.store_id else None
    query = select(Store).where(Store.is_active)
    if ctx.sender.role == Role.rep:
        query = query.where(Store.assigned_rep_id == ctx.sender.rep_id)
    named = named_store(text, ctx.session.exec(query).all())
    if named is not None or ctx.sender.rep_id is None:
        return named
    visit = open_visit(ctx.session, ctx.sender.rep_id)
    return ctx.session.get(Store, visit.store_id) if visit is not None else None


def _standing(ctx: AgentContext, credit: Credit) -> str:
    mine = ctx.sender.role == Role.retailer
    lines = [credit.summary()]
    if credit.available is not None:
        lines.append(f"Available to order on credit: {rupees(credit.available)}.")
    if credit.reasons and not mine:
        lines.append("Tier drivers: " + "; ".join(r["reason"] for r in credit.reasons) + ".")
    waiting = [o for o in held_orders(ctx.session) if o.store_id == credit.store.id]
    for order in waiting:
        lines.append(
            f"Order #{order.order_number} ({rupees(order.total_paise)}) waits for credit approval."
        )
    if mine and credit.standing.overdue:
        lines.append(f"Paying {rupees(credit.standing.overdue)} clears what is overdue.")
    heading = "Your account" if mine else credit.store.name
    return f"{heading}:\n" + "\n".join(lines)


def _held(ctx: AgentContext) -> None:
    waiting = held_orders(ctx.session)
    if not waiting:
        ctx.say("No order is waiting for credit approval.")
        return
    stores = {s.id: s for s in ctx.session.exec(select(Store))}
    for order in waiting[:SHOWN]:
        store = stores[order.store_id]
        credit = store_credit(ctx.session, store, today(ctx))
        assert credit is not None
        ctx.say(
            f"Order #{order.order_number} from {store.name}, {rupees(order.total_paise)}.\n"
            + credit.summary(),
            buttons=hold_buttons(order.order_number),
        )
    if len(waiting) > SHOWN:
        ctx.say(f"…and {len(waiting) - SHOWN} more.")


def _riskiest(ctx: AgentContext) -> None:
    scored = riskiest(ctx.session, SHOWN)
    if ctx.sender.role == Role.rep:
        scored = [(s, p) for s, p in riskiest(ctx.session, 500) if s.assigned_rep_id
                  == ctx.sender.rep_id][:SHOWN]  # fmt: skip
    if not scored:
        ctx.say(
            "No credit scores yet: they are made each night (`opensales jobs run risk`). "
            "Ask about one store by name."
        )
        return
    lines = [
        f"{n}. {store.name}: tier {p.details.get('tier')}, "
        f"{rupees(p.details.get('outstanding_paise', 0))} owed"
        + (f", {p.details['days_overdue']} days overdue" if p.details.get("days_overdue") else "")
        for n, (store, p) in enumerate(scored, 1)
    ]
    ctx.say("Highest credit risk:\n" + "\n".join(lines))


def _decide(ctx: AgentContext, choice: str) -> None:
    """A manager's button on a held order: release or cancel it, and tell the retailer."""
    if ctx.sender.role not in STAFF:
        ctx.say("Only a manager can release or cancel an order held for credit.")
        return
    _, action, number = choice.split(":", 2)
    order = ctx.session.exec(select(OrderEB2B).where(OrderEB2B.order_number == int(number))).first()
    if order is None:
        ctx.say(f"I can't find order #{number}.")
        return
    if order.status != HELD:
        ctx.say(f"Order #{number} is already {order.status}.")
        return
    if action == "release":
        release_order(ctx.session, order)
        said = f"Order #{number} is approved and will be delivered."
    else:
        cancel_order(ctx.session, order)
        said = f"Order #{number} was not approved: it is over your credit limit. Please pay " \
            "your dues, or talk to your sales rep."  # fmt: skip
    for user in ctx.session.exec(
        select(User).where(User.store_id == order.store_id, User.role == Role.retailer)
    ):
        channel, our_number = messaging_channel(ctx.session, ctx.settings)
        key = f"credit_decision:{number}:{user.id}"
        queue_once(ctx.session, key, user, channel, our_number, OutboundMessage(text=said))
        ctx.elsewhere.add((channel, user.phone))
    ctx.say(f"Order #{number} {'released' if action == 'release' else 'cancelled'}; the store "
            "is told.")  # fmt: skip


def hold_buttons(number: int) -> list[Button]:
    """A manager's choice on a held order; the ids bring the press back to this agent."""
    return [
        Button(id=f"credit:release:{number}", title="Release it"),
        Button(id=f"credit:cancel:{number}", title="Cancel it"),
    ]


SPEC = AgentSpec(
    name="credit",
    answer=answer,
    roles=frozenset({Role.retailer, Role.rep, Role.manager, Role.admin}),
    description="money a store owes the distributor: udhaar, unpaid bills, payment dues, "
    "its credit limit and credit tier; orders held for credit approval.",
    examples=(
        (Role.retailer, "how much udhaar do I owe"),
        (Role.manager, "which stores have unpaid bills"),
    ),
    keywords=CREDIT_ASKS,
    sure=CREDIT_SURE,
    commands=("/credit",),
    menu=("Credit", 'credit: "my credit", "held orders"'),
    denied="Credit is for retailers and the sales team.",
    tools=("credit", "orders"),
)
