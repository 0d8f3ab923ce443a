"""The supervisor graph (seed section 4): one turn in, the right agent answers.

    supervisor -> order | analytics | coach | promo | tasks | help | denied | clarify -> END

The supervisor decides deterministically when it can (a button names its agent, an agent waiting
for an answer gets it, commands, greetings, orders the catalogue parser reads), and asks the LLM
for a schema-constrained intent otherwise (`agents/router.py`). The sender's role decides what
may be reached: a retailer cannot reach the company's analytics, a manager can, a rep gets tasks
and the coach. State is checkpointed per conversation (`memory/conversations.py`); the run
context (database session, sender, LLM) is passed per run and never stored.
"""

from collections.abc import Awaitable, Callable

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents import analytics, coach, help, order_turn, promo, tasks
from agents.context import INTENTS, AgentContext, ChatState
from agents.order import yes_or_no
from agents.router import ALLOWED, GREETING, LOW_CONFIDENCE, by_rules, route
from db.models import Role
from memory.profile import language_of, remember

Agent = Callable[[AgentContext, ChatState], Awaitable[dict]]
AGENTS: dict[str, Agent] = {
    "order": order_turn.answer,
    "analytics": analytics.answer,
    "coach": coach.answer,
    "promo": promo.answer,
    "tasks": tasks.answer,
    "help": help.answer,
    "denied": help.denied,
    "clarify": help.clarify,
}
# A button's id starts with the name of the agent that made it.
BUTTON_OWNERS = {
    "pick": "order",
    "sub": "order",
    "confirm": "order",
    "coach": "coach",
    "analytics": "analytics",
    "promo": "promo",
    "tasks": "tasks",
}


async def supervisor(state: ChatState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    text, choice = state.get("text", ""), state.get("choice")
    role = ctx.sender.role
    decision = None
    if choice:
        decision = {
            "intent": _button_owner(choice),
            "source": "button",
            "confidence": 1.0,
            "seconds": 0.0,
        }
    elif (waiting := _waiting(ctx, state)) and not _leaves(text, role, waiting):
        decision = {"intent": waiting, "source": "pending", "confidence": 1.0, "seconds": 0.0}
    if decision is None:
        found = await route(text, role, ctx.parser, ctx.llm)
        decision = {
            "intent": found.intent,
            "source": found.source,
            "confidence": found.confidence,
            "seconds": found.seconds,
        }
    intent = decision["intent"]
    if intent == "other":
        agent = "help"
    elif intent not in ALLOWED[role]:
        agent = "denied"
    elif decision["source"] == "llm" and decision["confidence"] < LOW_CONFIDENCE:
        agent = "clarify"
    else:
        agent = intent
    if text and (language := language_of(text)):
        await remember(ctx.store, ctx.company_id, ctx.sender.key, language=language)
    return {
        "route": {**decision, "agent": agent},
        "history": [{"role": "user", "text": text or f"[{choice}]"}],
    }


def _button_owner(choice: str) -> str:
    """The agent a button belongs to; "menu:<intent>" opens that intent; an unknown id (the
    API takes any string) gets the menu."""
    prefix, _, rest = choice.partition(":")
    if prefix == "menu":
        return rest if rest in INTENTS else "help"
    return BUTTON_OWNERS.get(prefix, "help")


def _waiting(ctx: AgentContext, state: ChatState) -> str | None:
    """The agent waiting for this sender's answer: the order agent's question (kept with the
    orders) or another agent's, kept in the graph state."""
    pending = ctx.conversation.state
    waiting_order = any(key in pending for key in ("question", "substitute", "confirm"))
    if ctx.sender.role == "retailer" and waiting_order:
        return "order"
    if state.get("active") == "coach" and not coach.still_playing(state.get("coach", {})):
        return None  # a role-play left unanswered for long is over
    return state.get("active")


def _leaves(text: str, role: Role, waiting: str) -> bool:
    """A command, a greeting or a clear other intent leaves the waiting agent."""
    if waiting == "order" and yes_or_no(text) is not None:
        return False  # "ok", "haan", "no": the answer to the order agent's offer
    if GREETING.match(text.strip()):
        return waiting != "coach"  # "ok" can be a role-play answer
    decision = by_rules(text, role, None)
    if decision is None:
        return False
    if decision.source == "command":
        return True
    return (
        waiting != "coach"
        and decision.intent not in (waiting, "help")
        and decision.intent in ALLOWED[role]
    )


def _node(name: str) -> Callable:
    agent = AGENTS[name]

    async def run(state: ChatState, runtime: Runtime[AgentContext]) -> dict:
        ctx = runtime.context
        before = len(ctx.replies)
        update = await agent(ctx, state)
        # What the agent wrote is committed, with the turn's messages marked answered and its
        # replies queued, before LangGraph awaits the checkpoint: a write transaction held
        # across an await blocks every other conversation on this loop.
        ctx.commit()
        said = [
            {"role": "assistant", "text": reply.text or "[image]"} for reply in ctx.replies[before:]
        ]
        return {**update, "history": said}

    run.__name__ = name
    return run


def _next(state: ChatState) -> str:
    return state["route"]["agent"]


def build_graph(checkpointer=None, store=None, agents=None):
    """The compiled supervisor graph; without a checkpointer it remembers nothing."""
    builder = StateGraph(ChatState, context_schema=AgentContext)
    builder.add_node("supervisor", supervisor)
    for name in AGENTS:
        builder.add_node(name, _node(name))
        builder.add_edge(name, END)
    builder.add_edge(START, "supervisor")
    builder.add_conditional_edges("supervisor", _next, list(AGENTS))
    return builder.compile(checkpointer=checkpointer, store=store)
