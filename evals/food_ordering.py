"""Amazon's FoodOrdering dev sets through the order eval: `opensales eval food-ordering`.

An adapter, so the same reader is measured on orders written by other people for other shops:
each dish, side or drink type becomes a catalog product (one per size it is ordered in, plus a
sizeless one), its aliases come from the dataset's alias files, and each order's items become
the expected lines (quantity from NUMBER, in pieces). Toppings and other modifiers have no place
in a distributor's catalog and are left out of the comparison. The data stays where it is
(`../shared/data/food-ordering/`, CC BY-NC 4.0, evaluation only): nothing of it is copied.
"""

import csv
import io
import json
import re
import tempfile
from argparse import Namespace
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "food-ordering"
TYPE_SLOTS = {"MAIN_DISH_TYPE", "SIDE_TYPE", "DRINK_TYPE", "BASE_SANDWICH"}
NUMBERS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9, "10": 10}


def parse_exr(exr: str) -> list[dict]:
    """The orders of an EXR string as {"type", "size", "number"}: the type is the dish, side or
    drink slot, or, for orders named by their intent (BURRITO_ORDER), the intent."""
    orders, stack = [], []
    for token in re.findall(r"\(|\)|[^\s()]+", exr):
        if token == "(":
            stack.append([])
        elif token == ")":
            node = stack.pop()
            (stack[-1] if stack else orders).append(node)
        else:
            stack[-1].append(token)
    items = []
    for order in orders:
        slots = {c[0]: c[1] for c in order[1:] if isinstance(c, list) and len(c) == 2}
        kind = next((slots[s] for s in TYPE_SLOTS if s in slots), None)
        if kind is None and order[0] not in ("SIDE_ORDER", "DRINK_ORDER"):
            kind = order[0].removesuffix("_ORDER").lower()
        if kind is not None:
            items.append(
                {
                    "type": kind,
                    "size": slots.get("SIZE"),
                    "number": NUMBERS.get(slots.get("NUMBER", "1"), 1),
                }
            )
    return items


def sku_of(kind: str, size: str | None) -> str:
    name = f"{kind}_{size}" if size else kind
    return re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")[:64]


def read_vocabulary(folder: Path):
    """Surface forms of each product type and size, and of every modifier (toppings, fillings,
    styles, roasts, qualifiers, negations), from the alias files and the schema."""
    types: dict[str, list[str]] = {}
    sizes: dict[str, list[str]] = {}
    modifiers: set[str] = set()
    for path in (folder / "alias").glob("*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            surface, _, meaning = line.partition("\t")
            match = re.fullmatch(r"(\w+)\((.+)\)", meaning.strip())
            if not match:
                continue
            slot, value = match.groups()
            if slot in TYPE_SLOTS:
                types.setdefault(value, []).append(surface.strip())
            elif slot == "SIZE":
                sizes.setdefault(value, []).append(surface.strip())
            elif slot.upper() != "NUMBER":
                modifiers.add(surface.strip())
    schema = json.loads((folder / "schema.json").read_text(encoding="utf-8"))
    for intent in schema["intents"]:
        kind = intent["name"].removesuffix("_ORDER").lower()
        if intent["name"] not in ("SIDE_ORDER", "DRINK_ORDER") and kind not in types:
            types[kind] = list(intent.get("entityNames", []))
    names = {form for forms in types.values() for form in forms}
    return types, sizes, sorted(modifiers - names, key=len, reverse=True)


def adapt(folder: Path) -> tuple[str, list[dict]]:
    """(catalog CSV text, cases) for one domain. Modifier phrases are taken out of the texts:
    a distributor's catalog has no toppings, and the comparison leaves them out too."""
    types, sizes, modifiers = read_vocabulary(folder)
    names = sorted({form for forms in types.values() for form in forms}, key=len, reverse=True)
    product = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")
    strip = (
        re.compile(r"\b(?:" + "|".join(map(re.escape, modifiers)) + r")\b") if modifiers else None
    )

    def without_modifiers(text: str) -> str:
        kept = product.findall(text)  # "steak and cheese" keeps its cheese
        text = product.sub("\x00", text)
        text = strip.sub(" ", text) if strip else text
        for name in kept:
            text = text.replace("\x00", name, 1)
        return re.sub(r"\s+", " ", text).strip()

    cases, used = [], set()
    for line in (folder / "dev.json").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        items = parse_exr(record["EXR"])
        used.update((item["type"], item["size"]) for item in items)
        cases.append(
            {
                "text": without_modifiers(record["SRC"]),
                "items": [
                    {
                        "sku": sku_of(item["type"], item["size"]),
                        "qty": item["number"],
                        "unit": "piece",
                    }
                    for item in items
                ],
            }
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["sku", "name", "brand", "category", "pack_size", "units_per_case", "price_inr", "aliases"]
    )
    for kind in sorted(types):
        for size in [None, *sorted(sizes)]:
            if size is not None and (kind, size) not in used:
                continue
            forms = (
                types[kind]
                if size is None
                else [f"{s} {t}" for s in sizes[size] for t in types[kind]]
            )
            name = kind.replace("_", " ") + (f" ({size})" if size else "")
            writer.writerow(
                [
                    sku_of(kind, size),
                    name,
                    folder.name,
                    folder.name,
                    size or "regular",
                    1,
                    "100",
                    "|".join(forms),
                ]
            )
    return out.getvalue(), cases


def main(args) -> int:
    from evals.orders import main as evaluate

    data = args.data or DEFAULT_DATA
    if not data.is_dir():
        print(f"FoodOrdering data not found at {data}; pass --data DIR")
        return 2
    for folder in sorted(p for p in data.iterdir() if (p / "dev.json").is_file()):
        catalog, cases = adapt(folder)
        with tempfile.TemporaryDirectory() as scratch:
            catalog_path, cases_path = Path(scratch) / "catalog.csv", Path(scratch) / "cases.jsonl"
            catalog_path.write_text(catalog)
            cases_path.write_text("\n".join(json.dumps(c) for c in cases))
            print(f"== {folder.name}: {len(cases)} orders")
            evaluate(
                Namespace(
                    catalog=catalog_path, cases=cases_path, no_llm=args.no_llm, show_failures=5
                )
            )
    return 0
