"""The order agent: a retailer's message in, the replies out (seed section 2.2); its one
interface is `answer`, the graph node, like every agent's.

parse -> match -> confidence -> inventory -> act. All items understood and in stock: the order
is created and confirmed with its number, total and delivery promise. An item out of stock: a
substitute from the same category and price band is offered with buttons. Anything unclear:
one question, keeping what was understood, with the candidates as buttons. Follow-ups in the
conversation: button replies, "yes"/"no", "add 2 more maggi", "remove coke", "repeat my last
order", "where is my order", "cancel order 1234".
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.credit import hold_buttons
from agents.order_reading import Reading, read_order
from agents.spec import AgentSpec
from db.models import (
    Channel,
    Company,
    Conversation,
    OrderEB2B,
    Product,
    Role,
    StockLevel,
    Store,
    Transaction,
    TransactionItem,
)
from db.scope import CompanySession
from llm.service import LLMService
from memory.profile import remember
from messages import Button, OutboundMessage
from phrases import (
    ADD,
    AGREEING,
    CANCEL_ORDER,
    NO,
    ORDER_ASKS,
    REMOVE,
    REPEAT_WORDS,
    STATUS_WORDS,
    SUGGEST_ASKS,
    YES,
)
from settings import Settings
from tools.alerts import managers, messaging_channel, queue_once
from tools.basket import Purchases, suggest_basket
from tools.credit import Credit, store_credit
from tools.devanagari import to_latin
from tools.money import inr
from tools.order_parser import (
    ALL_UNITS,
    NUMBER_WORDS,
    CatalogItem,
    OrderParser,
    ParsedLine,
    normalise,
    quantities,
)
from tools.orders import HELD, cancel_order
from tools.schemes import Priced, price_line, running
from tools.stock import on_hand, stock_tracked
from tools.visits import open_visit

MAX_PIECES_PER_LINE = 100_000


@dataclass
class _Turn:
    """What the agent needs for one turn of one retailer."""

    session: CompanySession
    store: Store
    channel: Channel
    conversation: Conversation
    parser: OrderParser
    llm: LLMService | None
    source_message_id: Any  # the first message of the batch: one order per source message
    stock_tracked: bool | None = None  # read once per turn, when first needed
    rep_id: uuid.UUID | None = None  # the rep taking the order during a visit
    settings: Settings | None = None  # where a manager's credit alert goes from
    elsewhere: set[tuple[str, str]] = field(default_factory=set)  # the context's: see there


def yes_or_no(text: str) -> bool | None:
    """ "Yes.", "yes, please place it", "no thanks" as said or as a speech recogniser writes
    them; None for anything more ("no, 2 cases of Maggi" is a new order)."""
    words = re.sub(r"[^\w\s']", " ", to_latin(text).lower()).split()
    if not words or words[0] not in YES | NO or not set(words[1:]) <= AGREEING:
        return None
    return words[0] in YES


def line_state(line: ParsedLine) -> dict:
    return {
        "text": line.text,
        "candidates": line.candidates,
        "quantity": line.quantity,
        "unit": line.unit,
        "pieces": line.pieces,
    }


def line_from(state: dict, sku: str | None = None) -> ParsedLine:
    return ParsedLine(
        state["text"],
        [sku] if sku else state["candidates"],
        state["quantity"],
        state["unit"],
        state["pieces"],
        1.0,
    )


def describe(parser: OrderParser, line: ParsedLine) -> str:
    """ "2 cs Parle-G 250g" or "12 pcs Lux 100g"."""
    item = parser.items[line.sku]
    if line.unit == "case" and line.quantity:
        return f"{line.quantity} cs {item.name}"
    return f"{line.pieces} pcs {item.name}"


def short_title(item: CatalogItem, prefix: str = "") -> str:
    """A button title within WhatsApp's 20 characters that keeps the pack size, so that
    "Surf Excel Easy Wash 500g" and "... 1kg" stay tellable apart."""
    title = prefix + item.name
    if len(title) <= 20:
        return title
    base = item.name.removesuffix(item.pack_size).strip()
    room = 20 - len(prefix) - len(item.pack_size) - 1
    return f"{prefix}{base[:room].strip()} {item.pack_size}"


async def _handle(turn: _Turn, text: str, choice_id: str | None) -> list[OutboundMessage]:
    """One turn: the retailer's message (or button) in, our replies out."""
    state = turn.conversation.state
    lowered = text.strip().lower()
    if choice_id:
        return await _on_choice(turn, choice_id)
    if state.get("confirm") and (answer := yes_or_no(lowered)) is not None:
        return await _on_choice(turn, "confirm:yes" if answer else "confirm:no")
    if state.get("substitute") and lowered in YES | NO:
        accept = lowered in YES and state["substitute"]["sku"] is not None
        return await _on_choice(turn, "sub:yes" if accept else "sub:no")
    if match := CANCEL_ORDER.search(lowered):
        return [_cancel(turn, int(match.group(1)))]
    if STATUS_WORDS.search(lowered):
        return [_status(turn)]
    if REPEAT_WORDS.search(lowered):
        return await _repeat(turn)
    if SUGGEST_ASKS.search(lowered):
        return [_suggest(turn)]
    if match := REMOVE.match(lowered):
        if _last_open_order(turn) is None:
            return [OutboundMessage(text="There is no open order to change. Send a new order.")]
        return [await _remove(turn, match.group(2))]
    if (how_many := _quantity_answer(turn, text)) is not None:
        return [await _act(turn, how_many)]
    reading = await read_order(text, turn.parser, turn.llm)
    if ADD.match(lowered) and not reading.clarify and _last_open_order(turn) is not None:
        return [await _add(turn, reading.lines)]
    # what was understood before a question carries on; an unanswered substitute offer does not
    # and an offered suggestion gives way to the order sent instead
    carried = state.get("items", []) if not {"substitute", "offer"} & set(state) else []
    pending = [line_from(item) for item in carried if item["candidates"][0] in turn.parser.items]
    return await _after_reading(turn, reading, pending)


def _quantity_answer(turn: _Turn, text: str) -> list[ParsedLine] | None:
    """ "2" or "3 cs" answering "How many of X?": the order with that quantity. A bare number
    means cases (a distributor sells by the case; the confirmation shows which)."""
    question = turn.conversation.state.get("question")
    if not question or question["quantity"] is not None or len(question["candidates"]) != 1:
        return None
    words = normalise(text).split()
    found = quantities(words)
    if (
        len(found) != 1
        or found[0][0] is None
        or not all(w.isdigit() or w in ALL_UNITS or w in NUMBER_WORDS for w in words)
    ):
        return None
    number, unit = found[0]
    unit = "case" if not any(w in ALL_UNITS for w in words) else unit
    sku = question["candidates"][0]
    item = turn.parser.items.get(sku)
    if item is None:
        return None
    pieces = number * (item.units_per_case if unit == "case" else 1)
    understood = [line_from(state) for state in turn.conversation.state.get("items", [])]
    understood = [line for line in understood if line.sku in turn.parser.items]
    return [*understood, ParsedLine(question["text"], [sku], number, unit, pieces, 1.0)]


async def _after_reading(
    turn: _Turn, reading: Reading, pending: list[ParsedLine]
) -> list[OutboundMessage]:
    lines = pending + reading.lines
    if reading.question is not None:
        return [_ask(turn, lines, reading.question)]
    if reading.unknown:
        turn.conversation.state = {"items": [line_state(line) for line in lines]}
        understood = _understood(turn, lines)
        return [
            OutboundMessage(
                text=(
                    f'{understood}Sorry, I could not find "{reading.unknown[0]}" in our catalogue. '
                    'Please send the product name with its size, e.g. "2 cs Parle-G 250g".'
                )
            )
        ]
    if not lines:
        return [
            OutboundMessage(
                text=(
                    "Namaste! Send your order as product, size and quantity, for example "
                    '"2 cs Parle-G 250g, 1 ctn Coke 750ml". You can also ask "where is my order".'
                )
            )
        ]
    return [await _act(turn, lines)]


def _understood(turn: _Turn, lines: list[ParsedLine]) -> str:
    if not lines:
        return ""
    return "I understood " + ", ".join(describe(turn.parser, line) for line in lines) + ". "


def _ask(turn: _Turn, understood: list[ParsedLine], question: ParsedLine) -> OutboundMessage:
    """One question about one line, keeping what was understood, candidates as buttons."""
    turn.conversation.state = {
        "items": [line_state(line) for line in understood if line is not question],
        "question": line_state(question),
    }
    names = [turn.parser.items[sku].name for sku in question.candidates[:10]]
    understood_text = _understood(turn, [line for line in understood if line is not question])
    if question.problem == "no quantity":
        ask = f"How many of {names[0]} do you need (cases or pieces)?"
    elif question.problem == "size not sold":
        ask = f"We don't have that pack of {question.text}. We have " + " or ".join(names) + "."
    elif len(names) > 1:
        ask = f"Did you mean {' or '.join(names)}?"
    else:
        ask = f"Did you mean {names[0]}?"
    buttons = (
        [
            Button(id=f"pick:{sku}", title=short_title(turn.parser.items[sku]))
            for sku in question.candidates[:10]
        ]
        if question.problem != "no quantity"
        else []
    )
    return OutboundMessage(
        text=understood_text + ask, buttons=buttons, options_title="Choose a product"
    )


async def _on_choice(turn: _Turn, choice: str) -> list[OutboundMessage]:
    state = turn.conversation.state
    items = [line_from(item) for item in state.get("items", [])]
    items = [line for line in items if line.sku in turn.parser.items]  # still sold
    if choice.startswith("pick:") and state.get("question"):
        question = state["question"]
        sku = choice.removeprefix("pick:")
        if sku not in question["candidates"] or sku not in turn.parser.items:
            return [OutboundMessage(text="That choice has expired; please send the order again.")]
        chosen = line_from(question, sku)
        item = turn.parser.items[sku]
        if chosen.quantity is None:  # the product is settled; the quantity is still to come
            chosen.problem = "no quantity"
            return [_ask(turn, items, chosen)]
        chosen.pieces = chosen.quantity * (item.units_per_case if chosen.unit == "case" else 1)
        return [await _act(turn, [*items, chosen])]
    if choice.startswith("confirm:") and state.get("confirm"):
        if choice == "confirm:no" or not items:
            turn.conversation.state = {}
            return [OutboundMessage(text="OK, I have not placed it. Please say your order again.")]
        return [await _act(turn, items, confirmed=True)]
    if choice.startswith("sub:") and state.get("substitute"):
        missing = line_from(state["substitute"]["line"])
        replacement = state["substitute"]["sku"]
        if choice == "sub:no" or replacement not in turn.parser.items:
            items = [line for line in items if line.sku != missing.sku]
        else:
            items = [
                _swapped(turn, line, replacement) if line.sku == missing.sku else line
                for line in items
            ]
        if not items:
            turn.conversation.state = {}
            return [OutboundMessage(text="OK, nothing ordered. Send a new order any time.")]
        return [await _act(turn, items)]
    return [OutboundMessage(text="That choice has expired; please send the order again.")]


def _swapped(turn: _Turn, line: ParsedLine, sku: str) -> ParsedLine:
    """The same quantity of the substitute, counted in the substitute's own cases."""
    swapped = line_from(line_state(line), sku)
    if swapped.unit == "case" and swapped.quantity:
        swapped.pieces = swapped.quantity * turn.parser.items[sku].units_per_case
    return swapped


def _stock(turn: _Turn, sku: str) -> int:
    """Pieces available; an untracked product counts as plenty (see `tools.stock`)."""
    product = turn.session.exec(select(Product).where(Product.sku == sku)).one()
    pieces = on_hand(turn.session, product.id, _tracked(turn))
    return MAX_PIECES_PER_LINE if pieces is None else pieces


def _tracked(turn: _Turn) -> bool:
    if turn.stock_tracked is None:
        turn.stock_tracked = stock_tracked(turn.session)
    return turn.stock_tracked


def _untracked_note(turn: _Turn, products: list[Product]) -> str:
    if _tracked(turn):
        return ""
    names = [p.name for p in products if on_hand(turn.session, p.id, False) is None]
    if not names:
        return ""
    return (
        f" We don't track stock for {', '.join(names[:3])}{' and more' if len(names) > 3 else ''}"
        " yet: your distributor confirms availability before delivery."
    )


def _substitute(turn: _Turn, line: ParsedLine) -> CatalogItem | None:
    """The in-stock product of the same category nearest in price."""
    wanted = turn.parser.items[line.sku]
    options = [
        item
        for item in turn.parser.items.values()
        if item.category == wanted.category
        and item.sku != wanted.sku
        and abs(item.price_paise - wanted.price_paise) <= wanted.price_paise * 0.35
        and _stock(turn, item.sku) >= (line.pieces or 1)
    ]
    return min(options, key=lambda item: abs(item.price_paise - wanted.price_paise), default=None)


async def _act(turn: _Turn, lines: list[ParsedLine], confirmed: bool = False) -> OutboundMessage:
    lines = _merge_same(lines)
    for line in lines:
        if not line.pieces or line.pieces > MAX_PIECES_PER_LINE:
            turn.conversation.state = {}
            return OutboundMessage(
                text=(
                    f"{line.pieces or 0} pieces of {turn.parser.items[line.sku].name} is more "
                    "than we take in one order. Please call your sales rep for bulk orders."
                )
            )
        available = _stock(turn, line.sku)
        if available < line.pieces:
            substitute = _substitute(turn, line)
            name = turn.parser.items[line.sku].name
            short = (
                f"{name} is out of stock"
                if available == 0
                else f"only {available} pcs of {name} are in stock"
            )
            if substitute is None:
                turn.conversation.state = {
                    "items": [line_state(x) for x in lines],
                    "substitute": {"line": line_state(line), "sku": None},
                }
                return OutboundMessage(
                    text=f"Sorry, {short}. Shall I send the rest without it?",
                    buttons=[Button(id="sub:no", title="Yes, without it")],
                )
            turn.conversation.state = {
                "items": [line_state(x) for x in lines],
                "substitute": {"line": line_state(line), "sku": substitute.sku},
            }
            return OutboundMessage(
                text=f"Sorry, {short}. Would you like {substitute.name} instead?",
                buttons=[
                    Button(id="sub:yes", title=short_title(substitute, "Yes, ")),
                    Button(id="sub:no", title="No, skip it"),
                ],
            )
    if turn.channel == Channel.voice and not confirmed:
        return _read_back(turn, lines)
    return _create_order(turn, lines)


def _read_back(turn: _Turn, lines: list[ParsedLine]) -> OutboundMessage:
    """On a phone call nothing is seen: the order is read back and placed only on "yes"."""
    turn.conversation.state = {"items": [line_state(line) for line in lines], "confirm": True}
    total = sum(turn.parser.items[line.sku].price_paise * (line.pieces or 0) for line in lines)
    heard = ", ".join(describe(turn.parser, line) for line in lines)
    return OutboundMessage(
        text=f"I heard {heard}. That is about {inr(total)}. Shall I place the order? "
        "Say yes or press 1; say no or press 2.",
        buttons=[
            Button(id="confirm:yes", title="Yes, place it"),
            Button(id="confirm:no", title="No"),
        ],
    )


def _merge_same(lines: list[ParsedLine]) -> list[ParsedLine]:
    merged: dict[str, ParsedLine] = {}
    for line in lines:
        if line.sku in merged:
            first = merged[line.sku]
            first.pieces = (first.pieces or 0) + (line.pieces or 0)
            first.quantity, first.unit = first.pieces, "piece"
        else:
            merged[line.sku] = line
    return list(merged.values())


def _delivery(turn: _Turn) -> tuple[datetime, str]:
    company = turn.session.get(Company, turn.session.company_id)
    rules = company.settings.get("delivery", {"days": 1, "by_hour": 14})
    zone = ZoneInfo(company.timezone)
    day = datetime.now(zone).date() + timedelta(days=rules.get("days", 1))
    when = datetime(day.year, day.month, day.day, rules.get("by_hour", 14), tzinfo=zone)
    label = "tomorrow" if rules.get("days", 1) == 1 else day.strftime("%a %d %b")
    hour = when.strftime("%I %p").lstrip("0")
    return when.astimezone(UTC), f"{label} {hour}"


def _create_order(turn: _Turn, lines: list[ParsedLine]) -> OutboundMessage:
    session = turn.session
    products = {
        p.sku: p
        for p in session.exec(select(Product).where(Product.sku.in_([line.sku for line in lines])))
    }
    existing = (
        session.exec(
            select(OrderEB2B).where(OrderEB2B.source_message_id == turn.source_message_id)
        ).first()
        if turn.source_message_id
        else None
    )
    if existing is not None:  # this message was processed before a crash: confirm it again
        turn.conversation.state = {}
        return _confirmation(turn, existing)
    delivery_at, _label = _delivery(turn)
    today = datetime.now(ZoneInfo(session.get(Company, session.company_id).timezone)).date()
    schemes = running(session, today)
    priced = {line.sku: price_line(products[line.sku], line.pieces or 0, schemes) for line in lines}
    total = sum(p.line_total_paise for p in priced.values())
    credit = store_credit(session, turn.store, today)
    status = HELD if credit is not None and credit.over_limit_with(total) else "confirmed"
    channel = Channel.rep if turn.rep_id else turn.channel
    sale = Transaction(
        store_id=turn.store.id,
        rep_id=turn.rep_id,
        transaction_date=today,
        channel=channel,
        total_paise=total,
        status=status,
    )
    session.add(sale)
    session.flush()
    for line in lines:
        product, price = products[line.sku], priced[line.sku]
        session.add(
            TransactionItem(
                transaction_id=sale.id,
                product_id=product.id,
                quantity=price.pieces,
                unit_price_paise=price.unit_price_paise,
                line_total_paise=price.line_total_paise,
            )
        )
        _take_stock(turn, product, price.pieces)
    highest = select(func.max(OrderEB2B.order_number)).execution_options(include_deleted=True)
    number = (session.exec(highest).one() or 1000) + 1
    order = OrderEB2B(
        order_number=number,
        store_id=turn.store.id,
        transaction_id=sale.id,
        channel=channel,
        status=status,
        total_paise=total,
        delivery_by=delivery_at,
        source_message_id=turn.source_message_id,
        items=[
            {
                "sku": line.sku,
                "name": products[line.sku].name,
                "quantity": line.pieces,
                "unit": line.unit,
                "cases": line.quantity if line.unit == "case" else None,
                "unit_price_paise": priced[line.sku].unit_price_paise,
                "line_total_paise": priced[line.sku].line_total_paise,
                **_scheme_terms(priced[line.sku]),
            }
            for line in lines
        ],
    )
    session.add(order)
    session.flush()  # a number taken meanwhile by another worker raises; the job is retried
    turn.conversation.state = {"last_order": number}
    if credit is not None and status == HELD:
        _alert_managers(turn, order, credit)
    confirmation = _confirmation(turn, order)
    if credit is not None:
        confirmation.text += "\n" + credit.summary(adding=total if status != HELD else 0)
    confirmation.text += _untracked_note(turn, list(products.values()))
    return confirmation


def _alert_managers(turn: _Turn, order: OrderEB2B, credit: Credit) -> None:
    """Every manager hears of an order held for credit, with buttons to release or cancel it;
    queued in this turn's transaction, so it goes once with the order (`tools/alerts.py`)."""
    assert turn.settings is not None
    channel, our_number = messaging_channel(turn.session, turn.settings)
    store = turn.store
    message = OutboundMessage(
        text=(
            f"Credit hold: order #{order.order_number} from {store.name} ({store.locality}), "
            f"{inr(order.total_paise)}, would take what they owe to "
            f"{inr(credit.standing.outstanding + order.total_paise)}, above their "
            f"{inr(store.credit_limit_paise)} limit.\n{credit.summary()}\n"
            'Reply "held orders" to release or cancel it.'
        ),
        buttons=hold_buttons(order.order_number),
    )
    for user in managers(turn.session):
        key = f"credit_hold:{order.order_number}:{user.id}"
        queue_once(turn.session, key, user, channel, our_number, message)
        turn.elsewhere.add((channel, user.phone))


def _take_stock(turn: _Turn, product: Product, pieces: int) -> None:
    for level in turn.session.exec(select(StockLevel).where(StockLevel.product_id == product.id)):
        taken = min(level.quantity, pieces)
        level.quantity -= taken
        pieces -= taken
        if not pieces:
            return


def _confirmation(turn: _Turn, order: OrderEB2B) -> OutboundMessage:
    items = ", ".join(
        f"{item['cases']} cs {item['name']}"
        if item.get("cases")
        else f"{item['quantity']} pcs {item['name']}"
        for item in order.items
    )
    _when, label = _delivery(turn)
    schemes = "".join(
        f"\nScheme {item['scheme']} on {item['name']}: {item['scheme_terms']}"
        for item in order.items
        if item.get("scheme")
    )
    if order.status == HELD:
        return OutboundMessage(
            text=(
                f"Order #{order.order_number} received: {items}. Total: "
                f"{inr(order.total_paise)}. It waits for your distributor's approval: it "
                f"would take you over your credit limit. We will tell you as soon as it is "
                f"released; a payment releases it sooner.{schemes}"
            )
        )
    return OutboundMessage(
        text=(
            f"Order #{order.order_number} confirmed: {items}. Total: {inr(order.total_paise)}. "
            f"Delivery by {label}.{schemes}"
        )
    )


def _scheme_terms(price: Priced) -> dict:
    """What the running scheme did to a line, for the order's record and its confirmation."""
    if price.scheme is None:
        return {}
    terms = []
    if price.scheme.discount_pct:
        terms.append(f"{price.scheme.discount_pct:g}% off")
    if price.free:
        terms.append(f"{price.free} pcs free")
    return {"scheme": price.scheme.code, "free": price.free, "scheme_terms": ", ".join(terms)}


def _orders(turn: _Turn) -> list[OrderEB2B]:
    return turn.session.exec(
        select(OrderEB2B)
        .where(OrderEB2B.store_id == turn.store.id)
        .order_by(OrderEB2B.created_at.desc())
    ).all()


def _last_open_order(turn: _Turn) -> OrderEB2B | None:
    number = turn.conversation.state.get("last_order")
    if number is None:
        return None
    order = turn.session.exec(select(OrderEB2B).where(OrderEB2B.order_number == number)).first()
    return order if order is not None and order.status == "confirmed" else None


def _status(turn: _Turn) -> OutboundMessage:
    orders = _orders(turn)
    if not orders:
        return OutboundMessage(text="I don't see any order from your store yet.")
    order = orders[0]
    zone = ZoneInfo(turn.session.get(Company, turn.session.company_id).timezone)
    due = (
        order.delivery_by.astimezone(zone).strftime("%a %d %b, %I %p")
        if order.delivery_by
        else "soon"
    )
    if order.status == "delivered":
        return OutboundMessage(text=f"Order #{order.order_number} was delivered.")
    if order.status == "cancelled":
        return OutboundMessage(text=f"Order #{order.order_number} was cancelled.")
    if order.status == HELD:
        return OutboundMessage(
            text=f"Order #{order.order_number} ({inr(order.total_paise)}) is waiting for "
            "your distributor's credit approval."
        )
    return OutboundMessage(
        text=(
            f"Order #{order.order_number} ({inr(order.total_paise)}) is {order.status}; "
            f"delivery by {due}."
        )
    )


def _cancel(turn: _Turn, number: int) -> OutboundMessage:
    order = turn.session.exec(
        select(OrderEB2B).where(
            OrderEB2B.order_number == number, OrderEB2B.store_id == turn.store.id
        )
    ).first()
    if order is None:
        return OutboundMessage(text=f"I can't find order #{number} for your store.")
    if order.status not in ("confirmed", HELD):
        return OutboundMessage(text=f"Order #{number} is already {order.status}.")
    cancel_order(turn.session, order)
    turn.conversation.state = {}
    return OutboundMessage(text=f"Order #{number} is cancelled.")


async def _repeat(turn: _Turn) -> list[OutboundMessage]:
    last = next((o for o in _orders(turn) if o.status != "cancelled"), None)
    if last is None:
        return [OutboundMessage(text="I don't see an earlier order to repeat.")]
    lines = _order_lines([item for item in last.items if item["sku"] in turn.parser.items])
    return [await _act(turn, lines)]


def _suggest(turn: _Turn) -> OutboundMessage:
    company = turn.session.get(Company, turn.session.company_id)
    today = datetime.now(ZoneInfo(company.timezone)).date()
    offer = offer_suggested_order(turn.session, turn.parser, turn.store, turn.conversation, today)
    return offer or OutboundMessage(
        text="I have nothing to suggest yet: there is no forecast or earlier order for "
        'your store. Send your order, e.g. "2 cs Parle-G 250g".'
    )


def offer_suggested_order(
    session: CompanySession,
    parser: OrderParser,
    store: Store,
    conversation: Conversation,
    day: date,
    purchases: Purchases | None = None,
) -> OutboundMessage | None:
    """The store's suggested order with "Order these": the tap answers the read-back kept in
    the conversation, so the order goes through the normal path. None with nothing to suggest."""
    basket = suggest_basket(session, store, day, purchases)
    if not basket.lines:
        return None
    lines = [_suggested_line(s.product, s.pieces) for s in basket.lines]
    conversation.state = {
        "items": [line_state(line) for line in lines],
        "confirm": True,
        "offer": True,
    }
    schemes = running(session, day)
    total = sum(price_line(s.product, s.pieces, schemes).line_total_paise for s in basket.lines)
    shown = "\n".join(
        f"• {describe(parser, line)}: {s.why}" for line, s in zip(lines, basket.lines, strict=True)
    )
    return OutboundMessage(
        text=f"Suggested order for {store.name} (from your {basket.source}):\n{shown}\n"
        f'About {inr(total)}. Tap "Order these" to place it, or send your own order.',
        buttons=[
            Button(id="confirm:yes", title="Order these"),
            Button(id="confirm:no", title="No thanks"),
        ],
    )


def _suggested_line(product: Product, pieces: int) -> ParsedLine:
    """In cases when it is whole cases, as a retailer would have written it."""
    case = product.units_per_case
    if case > 1 and pieces % case == 0:
        return ParsedLine(product.name, [product.sku], pieces // case, "case", pieces, 1.0)
    return ParsedLine(product.name, [product.sku], pieces, "piece", pieces, 1.0)


def _order_lines(items: list[dict]) -> list[ParsedLine]:
    return [
        ParsedLine(item["name"], [item["sku"]], item["quantity"], "piece", item["quantity"], 1.0)
        for item in items
    ]


async def _replace(turn: _Turn, order: OrderEB2B, lines: list[ParsedLine]) -> OutboundMessage:
    """An open order changed: it is cancelled (its stock returned) and the new version goes
    through the same stock and size checks as any order, under a new number."""
    lines = _merge_same(lines)
    returned = {item["sku"]: item["quantity"] for item in order.items}
    for line in lines:  # the change must fit the stock before the order is touched
        available = _stock(turn, line.sku) + returned.get(line.sku, 0)
        if (line.pieces or 0) > available:
            name = turn.parser.items[line.sku].name
            return OutboundMessage(
                text=(
                    f"Only {available} pcs of {name} are available, so order #{order.order_number} "
                    "stays as it was."
                )
            )
    _cancel(turn, order.order_number)
    if not lines:
        return OutboundMessage(text=f"Order #{order.order_number} is cancelled.")
    reply = await _act(turn, lines)
    if not reply.text.startswith("Order #"):
        return OutboundMessage(
            text=f"Order #{order.order_number} is cancelled. {reply.text}", buttons=reply.buttons
        )
    return OutboundMessage(text=f"{reply.text} (This replaces order #{order.order_number}.)")


async def _add(turn: _Turn, lines: list[ParsedLine]) -> OutboundMessage:
    order = _last_open_order(turn)
    return await _replace(turn, order, _order_lines(order.items) + lines)


async def _remove(turn: _Turn, words: str) -> OutboundMessage:
    order = _last_open_order(turn)
    mentioned = {sku for line in turn.parser.parse(words).lines for sku in line.candidates}
    keep = [item for item in order.items if item["sku"] not in mentioned]
    if len(keep) == len(order.items):
        return OutboundMessage(text=f"Order #{order.order_number} has no {words.strip()}.")
    return await _replace(turn, order, _order_lines(keep))


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    store = ctx.session.get(Store, ctx.sender.store_id) if ctx.sender.store_id else None
    visit = open_visit(ctx.session, ctx.sender.rep_id) if ctx.sender.rep_id else None
    if visit is not None:  # a rep takes the order of the store being visited
        store = ctx.session.get(Store, visit.store_id)
    if store is None:
        ctx.say(
            "Check in at the store first: share your location on WhatsApp (📎 → Location), "
            "then send its order."
            if ctx.sender.rep_id
            else "Orders here are placed for a store. Ask your distributor to link your number "
            "to your store."
        )
        return {"active": None}
    choice = state.get("choice")
    if choice and choice.startswith("menu:"):
        ctx.say(
            'Send your order, e.g. "2 cs Parle-G 250g, 1 ctn Coke 750ml", or ask '
            '"where is my order".'
        )
        return {"active": None}
    turn = _Turn(
        session=ctx.session,
        store=store,
        channel=ctx.channel,
        conversation=ctx.conversation,
        parser=ctx.parser,
        llm=ctx.llm,
        source_message_id=ctx.source_message_id,
        rep_id=visit.rep_id if visit is not None else None,
        settings=ctx.settings,
        elsewhere=ctx.elsewhere,
    )
    last_order = ctx.conversation.state.get("last_order")
    ctx.replies.extend(await _handle(turn, state.get("text", ""), choice))
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


def _waiting_for_answer(ctx: AgentContext, state: ChatState) -> bool:
    """It asked something (a size, a substitute, a read-back): for a retailer, kept with the
    orders; for anyone, the graph's state names it."""
    asked = any(key in ctx.conversation.state for key in ("question", "substitute", "confirm"))
    return (ctx.sender.role == Role.retailer and asked) or state.get("active") == "order"


SPEC = AgentSpec(
    name="order",
    answer=answer,
    roles=frozenset({Role.retailer, Role.rep, Role.admin}),
    description="place, change, cancel or repeat an order (reps: for the store they are "
    "visiting); order status, delivery, goods not "
    'received ("maal kab aayega").',
    examples=((Role.retailer, "2 cs parle g aur 1 ctn coke bhejo"),),
    keywords=ORDER_ASKS,
    commands=("/order",),
    buttons=("pick", "sub", "confirm"),
    usual_for=frozenset({Role.retailer}),
    menu=("Order", 'order: "2 cs Parle-G 250g, 1 ctn Coke", "where is my order"'),
    denied="Orders are placed by retailers, and by reps during a visit.",
    waiting=_waiting_for_answer,
    keeps=lambda text: yes_or_no(text) is not None,  # "ok", "haan": the answer to an offer
    prompts=("order_read",),
    tools=("order_parser", "catalog", "stock", "orders"),
)
