"""The supervisor graph (seed section 4): one turn in, the right agent answers.

    supervisor -> order | promo | analytics | coach | tasks | help | denied | clarify -> END

The agents are the registry's (`agents/registry.py`), one node each. The supervisor decides
deterministically when it can (a button names its agent, an agent waiting for an answer gets
it, commands, greetings, orders the catalogue parser reads), and asks the LLM for a
schema-constrained intent otherwise (`agents/router.py`). The sender's role decides what may be
reached: a retailer cannot reach the company's analytics, a manager can, a rep gets tasks and
the coach. State is checkpointed per conversation (`memory/conversations.py`); the run context
(database session, sender, LLM) is passed per run and never stored.
"""

from collections.abc import Callable, Sequence

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents import help
from agents.context import AgentContext, ChatState
from agents.registry import AGENTS
from agents.router import LOW_CONFIDENCE, OTHER, by_rules, intents, route
from agents.spec import Agent, AgentSpec, allowed, by_name
from db.models import Role
from memory.profile import language_of, remember
from phrases import GREETING

# The supervisor's own outcomes, answered by the help agent's module.
OUTCOMES: dict[str, Agent] = {"denied": help.denied, "clarify": help.clarify}


def supervisor_node(agents: Sequence[AgentSpec]) -> Callable:
    """The routing node over these agents."""
    specs = by_name(agents)

    async def supervisor(state: ChatState, runtime: Runtime[AgentContext]) -> dict:
        ctx = runtime.context
        text, choice = state.get("text", ""), state.get("choice")
        role = ctx.sender.role
        decision = None
        if choice:
            intent = _button_owner(choice, agents)
            decision = {"intent": intent, "source": "button", "confidence": 1.0, "seconds": 0.0}
        elif (waiting := _waiting(ctx, state, agents)) and not _leaves(text, role, waiting, agents):
            decision = {"intent": waiting.name, "source": "pending", "confidence": 1.0,
                        "seconds": 0.0}  # fmt: skip
        if decision is None:
            found = await route(text, role, ctx.parser, ctx.llm, agents)
            decision = {"intent": found.intent, "source": found.source,
                        "confidence": found.confidence, "seconds": found.seconds}  # fmt: skip
        intent = decision["intent"]
        if intent == OTHER or intent not in specs:
            agent = "help"
        elif intent not in allowed(role, agents):
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

    return supervisor


def _button_owner(choice: str, agents: Sequence[AgentSpec]) -> str:
    """The agent a button belongs to (its id starts with the agent's name or one of its
    prefixes); "menu:<intent>" opens that intent; an unknown id (the API takes any string)
    gets the menu."""
    prefix, _, rest = choice.partition(":")
    if prefix == "menu":
        return rest if rest in intents(agents) else "help"
    owners = {p: spec.name for spec in agents for p in (spec.name, *spec.buttons)}
    return owners.get(prefix, "help")


def _waiting(ctx: AgentContext, state: ChatState, agents: Sequence[AgentSpec]) -> AgentSpec | None:
    """The agent waiting for this sender's answer, if any (the first in registry order)."""
    return next((spec for spec in agents if spec.is_waiting(ctx, state)), None)


def _leaves(text: str, role: Role, waiting: AgentSpec, agents: Sequence[AgentSpec]) -> bool:
    """A command, a greeting or a clear other intent leaves the waiting agent, unless it is an
    answer the agent keeps ("ok" to an offer) or the agent takes everything (a role-play)."""
    if waiting.keeps is not None and waiting.keeps(text):
        return False
    if GREETING.match(text.strip()):
        return not waiting.takes_everything
    decision = by_rules(text, role, None, agents)
    if decision is None:
        return False
    if decision.source == "command":
        return True
    return (
        not waiting.takes_everything
        and decision.intent not in (waiting.name, "help")
        and decision.intent in allowed(role, agents)
    )


def _node(name: str, agent: Agent) -> Callable:
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


def build_graph(checkpointer=None, store=None, agents: Sequence[AgentSpec] | None = None):
    """The compiled supervisor graph over `agents` (default: the registry); without a
    checkpointer it remembers nothing."""
    agents = tuple(agents or AGENTS)
    nodes = {**{spec.name: spec.answer for spec in agents}, **OUTCOMES}
    builder = StateGraph(ChatState, context_schema=AgentContext)
    builder.add_node("supervisor", supervisor_node(agents))
    for name, agent in nodes.items():
        builder.add_node(name, _node(name, agent))
        builder.add_edge(name, END)
    builder.add_edge(START, "supervisor")
    builder.add_conditional_edges("supervisor", _next, list(nodes))
    return builder.compile(checkpointer=checkpointer, store=store)
