"""LLM runtime benchmark: `opensales bench llm [--model NAME] [--runs N]`.

Prints, for the configured model and settings:
1. prompt and generation tokens/s of plain llama-cpp-python and of our runtime on the same
   requests (temperature 0, so both produce the same tokens), and their ratio (the overhead);
2. latency p50/p95 of a structured order-parse call (the production order prompt and schema,
   `agents.order_reading`), with the prompt prefix cold and warm;
3. throughput of 8 concurrent callers, checking that every answer reached its own caller.
"""

import asyncio
import time
import uuid

from agents.order_reading import ORDER_PROMPT, order_messages, order_schema
from llm.breaker import CircuitBreaker
from llm.local import LocalBackend, LocalModelConfig
from llm.service import LLMService, resolve_model
from settings import get_settings

CATALOG = {
    "PG250": "Parle-G 250g",
    "PG100": "Parle-G 100g",
    "COKE750": "Coca-Cola 750ml",
    "COKE2L": "Coca-Cola 2L",
    "SURF500": "Surf Excel Easy Wash 500g",
    "SURF1KG": "Surf Excel Easy Wash 1kg",
    "MAGGI70": "Maggi Masala Noodles 70g",
    "TATASALT1KG": "Tata Salt 1kg",
}
ORDERS = [
    "2 case parle g 250 aur 1 peti coke 750",
    "bhaiya 5 pkt maggi bhejo",
    "surf excel 1kg 3 piece and tata salt 10",
    "ek case coke 2 litre",
    "parle g 100 gram 4 case, maggi 2 case",
    "10 pcs surf 500g",
    "3 case tata salt",
    "2 coke 750ml bottles and 6 maggi",
]
LONG_CONTEXT = " ".join(
    f"Store {i} in Kothrud ordered Parle-G and Coca-Cola last week." for i in range(40)
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def prompt_set(runs: int) -> list[list[dict]]:
    """Long prompts, each with a fresh prefix so no cache helps: prefill speed."""
    return [
        [
            {"role": "system", "content": f"Session {uuid.uuid4()}. {LONG_CONTEXT}"},
            {"role": "user", "content": "Which area are these stores in? One word."},
        ]
        for _ in range(runs)
    ]


def generation_set(runs: int) -> list[list[dict]]:
    return [
        [{"role": "user", "content": f"List {20 + i} Indian biscuit brands, one per line."}]
        for i in range(runs)
    ]


def plain_run(llama, requests: list[list[dict]], max_tokens: int) -> tuple[float, int, int]:
    started, prompt, completion = time.perf_counter(), 0, 0
    for messages in requests:
        usage = llama.create_chat_completion(
            messages=messages, max_tokens=max_tokens, temperature=0.0
        )["usage"]
        prompt += usage["prompt_tokens"]
        completion += usage["completion_tokens"]
    return time.perf_counter() - started, prompt, completion


async def ours_run(service: LLMService, requests: list[list[dict]], max_tokens: int) -> float:
    started = time.perf_counter()
    for messages in requests:
        await service.chat(messages, max_tokens=max_tokens)
    return time.perf_counter() - started


async def structured_latency(service: LLMService, runs: int) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for i in range(runs):
        order = ORDERS[i % len(ORDERS)]
        await service.chat([{"role": "user", "content": f"Say {uuid.uuid4()}"}], max_tokens=4)
        for bucket in (cold, warm):  # first after another family, then right after itself
            started = time.perf_counter()
            await service.complete_json(
                order_messages(order, list(CATALOG.items())),
                order_schema(list(CATALOG), 4),
                max_tokens=4 * 40 + 20,
                prompt=ORDER_PROMPT.id,
            )
            bucket.append(time.perf_counter() - started)
    return cold, warm


async def concurrent_callers(service: LLMService, callers: int, each: int) -> tuple[float, list]:
    latencies: list[float] = []
    mixed: list[str] = []

    async def caller(index: int) -> None:
        for turn in range(each):
            word = f"W{index}X{turn}"
            started = time.perf_counter()
            ask = f"Reply with exactly this word and nothing else: {word}"
            completion = await service.chat([{"role": "user", "content": ask}], max_tokens=12)
            latencies.append(time.perf_counter() - started)
            if word not in completion.text:
                mixed.append(f"{word} -> {completion.text!r}")

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    return time.perf_counter() - started, latencies, mixed


def main(args) -> int:
    from llama_cpp import Llama

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"llm_model": args.model})
    path = resolve_model(settings, progress=True)
    config = LocalModelConfig(
        path,
        settings.llm_context,
        settings.llm_threads,
        settings.llm_batch,
        settings.llm_gpu_layers,
        settings.llm_chat_format,
    )
    runs = args.runs
    print(
        f"model {path.name}, n_ctx {config.n_ctx}, threads {config.n_threads or 'all'}, "
        f"gpu layers {config.n_gpu_layers}, {runs} requests per measurement"
    )

    plain = Llama(
        model_path=str(path),
        n_ctx=config.n_ctx,
        n_threads=config.n_threads,
        n_batch=config.n_batch,
        n_gpu_layers=config.n_gpu_layers,
        chat_format=config.chat_format,
        verbose=False,
    )
    prompts, generations = prompt_set(runs), generation_set(runs)
    plain_run(plain, generations[:1], 8)  # warm-up
    p_time, p_prompt, _ = plain_run(plain, prompts, 1)
    g_time, _, g_tokens = plain_run(plain, generations, 128)
    del plain

    async def measure() -> None:
        service = LLMService(LocalBackend(config), CircuitBreaker("bench", 3, 1e9, 1), 600)
        await ours_run(service, generations[:1], 8)
        o_p_time = await ours_run(service, prompts, 1)
        o_g_time = await ours_run(service, generations, 128)
        print(
            f"prompt tokens/s: plain {p_prompt / p_time:.1f}, ours {p_prompt / o_p_time:.1f}, "
            f"ratio {p_time / o_p_time:.3f}"
        )
        print(
            f"generation tokens/s: plain {g_tokens / g_time:.1f}, ours {g_tokens / o_g_time:.1f}"
            f", ratio {g_time / o_g_time:.3f}"
        )

        cold, warm = await structured_latency(service, runs)
        for name, values in (("cold", cold), ("warm", warm)):
            print(
                f"structured order parse, {name} prefix: p50 {percentile(values, 50):.2f}s, "
                f"p95 {percentile(values, 95):.2f}s"
            )

        total, latencies, mixed = await concurrent_callers(service, 8, 3)
        print(
            f"8 concurrent callers: {len(latencies)} requests in {total:.1f}s = "
            f"{len(latencies) / total:.2f} req/s, p95 {percentile(latencies, 95):.2f}s, "
            f"dropped {8 * 3 - len(latencies)}, wrong answers {len(mixed)}"
        )
        for line in mixed:
            print(f"  {line}")
        await service.close()

    asyncio.run(measure())
    return 0
