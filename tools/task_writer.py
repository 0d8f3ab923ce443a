"""The LLM's part in WF-001: the reasoning and pitch of a task the rules chose, in the rep's
words, from the facts, the store's profile and the playbook (retrieval memory).

The model writes schema-constrained JSON (the product codes it may name are an enum), and what
it writes goes through the same validation as the rules' own text; any failure leaves the task
with the rules' text. The caller decides which tasks get the model (see `jobs/daily.py`).
"""

import enum
import re
from typing import Any

from pydantic import BaseModel, Field, create_model

from llm.service import LLMService
from memory.store import CompanyMemory
from prompts import prompt
from tools.planner import Candidate, Company90, Invalid

WRITE_PROMPT = prompt("task_write")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
SENTENCE = re.compile(r"[^.!?]+[.!?]+\s*")


def _schema(allowed: list[str]) -> type[BaseModel]:
    codes: Any = enum.Enum("Sku", {sku: sku for sku in allowed}) if allowed else str
    return create_model(
        "WrittenTask",
        reasoning=(str, Field(min_length=10)),
        pitch=(str, Field(min_length=10)),
        products=(list[codes], Field(default_factory=list, max_length=3 if allowed else 0)),
    )


def whole_sentences(text: str, limit: int) -> str:
    """The sentences of `text` that fit in `limit` characters: a rep never reads half a one."""
    kept = ""
    for sentence in SENTENCE.findall(text.strip()):
        if len(kept) + len(sentence) > limit:
            break
        kept += sentence
    if not kept.strip():
        raise Invalid(f"no whole sentence within {limit} characters")
    return kept.strip()


def allowed_products(data: Company90, task: Candidate) -> list[str]:
    """The codes the model may name: the task's own, then the must-sell list."""
    return list(dict.fromkeys([*task.products, *(p.sku for p in data.must_sell)]))[:12]


def context(memory: CompanyMemory | None, task: Candidate) -> str:
    """The store's profile and the playbook's nearest advice, from retrieval memory."""
    if memory is None:
        return ""
    parts = []
    for collection, query, where in (
        ("store_profiles", task.store.name, {"code": task.store.code}),
        ("sales_playbooks", f"{task.task_type.replace('_', ' ')}: {task.title}", None),
    ):
        try:
            hits = memory.search(collection, query, k=1, where=where)
        except Exception:  # an index not built yet: plan without it
            hits = []
        parts += [hit.text[:400] for hit in hits]
    return "\n".join(parts)


async def write(
    llm: LLMService,
    data: Company90,
    task: Candidate,
    profile: str,
    timeout_s: float,
) -> Candidate:
    """The task with the model's reasoning, pitch and products; raises LLMError when the model
    fails, Invalid when it cites a number the facts do not hold."""
    allowed = allowed_products(data, task)
    facts = {
        "task": task.task_type,
        "title": task.title,
        "store": task.store.name,
        "drivers": task.drivers,
        "rules_reasoning": task.reasoning,
        "allowed_products": {
            sku: next((p.name for p in data.products.values() if p.sku == sku), sku)
            for sku in allowed
        },
    }
    messages = [
        {"role": "system", "content": WRITE_PROMPT.render()},
        {"role": "user", "content": f"Store profile: {profile or 'none'}\nFacts: {facts}"},
    ]
    written = await llm.complete_json(
        messages,
        _schema(allowed),
        max_tokens=220,
        timeout_s=timeout_s,
        slow_s=timeout_s,
        prompt=WRITE_PROMPT.id,
    )
    fields = written.model_dump()  # a model made for this call: its fields by name
    products = [p.value if isinstance(p, enum.Enum) else p for p in fields["products"]]
    invented = set(NUMBER.findall(f"{fields['reasoning']} {fields['pitch']}")) - set(
        NUMBER.findall(f"{facts} {profile}")
    )
    if invented:
        raise Invalid(f"cites numbers that are not in the facts: {', '.join(sorted(invented))}")
    return Candidate(
        store=task.store,
        rep_id=task.rep_id,
        task_type=task.task_type,
        score=task.score,
        drivers=task.drivers,
        title=task.title,
        reasoning=whole_sentences(llm.restore(fields["reasoning"]), 240),
        pitch=whole_sentences(llm.restore(fields["pitch"]), 200),
        products=products or task.products,
    )
