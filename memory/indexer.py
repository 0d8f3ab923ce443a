"""Documents for the retrieval memory, built from a company's data and playbook files.

Store profiles and catalog entries are written from the database; playbooks are Markdown files
split at their `## ` headings, so each section is retrieved on its own. Nothing personal goes in:
a store profile names the shop, its area and its habits, never the owner or a phone number.
"""

import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from sqlmodel import func, select

from db.models import Product, Rep, Store, Transaction, TransactionItem
from db.scope import CompanySession
from memory.store import Document

PLAYBOOKS_DIR = Path(__file__).parent / "playbooks"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def rupees(paise: int) -> str:
    return f"INR {paise / 100:,.2f}"


def product_documents(session: CompanySession) -> list[Document]:
    return [
        Document(
            id=f"product/{p.sku}",
            text=(
                f"{p.name} ({p.sku}). Brand {p.brand}, category {p.category}, pack {p.pack_size}, "
                f"{p.units_per_case} per case. Price {rupees(p.price_paise)} per piece, MRP "
                f"{rupees(p.mrp_paise)}. Also called: {', '.join(p.aliases) or 'no other names'}."
            ),
            metadata={"sku": p.sku, "brand": p.brand, "category": p.category},
        )
        for p in session.exec(select(Product).where(Product.is_active).order_by(Product.sku))
    ]


def store_documents(session: CompanySession, today: date) -> list[Document]:
    """One profile per store: area, kind, rep, ordering rhythm, value and usual basket."""
    orders = defaultdict(list)
    for store_id, day, total in session.exec(
        select(Transaction.store_id, Transaction.transaction_date, Transaction.total_paise)
    ):
        orders[store_id].append((day, total))
    baskets: dict = defaultdict(Counter)
    for store_id, name, pieces in session.exec(
        select(Transaction.store_id, Product.name, func.sum(TransactionItem.quantity))
        .join(TransactionItem, TransactionItem.transaction_id == Transaction.id)
        .join(Product, Product.id == TransactionItem.product_id)
        .group_by(Transaction.store_id, Product.name)
    ):
        baskets[store_id][name] = pieces
    reps = {rep.id: rep.name for rep in session.exec(select(Rep))}
    documents = []
    for store in session.exec(select(Store).order_by(Store.code)):
        history = sorted(orders[store.id])
        if history:
            span = max((history[-1][0] - history[0][0]).days, 1)
            rhythm = (
                f"{len(history)} orders, about every {span / max(len(history) - 1, 1):.0f} "
                f"days, average {rupees(sum(t for _, t in history) // len(history))}; last "
                f"order {history[-1][0].isoformat()} ({(today - history[-1][0]).days} days ago)"
            )
        else:
            rhythm = "no orders yet"
        usual = ", ".join(name for name, _ in baskets[store.id].most_common(5)) or "nothing yet"
        documents.append(
            Document(
                id=f"store/{store.code}",
                text=(
                    f"{store.name} ({store.code}), a {store.channel_type} store in "
                    f"{store.locality}, {store.city}. "
                    f"Rep: {reps.get(store.assigned_rep_id, 'none')}. {rhythm}. "
                    f"Usually buys: {usual}."
                ),
                metadata={
                    "code": store.code,
                    "locality": store.locality,
                    "channel_type": store.channel_type,
                },
            )
        )
    return documents


def playbook_documents(folders: list[Path]) -> list[Document]:
    """Each `## ` section of each Markdown file, titled with its playbook."""
    documents = []
    for folder in folders:
        for path in sorted(folder.glob("*.md")):
            title, section, lines = path.stem, None, []
            for line in [*path.read_text(encoding="utf-8").splitlines(), "## "]:
                if line.startswith("# "):
                    title = line[2:].strip()
                elif line.startswith("## "):
                    if section and any(lines):
                        documents.append(
                            Document(
                                id=f"playbook/{path.stem}#{slug(section)}",
                                text=f"{title}: {section}\n" + "\n".join(lines).strip(),
                                metadata={"playbook": path.stem, "section": section},
                            )
                        )
                    section, lines = line[3:].strip(), []
                elif section:
                    lines.append(line)
    return documents
