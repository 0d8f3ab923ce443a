"""What an agent declares about itself: one `AgentSpec`, exported as `SPEC` by its module.

The supervisor graph makes a node of each spec; the router takes its intents, commands, keyword
families and routing examples from them; the help menu, the web console and the agent API list
them for each role. Adding an agent is its module plus one line in `agents/registry.py`.
"""

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from agents.context import AgentContext, ChatState
from db.models import Role

Agent = Callable[[AgentContext, ChatState], Awaitable[dict]]


@dataclass(frozen=True)
class AgentSpec:
    name: str  # its intent, its graph node, and the prefix of its buttons' ids
    answer: Agent  # one turn: the context and state in, a state update out, replies said
    roles: frozenset[Role]  # who may reach it; the others are told `denied`
    description: str  # what it answers, one line of the routing prompt
    examples: tuple[tuple[Role, str], ...] = ()  # messages it answers, shown to the router
    keywords: re.Pattern[str] | None = None  # a rule: sure of this intent when no other matches
    sure: re.Pattern[str] | None = None  # a rule that decides alone ("draft a scheme")
    commands: tuple[str, ...] = ()  # "/order", "/tasks": the first word of a message
    buttons: tuple[str, ...] = ()  # other prefixes of button ids it made ("pick:SKU")
    usual_for: frozenset[Role] = frozenset()  # gets their free text when the LLM is down
    menu: tuple[str, str] | None = None  # (button title, a line of the help menu)
    denied: str = "That is not available to you here."
    # the agent waiting for this sender's answer: a question it asked (default: the state
    # names it active), which it `keeps` even when the rules would route it elsewhere
    waiting: Callable[[AgentContext, ChatState], bool] | None = None
    keeps: Callable[[str], bool] | None = None
    takes_everything: bool = False  # while waiting, only a command leaves it (a role-play)
    prompts: tuple[str, ...] = ()  # the prompt files it uses (prompts/<name>.j2)
    tools: tuple[str, ...] = ()  # the tools it calls, for the agent API's list

    def is_waiting(self, ctx: AgentContext, state: ChatState) -> bool:
        if self.waiting is not None:
            return self.waiting(ctx, state)
        return state.get("active") == self.name


def allowed(role: Role, agents: Sequence[AgentSpec]) -> frozenset[str]:
    """The intents a role may reach ("other" is answered for everyone)."""
    return frozenset({spec.name for spec in agents if role in spec.roles} | {"other"})


def by_name(agents: Sequence[AgentSpec]) -> dict[str, AgentSpec]:
    return {spec.name: spec for spec in agents}
