"""The durable queue worker and the scheduled workflows (arq on Redis, in-process embedded)."""
