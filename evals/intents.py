"""Intent routing eval: `opensales eval intents [--cases FILE.jsonl] [--catalog FILE.csv]`.

Each case line is `{"role": "retailer"|"rep"|"manager", "text": ..., "intent": ...}`. Every text
goes through the supervisor's router (`agents/router.py`: rules first, then the LLM), with the
catalogue parser over `--catalog` (default: the demo catalogue). Prints the failures, then
`intent routing accuracy: NN.N%`, a confusion matrix (rows: expected, columns: routed), how
many decisions each source made, and routing latency percentiles.
"""

import asyncio
import json
import tempfile
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from agents.registry import AGENTS
from agents.router import intents, route, routing_prompt
from db.models import Role
from evals.bench_llm import percentile
from evals.orders import load_parser

DEMO_CATALOG = Path(__file__).parents[1] / "db" / "demo_catalog.csv"
DEFAULT_CASES = Path(__file__).parent / "data" / "intents_test.jsonl"


async def run(cases: list[dict], parser, llm) -> int:
    if llm is not None:  # as the server does at start: the model and the prompt's fixed part
        await llm.prepare(routing_prompt(AGENTS))
    confusion: Counter = Counter()
    sources: Counter = Counter()
    seconds: dict[str, list[float]] = {}
    right = 0
    for number, case in enumerate(tqdm(cases, desc="Messages", unit="msg"), start=1):
        role = Role(case["role"])
        decision = await route(case["text"], role, parser, llm, AGENTS)
        confusion[case["intent"], decision.intent] += 1
        sources[decision.source] += 1
        seconds.setdefault(decision.source, []).append(decision.seconds)
        if decision.intent == case["intent"]:
            right += 1
        else:
            tqdm.write(
                f"FAIL {number} ({role.value}): {case['text']!r}: expected "
                f"{case['intent']}, routed {decision.intent} by {decision.source} "
                f"({decision.confidence:.2f})"
            )
    total = len(cases)
    print(f"intent routing accuracy: {100 * right / total:.1f}% ({right}/{total})")
    print("confusion (rows expected, columns routed):")
    print(f"{'':>10}" + "".join(f"{intent:>10}" for intent in intents(AGENTS)))
    for expected in intents(AGENTS):
        print(
            f"{expected:>10}"
            + "".join(f"{confusion[expected, got]:>10}" for got in intents(AGENTS))
        )
    print("decided by: " + ", ".join(f"{source} {count}" for source, count in sources.items()))
    every = [s for values in seconds.values() for s in values]
    print(
        f"routing latency: p50 {1000 * percentile(every, 50):.0f} ms, "
        f"p95 {1000 * percentile(every, 95):.0f} ms, max {1000 * max(every):.0f} ms"
    )
    if seconds.get("llm"):
        print(
            f"where the LLM decided: p50 {percentile(seconds['llm'], 50):.2f} s, "
            f"p95 {percentile(seconds['llm'], 95):.2f} s"
        )
    return 0


def main(args) -> int:
    cases_file = args.cases or DEFAULT_CASES
    cases = [json.loads(line) for line in cases_file.read_text().splitlines() if line.strip()]
    llm = None
    if not args.no_llm:
        from llm.service import get_llm

        llm = get_llm()
    with tempfile.TemporaryDirectory() as folder:
        parser = load_parser(args.catalog or DEMO_CATALOG, Path(folder))

    async def evaluate() -> int:
        try:
            return await run(cases, parser, llm)
        finally:
            if llm is not None:
                await llm.close()

    return asyncio.run(evaluate())
