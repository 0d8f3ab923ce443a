"""The promo agent: "any scheme on Maggi?" from the promotions table, and a scheme drafted for a
manager from the product's recent sales (saved inactive until the manager activates it)."""

import re
import uuid
from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from agents.tasks import today
from db.models import Product, Promotion, Role, Transaction, TransactionItem
from llm.client import LLMError
from messages import Button
from phrases import ASKING, DRAFT, DRAFT_SCHEME, SCHEME_ASKS
from prompts import prompt
from tools.promo_sim import Terms, simulate, stores_in

MANAGERS = (Role.manager, Role.admin)
WORD = re.compile(r"[\w&-]+")
SUBJECT = re.compile(
    r"\b(?:on|for)\s+([\w\s-]{2,40}?)\s*(?:[?.!]|$)|"
    r"([\w\s-]{2,40}?)\s+(?:pe|par|per)\b"
)


DRAFT_PROMPT = prompt("promo_draft")


class SchemeDraft(BaseModel):
    """What the LLM proposes; the figures it starts from are ours."""

    name: str = Field(max_length=60)
    discount_pct: float = Field(ge=0, le=20)
    min_cases: int = Field(ge=1, le=20)
    free_pieces: int = Field(ge=0, le=24)
    days: int = Field(ge=7, le=45)
    reason: str = Field(max_length=200)


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    choice = state.get("choice") or ""
    text = state.get("text", "")
    if choice.startswith("promo:activate:"):
        _activate(ctx, choice.removeprefix("promo:activate:"))
        return {"active": None}
    products = _products_named(ctx, text)
    if ctx.sender.role in MANAGERS and DRAFT.search(text):
        if not products:
            ctx.say(
                'Which product should the scheme be on? e.g. "draft a scheme for Maggi '
                '2-Minute Noodles 70g".'
            )
            return {"active": None}
        await _draft(ctx, products[0], text)
        return {"active": None}
    _current(ctx, text, products)
    return {"active": None}


def _products_named(ctx: AgentContext, text: str) -> list[Product]:
    """The catalogue products the message names (any size of a named product)."""
    parsed = ctx.parser.parse(text)
    skus = [sku for line in parsed.lines for sku in line.candidates]
    if not skus:
        return []
    return list(ctx.session.exec(select(Product).where(Product.sku.in_(skus))).all())


def _current(ctx: AgentContext, text: str, products: list[Product]) -> None:
    day = today(ctx)
    running = select(Promotion).where(
        Promotion.is_active, Promotion.starts_on <= day, Promotion.ends_on >= day
    )
    words = " " + " ".join(WORD.findall(text.lower())) + " "  # names match whole words
    brands = {
        b
        for b in ctx.session.exec(select(Product.brand).distinct()).all()
        if f" {b.lower()} " in words
    }
    categories = {
        c
        for c in ctx.session.exec(select(Product.category).distinct()).all()
        if f" {c.lower()} " in words
    }
    brands |= {p.brand for p in products}
    categories |= {p.category for p in products}
    named = bool(products or brands or categories)
    if named:
        running = running.where(
            or_(
                Promotion.product_id.in_([p.id for p in products]),
                Promotion.brand.in_(brands),
                Promotion.category.in_(categories),
            )
        )
    schemes = ctx.session.exec(running.order_by(Promotion.ends_on, Promotion.code)).all()
    subject = ", ".join(sorted({p.name for p in products} | brands)) or "that"
    if not named and (missing := _unknown_words(ctx, text)):
        ctx.say(
            f'I couldn\'t find "{missing}" in our catalogue. '
            + (
                "Schemes running now:\n" + _lines(ctx, schemes)
                if schemes
                else "No scheme is running right now."
            )
        )
        return
    if not schemes:
        ctx.say(
            f"No scheme is running on {subject} right now."
            if named
            else "No scheme is running right now."
        )
        return
    heading = f"Schemes on {subject}:" if named else "Schemes running now:"
    ctx.say(heading + "\n" + _lines(ctx, schemes))


def _lines(ctx: AgentContext, schemes: list[Promotion]) -> str:
    names = {
        p.id: p.name
        for p in ctx.session.exec(
            select(Product).where(Product.id.in_([s.product_id for s in schemes if s.product_id]))
        ).all()
    }
    return "\n".join(
        f"• {s.name}: {s.description} (on {names.get(s.product_id) or s.brand or s.category}, "
        f"till {s.ends_on:%d %b})"
        for s in schemes
    )


def _unknown_words(ctx: AgentContext, text: str) -> str:
    """The thing a scheme is asked about ("on X", "for X", "X pe"), when the catalogue does
    not know it; "" when the message names nothing in particular."""
    match = SUBJECT.search(text.lower())
    if match is None:
        return ""
    named = match.group(1) or match.group(2) or ""
    return " ".join(w for w in re.findall(r"[\w-]+", named) if w not in ASKING)


def _sales(ctx: AgentContext, product: Product, start, end) -> tuple[int, int]:
    """Pieces and paise of `product` sold from `start` to `end` (inclusive)."""
    pieces, paise = ctx.session.exec(
        select(
            func.coalesce(func.sum(TransactionItem.quantity), 0),
            func.coalesce(func.sum(TransactionItem.line_total_paise), 0),
        )
        .join(Transaction, Transaction.id == TransactionItem.transaction_id)
        .where(
            TransactionItem.product_id == product.id,
            Transaction.transaction_date.between(start, end),
        )
    ).one()
    return int(pieces), int(paise)


async def _draft(ctx: AgentContext, product: Product, text: str) -> None:
    day = today(ctx)
    recent = _sales(ctx, product, day - timedelta(days=28), day - timedelta(days=1))
    before = _sales(ctx, product, day - timedelta(days=56), day - timedelta(days=29))
    margin_pct = round(100 * (product.mrp_paise - product.price_paise) / product.mrp_paise, 1)
    change = (recent[0] - before[0]) / before[0] * 100 if before[0] else None
    facts = {
        "product": product.name,
        "units_per_case": product.units_per_case,
        "price_inr": product.price_paise / 100,
        "retailer_margin_pct": margin_pct,
        "cases_last_28_days": round(recent[0] / product.units_per_case, 1),
        "cases_previous_28_days": round(before[0] / product.units_per_case, 1),
        "change_pct": None if change is None else round(change),
    }
    draft = await _ask_llm(ctx, facts) or _rule_draft(facts, change)
    code = f"DRAFT-{uuid.uuid4().hex[:6].upper()}"
    scheme = Promotion(
        code=code,
        name=draft.name,
        product_id=product.id,
        description=_describe(draft, product),
        min_quantity=draft.min_cases * product.units_per_case,
        discount_pct=draft.discount_pct,
        free_quantity=draft.free_pieces,
        starts_on=day + timedelta(days=1),
        ends_on=day + timedelta(days=draft.days),
        is_active=False,
    )
    ctx.session.add(scheme)
    ctx.session.flush()
    trend = "no sales before" if change is None else f"{change:+.0f}% vs the 4 weeks before"
    # at the last four weeks' volume: the discount on it, and the free pieces it earns
    qualifying = recent[0] // scheme.min_quantity
    cost = (
        (
            recent[1] * draft.discount_pct / 100
            + qualifying * draft.free_pieces * product.price_paise
        )
        * draft.days
        / 28
    )
    ctx.say(
        f"Draft scheme {code} for {product.name}:\n{scheme.description}\n"
        f"From {scheme.starts_on:%d %b} to {scheme.ends_on:%d %b}.\n"
        f"Why: {draft.reason}\nLast 4 weeks: {facts['cases_last_28_days']} cases "
        f"({trend}); retailer margin {margin_pct}%. At the same volume the scheme costs at "
        f"most about INR {cost / 100:,.0f}. It is saved inactive."
        + _simulated(ctx, product, draft, text),
        buttons=[Button(id=f"promo:activate:{scheme.id}", title="Activate it")],
    )


def _simulated(ctx: AgentContext, product: Product, draft: SchemeDraft, text: str) -> str:
    """The draft beside a few other shapes of scheme, simulated on the company's history."""
    stores = stores_in(ctx.session, text)
    own = Terms("this draft", draft.discount_pct, draft.min_cases, draft.free_pieces, draft.days)
    result = simulate(ctx.session, [product], stores, today(ctx), own)
    if not any(o.baseline_pieces for o in result.outcomes):
        return (
            f"\n\nSimulated over {result.stores} stores: none of them bought {product.name} in "
            "the last 4 weeks and none is forecast to, so a discount there moves nothing. List "
            "it first: a trial pack or free pieces with a first order, and a rep visit to place "
            "it."
        )
    lines = [
        f"• {_terms(o.terms)}: {100 * o.uplift:+.0f}% volume (~{o.extra_pieces:.0f} pcs more), "
        f"cost ~INR {o.cost_paise / 100:,.0f}, ROI {100 * o.roi:+.0f}%"
        for o in result.outcomes
    ]
    best = result.best
    verdict = (
        f"Best return: {best.terms.label} ({_terms(best.terms)})."
        if best.roi > 0
        else "At this uplift every option costs more than its extra margin; the cheapest loss "
        f"is {best.terms.label}."
    )
    return (
        f"\n\nSimulated over {result.stores} stores ({result.evidence}):\n"
        + "\n".join(lines)
        + f"\n{verdict}"
    )


def _terms(terms: Terms) -> str:
    offer = []
    if terms.discount_pct:
        offer.append(f"{terms.discount_pct:g}% off")
    if terms.free_pieces:
        offer.append(f"{terms.free_pieces} pcs free")
    label = "" if terms.label == "this draft" else f"{terms.label}. "
    return (
        f"{label}{' + '.join(offer) or 'no discount'} from {terms.min_cases} cs, {terms.days} days"
    )


async def _ask_llm(ctx: AgentContext, facts: dict) -> SchemeDraft | None:
    if ctx.llm is None:
        return None
    messages = [
        {"role": "system", "content": DRAFT_PROMPT.render()},
        {"role": "user", "content": str(facts)},
    ]
    try:
        draft = await ctx.llm.complete_json(
            messages, SchemeDraft, max_tokens=160, prompt=DRAFT_PROMPT.id
        )
        restored = {field: ctx.llm.restore(getattr(draft, field)) for field in ("name", "reason")}
        return draft.model_copy(update=restored)
    except LLMError:
        return None


def _rule_draft(facts: dict, change: float | None) -> SchemeDraft:
    """Without the LLM: a modest discount when sales fall, free goods when they hold."""
    falling = change is not None and change < -10
    return SchemeDraft(
        name=f"{facts['product'][:40]} {'revival' if falling else 'push'}",
        discount_pct=5 if falling else 0,
        min_cases=2,
        free_pieces=0 if falling else 2,
        days=21 if falling else 14,
        reason="Sales fell; a small discount on 2 cases brings stores back."
        if falling
        else "Sales are steady; free pieces on 2 cases lift the order size.",
    )


def _describe(draft: SchemeDraft, product: Product) -> str:
    parts = []
    if draft.discount_pct:
        parts.append(f"{draft.discount_pct:g}% off")
    if draft.free_pieces:
        parts.append(f"{draft.free_pieces} pieces free")
    offer = " and ".join(parts) or "a display incentive"
    return f"{offer} on {draft.min_cases} cases ({draft.min_cases * product.units_per_case} pcs)"


def _activate(ctx: AgentContext, scheme_id: str) -> None:
    if ctx.sender.role not in MANAGERS:
        ctx.say("Only a manager can activate a scheme.")
        return
    try:
        scheme = ctx.session.get(Promotion, uuid.UUID(scheme_id))
    except ValueError:
        scheme = None
    if scheme is None:
        ctx.say("That draft no longer exists.")
        return
    scheme.is_active = True
    ctx.say(
        f"Scheme {scheme.code} is active from {scheme.starts_on:%d %b} to "
        f"{scheme.ends_on:%d %b}. Retailers asking about {scheme.name} will see it."
    )


SPEC = AgentSpec(
    name="promo",
    answer=answer,
    roles=frozenset(Role),
    description='schemes, offers, discounts, free goods ("1+1"); drafting a new scheme.',
    examples=((Role.retailer, "surf excel pe koi scheme hai?"),),
    keywords=SCHEME_ASKS,
    sure=DRAFT_SCHEME,
    commands=("/promo", "/schemes"),
    menu=("Schemes", 'schemes: "any scheme on Surf Excel?"'),
    prompts=("promo_draft",),
    tools=("promotions", "sales", "promo_sim"),
)
