"""Greetings, "what can you do", things outside the business, and what a role may not reach."""

from collections.abc import Sequence

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec, by_name
from db.models import Role
from llm.breaker import State
from memory.profile import recall, remember
from messages import Button
from phrases import VOICE_SWITCH, unread_script


def menu(role: Role, agents: Sequence[AgentSpec]) -> list[AgentSpec]:
    """The agents a role may reach that have a place in the menu, in the registry's order."""
    return [spec for spec in agents if spec.menu is not None and role in spec.roles]


def _menu(ctx: AgentContext) -> tuple[str, list[Button]]:
    offered = menu(ctx.sender.role, ctx.agents)
    lines = "\n".join(f"• {spec.menu[1]}" for spec in offered if spec.menu)
    buttons = [Button(id=f"menu:{spec.name}", title=spec.menu[0]) for spec in offered if spec.menu]
    return lines, buttons


def _llm_note(ctx: AgentContext) -> str:
    """Say plainly when the assistant runs without its language model."""
    if ctx.llm is None:
        return "\n(Free-form questions are off on this server; the examples above work.)"
    if ctx.llm.breaker.state is State.open:
        return (
            "\n(My language model is down for a moment: orders, schemes, tasks and the "
            "usual reports still work; free-form questions may not.)"
        )
    return ""


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    if switch := VOICE_SWITCH.match(state.get("text", "")):
        spoken = switch.group(1).lower() == "on"
        await remember(ctx.store, ctx.company_id, ctx.sender.key, voice_replies=spoken)
        ctx.say(
            "OK: I will answer your voice notes with a voice note too."
            if spoken
            else "OK: I will answer your voice notes in text."
        )
        return {"active": None}
    lines, buttons = _menu(ctx)
    if unread_script(state.get("text", "")):
        ctx.say(
            "Sorry, I read English, Hindi and Hinglish (in Roman or Devanagari letters): "
            "please write in one of those. I can help with:\n" + lines,
            buttons=buttons[:3],
        )
        return {"active": None}
    if state.get("route", {}).get("intent") == "other":
        ctx.say(
            "Sorry, I can only help with your business here. I can help with:\n" + lines,
            buttons=buttons[:3],
        )
        return {"active": None}
    first = ctx.sender.name.split()[:1]
    name = f" {first[0]}" if first else ""
    facts = await recall(ctx.store, ctx.company_id, ctx.sender.key)
    if facts.get("language") in ("hi", "hinglish"):
        greeting = f"Namaste{name} ji! Main in cheezon mein madad kar sakta hoon:"
    else:
        greeting = f"Namaste{name}! I can help with:"
    usual = facts.get("usual_order")
    usual_line = f"\nYour usual order: {', '.join(usual)}." if usual else ""
    if ctx.sender.role == Role.retailer:
        usual_line += (
            "\nYou can also send a voice note or a photo of your list "
            '("voice on" for spoken replies).'
        )
    ctx.say(f"{greeting}\n{lines}{usual_line}{_llm_note(ctx)}", buttons=buttons[:3])
    return {"active": None}


async def denied(ctx: AgentContext, state: ChatState) -> dict:
    intent = state["route"]["intent"]
    lines, buttons = _menu(ctx)
    spec = by_name(ctx.agents).get(intent)
    reason = spec.denied if spec else "That is not available to you here."
    ctx.say(f"{reason} I can help you with:\n{lines}", buttons=buttons[:3])
    return {"active": None}


async def clarify(ctx: AgentContext, state: ChatState) -> dict:
    lines, buttons = _menu(ctx)
    ctx.say("I'm not sure what you need. Is it one of these?\n" + lines, buttons=buttons[:3])
    return {"active": None}


SPEC = AgentSpec(
    name="help",
    answer=answer,
    roles=frozenset(Role),
    description="only greetings, thanks, and questions about what this assistant can do.",
    examples=((Role.retailer, "thank you bhai"),),
    commands=("/help", "menu", "help", "/start"),
)
