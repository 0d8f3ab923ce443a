"""Typed functions the agents call, over db/, ml/ and memory/; they know nothing of the LLM."""
