"""Long-term facts about a user that outlive any one conversation: the language they write in
and what they usually order. Kept in LangGraph's store (PostgreSQL or SQLite, beside the
checkpoints), under the company and the user, so no other company can read them."""

import re
import uuid

from langgraph.store.base import BaseStore

from phrases import DEVANAGARI, HINGLISH


def language_of(text: str) -> str | None:
    """hi (Devanagari), hinglish (Hindi in Latin letters) or en; None when too short to say."""
    if DEVANAGARI.search(text):
        return "hi"
    words = re.findall(r"[a-zA-Z]+", text)
    if len(words) < 3:
        return None
    return "hinglish" if len(HINGLISH.findall(text)) >= 2 else "en"


def _namespace(company_id: uuid.UUID, user_key: str) -> tuple[str, ...]:
    return ("profile", str(company_id), user_key)


async def recall(store: BaseStore | None, company_id: uuid.UUID, user_key: str) -> dict:
    if store is None:
        return {}
    item = await store.aget(_namespace(company_id, user_key), "facts")
    return dict(item.value) if item else {}


async def remember(store: BaseStore | None, company_id: uuid.UUID, user_key: str, **facts) -> None:
    """Merge `facts` into what is known; writes only when something changed."""
    if store is None:
        return
    known = await recall(store, company_id, user_key)
    merged = {**known, **facts}
    if merged != known:
        await store.aput(_namespace(company_id, user_key), "facts", merged)
