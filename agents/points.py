"""Points and the leaderboard in chat (WF-007): "my points" for a rep, "leaderboard" for
anyone on the sales team, with a chart. The numbers come from `tools/points.py`."""

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from agents.tasks import today
from db.models import Rep, Role
from phrases import POINTS_ASKS
from tools.charts import render_chart
from tools.points import standings

SHOWN = 10


def _period(text: str) -> str:
    lowered = text.lower()
    if "today" in lowered or "aaj" in lowered:
        return "day"
    if "month" in lowered or "mahin" in lowered:
        return "month"
    return "week"


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    text = state.get("text", "")
    day = today(ctx)
    prefix = ctx.settings.redis_prefix
    if (
        ctx.sender.rep_id is not None
        and "leader" not in text.lower()
        and "rank" not in text.lower()
    ):
        lines = []
        for period, label in (("day", "Today"), ("week", "This week"), ("month", "This month")):
            board = await standings(ctx.session, ctx.redis, prefix, period, day)
            rank = next(
                (n for n, (rep, _) in enumerate(board, 1) if rep.id == ctx.sender.rep_id), 0
            )
            points = next((p for rep, p in board if rep.id == ctx.sender.rep_id), 0)
            lines.append(f"{label}: {points} points (#{rank} of {len(board)})")
        rep = ctx.session.get(Rep, ctx.sender.rep_id)
        ctx.say(
            "\n".join(lines)
            + f"\nBalance: {rep.points_balance} points."
            + '\nSend "leaderboard" to see the team.'
        )
        return {"active": None}
    period = _period(text)
    board = await standings(ctx.session, ctx.redis, prefix, period, day)
    if not board:
        ctx.say("No reps yet.")
        return {"active": None}
    label = {"day": "today", "week": "this week", "month": "this month"}[period]
    lines = [f"{n}. {rep.name}: {points}" for n, (rep, points) in enumerate(board[:SHOWN], 1)]
    chart = render_chart(
        "ranking",
        [rep.name for rep, _ in board[:SHOWN]],
        [points for _, points in board[:SHOWN]],
        f"Points {label}",
        "Points",
    )
    ctx.say(
        f"Leaderboard {label}:\n" + "\n".join(lines),
        image=chart,
        image_caption=f"Points {label}",
    )
    return {"active": None}


SPEC = AgentSpec(
    name="points",
    answer=answer,
    roles=frozenset({Role.rep, Role.manager, Role.admin}),
    description="incentive points and the leaderboard: my points, who is leading this week.",
    examples=((Role.rep, "mere kitne points hue"), (Role.manager, "leaderboard this month")),
    keywords=POINTS_ASKS,
    commands=("/points", "/leaderboard"),
    menu=("Points", 'points: "my points", "leaderboard this week"'),
    denied="Points are for the sales team.",
    tools=("points", "charts"),
)
