"""Prompts are files loaded by name, and every LLM call logs which prompt (and version) it used."""

import asyncio
import logging

from fake_llm import fake_llm

from agents.registry import AGENTS
from prompts import prompt


def test_every_prompt_an_agent_declares_is_a_file_with_a_versioned_id():
    declared = {name for spec in AGENTS for name in spec.prompts} | {"route"}
    for name in declared:
        found = prompt(name)
        assert found.id == f"{name}@{found.sha256[:12]}" and len(found.sha256) == 64
    assert len({prompt(name).sha256 for name in declared}) == len(declared)


def test_each_llm_call_logs_its_prompt_id(caplog):
    llm = fake_llm(complete=lambda request: '{"intent": "order"}')
    route = prompt("route")
    with caplog.at_level(logging.INFO, logger="opensales.llm"):
        asyncio.run(llm.chat([{"role": "user", "content": "hi"}], prompt=route.id))
    assert f"llm {route.id}: 10+5 tokens" in caplog.text
