"""Conversation checkpoints and retrieval memory (RAG), always scoped by company."""
