"""Forecasting, stock-out, credit, churn and route optimisation models."""
