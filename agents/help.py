"""Greetings, "what can you do", things outside the business, and what a role may not reach."""

from agents.context import AgentContext, ChatState
from agents.router import ALLOWED, VOICE_SWITCH
from db.models import Role
from llm.breaker import State
from memory.profile import recall, remember
from messages import Button

WHAT = {
    "order": ("Order", 'order: "2 cs Parle-G 250g, 1 ctn Coke", "where is my order"'),
    "promo": ("Schemes", 'schemes: "any scheme on Surf Excel?"'),
    "analytics": ("Sales report", 'sales questions: "top 5 stores last week"'),
    "coach": ("Practise a pitch", 'coaching: "coach me" for an objection role-play'),
    "tasks": ("Today's tasks", 'your day: "my tasks today", "done 2"'),
}


def _menu(role: Role) -> tuple[str, list[Button]]:
    offered = [intent for intent in WHAT if intent in ALLOWED[role]]
    lines = "\n".join(f"• {WHAT[intent][1]}" for intent in offered)
    buttons = [Button(id=f"menu:{intent}", title=WHAT[intent][0]) for intent in offered]
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
    lines, buttons = _menu(ctx.sender.role)
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
    lines, buttons = _menu(ctx.sender.role)
    reason = {
        "analytics": "Company sales reports are for your distributor's managers.",
        "tasks": "Task lists are for sales reps.",
        "coach": "Coaching is for the sales team.",
        "order": "Orders are placed by retailers here; reps capture them during a visit.",
    }.get(intent, "That is not available to you here.")
    ctx.say(f"{reason} I can help you with:\n{lines}", buttons=buttons[:3])
    return {"active": None}


async def clarify(ctx: AgentContext, state: ChatState) -> dict:
    lines, buttons = _menu(ctx.sender.role)
    ctx.say("I'm not sure what you need. Is it one of these?\n" + lines, buttons=buttons[:3])
    return {"active": None}
