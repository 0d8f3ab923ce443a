"""Retrieval benchmark: `opensales bench rag [--cases FILE]`.

Indexes the shipped playbooks and the demo catalog for a throwaway company in a temporary
Chroma folder, runs each labelled query (`{"collection", "query", "relevant": [doc ids]}`) and
prints recall@5, hit rate@1 and query latency percentiles.
"""

import json
import tempfile
import time
import uuid
from pathlib import Path

from evals.bench_llm import percentile
from memory.indexer import PLAYBOOKS_DIR, playbook_documents
from memory.store import Memory

DEFAULT_CASES = Path(__file__).parent / "data" / "rag_cases.jsonl"


def main(args) -> int:
    cases_path = args.cases or DEFAULT_CASES
    cases = [json.loads(line) for line in cases_path.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        memory = Memory(Path(folder)).for_company(uuid.uuid4())
        documents = playbook_documents([PLAYBOOKS_DIR])
        memory.sync("sales_playbooks", documents)
        print(
            f"indexed {len(documents)} playbook sections in {time.perf_counter() - started:.1f}s"
            f" (model load included)"
        )
        recalls, firsts, latencies = [], [], []
        for case in cases:
            started = time.perf_counter()
            hits = memory.search(case["collection"], case["query"], k=5)
            latencies.append(time.perf_counter() - started)
            found = [hit.id for hit in hits]
            relevant = set(case["relevant"])
            recalls.append(len(relevant & set(found)) / len(relevant))
            firsts.append(found[0] in relevant)
            if recalls[-1] < 1:
                print(f"  missed: {case['query']!r} -> {found[:3]}")
    print(f"recall@5: {100 * sum(recalls) / len(recalls):.1f}% over {len(cases)} queries")
    print(f"hit@1: {100 * sum(firsts) / len(firsts):.1f}%")
    print(
        f"query latency: p50 {1000 * percentile(latencies, 50):.1f} ms, "
        f"p95 {1000 * percentile(latencies, 95):.1f} ms"
    )
    return 0
