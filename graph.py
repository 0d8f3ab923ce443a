"""The LangGraph supervisor that routes each conversation turn to an agent.

Not built yet: the supervisor graph arrives with issue 5, after the order agent (issue 4).
"""
