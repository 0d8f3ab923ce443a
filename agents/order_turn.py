"""The order agent as a node of the supervisor graph: a retailer's turn into `agents.order`."""

import uuid

from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.order import Turn, handle
from db.models import OrderEB2B, Store
from memory.profile import remember


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    store = ctx.session.get(Store, ctx.sender.store_id) if ctx.sender.store_id else None
    if store is None:
        ctx.say(
            "Orders here are placed for a store. Ask your distributor to link your number "
            "to your store, or (for reps) use the visit flow to capture a store's order."
        )
        return {"active": None}
    choice = state.get("choice")
    if choice and choice.startswith("menu:"):
        ctx.say(
            'Send your order, e.g. "2 cs Parle-G 250g, 1 ctn Coke 750ml", or ask '
            '"where is my order".'
        )
        return {"active": None}
    turn = Turn(
        session=ctx.session,
        store=store,
        channel=ctx.channel,
        conversation=ctx.conversation,
        parser=ctx.parser,
        llm=ctx.llm,
        source_message_id=ctx.source_message_id,
    )
    last_order = ctx.conversation.state.get("last_order")
    ctx.replies.extend(await handle(turn, state.get("text", ""), choice))
    if ctx.conversation.state.get("last_order", last_order) != last_order:  # a new order
        usual = usual_order(ctx, store.id)
        ctx.commit()  # the order, its message answered and the confirmation, before any await
        await remember(ctx.store, ctx.company_id, ctx.sender.key, usual_order=usual)
    waiting = any(key in ctx.conversation.state for key in ("question", "substitute", "confirm"))
    return {"active": "order" if waiting else None}


def usual_order(
    ctx: AgentContext, store_id: uuid.UUID, orders: int = 5, items: int = 5
) -> list[str]:
    """The products a store orders most often over its last few orders, by name."""
    recent = ctx.session.exec(
        select(OrderEB2B)
        .where(OrderEB2B.store_id == store_id)
        .order_by(OrderEB2B.created_at.desc())
        .limit(orders)
    ).all()
    counts: dict[str, int] = {}
    for order in recent:
        for item in order.items:
            name = item.get("name") or item.get("sku")
            if name:
                counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda name: -counts[name])[:items]
