"""Labelled evaluations and benchmarks, run as commands that print figures."""
