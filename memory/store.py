"""Retrieval memory in Chroma, scoped by company.

Three collections, as in the seed: `store_profiles`, `product_catalog`, `sales_playbooks`.
Every document carries its company's id, and the only way to read or write is through
`CompanyMemory`, which adds that id to every query filter and every document id: a query
without a company cannot be expressed through this API.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings

from memory.embeddings import Embedder
from memory.hinglish import expand

COLLECTIONS = ("store_profiles", "product_catalog", "sales_playbooks")


@dataclass(frozen=True)
class Document:
    id: str  # stable within the company, e.g. "product/PG250"
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict[str, Any]
    distance: float


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0


class Memory:
    """The Chroma client and embedder of this process."""

    def __init__(self, path: Path, embedder: Embedder | None = None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.embedder = embedder or Embedder()

    def collection(self, name: str):
        if name not in COLLECTIONS:
            raise ValueError(f"unknown collection {name!r}; one of {', '.join(COLLECTIONS)}")
        return self.client.get_or_create_collection(
            name, embedding_function=self.embedder, metadata={"hnsw:space": "cosine"}
        )

    def for_company(self, company_id: uuid.UUID) -> "CompanyMemory":
        return CompanyMemory(self, company_id)


class CompanyMemory:
    def __init__(self, memory: Memory, company_id: uuid.UUID) -> None:
        self.memory = memory
        self.company = str(company_id)

    def _where(self, where: dict[str, Any] | None) -> dict[str, Any]:
        mine = {"company_id": self.company}
        return {"$and": [mine, where]} if where else mine

    def _key(self, doc_id: str) -> str:
        return f"{self.company}:{doc_id}"

    def search(
        self, collection: str, query: str, k: int = 5, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The `k` documents of this company nearest to `query`."""
        result = self.memory.collection(collection).query(
            query_texts=[expand(query)],
            n_results=k,
            where=self._where(where),
            include=["documents", "metadatas", "distances"],
        )
        prefix = len(self.company) + 1
        return [
            Hit(key[prefix:], text, metadata, distance)
            for key, text, metadata, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def sync(self, collection: str, documents: list[Document]) -> SyncReport:
        """Make the collection hold exactly `documents` for this company, embedding only the
        new and changed ones."""
        target = self.memory.collection(collection)
        stored = target.get(where=self._where(None), include=["metadatas"])
        hashes = {
            key: meta.get("hash")
            for key, meta in zip(stored["ids"], stored["metadatas"], strict=True)
        }
        existing = set(hashes)
        report, keys, texts, metadatas = SyncReport(), [], [], []
        for document in documents:
            key = self._key(document.id)
            digest = hashlib.sha1(document.text.encode()).hexdigest()
            if hashes.pop(key, None) == digest:
                report.unchanged += 1
                continue
            report.updated += key in existing
            keys.append(key)
            texts.append(document.text)
            metadatas.append({**document.metadata, "company_id": self.company, "hash": digest})
        report.added = len(keys) - report.updated
        for start in range(0, len(keys), 256):
            target.upsert(
                ids=keys[start : start + 256],
                documents=texts[start : start + 256],
                metadatas=metadatas[start : start + 256],
            )
        if hashes:
            target.delete(ids=list(hashes))
            report.removed = len(hashes)
        return report

    def count(self, collection: str) -> int:
        return len(self.memory.collection(collection).get(where=self._where(None))["ids"])
