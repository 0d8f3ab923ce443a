"""The agents the supervisor routes to, in the order the router and the menus list them.

Adding an agent: write its module with an `answer(ctx, state)` node and a `SPEC`, and add one
line here. The graph, the router (intents, commands, keywords, the routing prompt), the help
menu, the console and the agent API read this list.
"""

from agents import analytics, coach, credit, help, order, points, prices, promo, tasks, visits
from agents.spec import AgentSpec

AGENTS: tuple[AgentSpec, ...] = (
    order.SPEC,
    prices.SPEC,
    promo.SPEC,
    analytics.SPEC,
    coach.SPEC,
    tasks.SPEC,
    visits.SPEC,
    points.SPEC,
    credit.SPEC,
    help.SPEC,
)
