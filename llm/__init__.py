"""The local LLM runtime (llama.cpp), structured output and the circuit breaker."""
