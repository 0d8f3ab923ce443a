"""Sub-agents the supervisor routes to: order, coach, analytics, promo (issues 4 and 5)."""
