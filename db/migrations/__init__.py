"""Alembic migrations; run them with `opensales migrate`."""
