"""Retrieval memory: real MiniLM embeddings in a real Chroma folder, scoped by company."""

import uuid

import pytest
from sqlmodel import select

import cli
from db.engine import company_session, system_session
from db.models import Company, Store
from memory.embeddings import Embedder
from memory.indexer import PLAYBOOKS_DIR, playbook_documents, store_documents
from memory.store import Document, Memory


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


@pytest.fixture
def memory(tmp_path, embedder):
    return Memory(tmp_path / "chroma", embedder)


def test_embeddings_are_384_dimensional_and_normalised(embedder):
    vectors = embedder(["2 cases of Parle-G", "Surf Excel 1kg"])
    assert embedder.dimensions == 384 and len(vectors) == 2 and len(vectors[0]) == 384
    assert abs(sum(v * v for v in vectors[0]) - 1) < 1e-4


def test_a_company_never_retrieves_another_companys_documents(memory):
    alpha, beta = memory.for_company(uuid.uuid4()), memory.for_company(uuid.uuid4())
    alpha.sync("product_catalog", [Document("product/SECRET", "Alpha's secret biscuit recipe")])
    beta.sync("product_catalog", [Document("product/PG250", "Parle-G 250g glucose biscuits")])
    hits = beta.search("product_catalog", "Alpha's secret biscuit recipe", k=5)
    assert [hit.id for hit in hits] == ["product/PG250"]
    assert alpha.search("product_catalog", "secret biscuit", k=5)[0].id == "product/SECRET"


def test_sync_is_incremental(memory):
    company = memory.for_company(uuid.uuid4())
    documents = [Document(f"product/P{i}", f"Product number {i}") for i in range(5)]
    first = company.sync("product_catalog", documents)
    assert (first.added, first.unchanged) == (5, 0)
    again = company.sync("product_catalog", documents)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    changed = [*documents[:3], Document("product/P3", "Coca-Cola 750ml bottle")]
    report = company.sync("product_catalog", changed)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 1, 3)
    assert company.count("product_catalog") == 4
    assert company.search("product_catalog", "cold drink bottle", k=1)[0].id == "product/P3"


def test_unknown_collections_are_refused(memory):
    with pytest.raises(ValueError, match="unknown collection"):
        memory.for_company(uuid.uuid4()).search("store_secrets", "x")


def test_playbooks_split_into_retrievable_sections(memory):
    documents = playbook_documents([PLAYBOOKS_DIR])
    ids = {d.id for d in documents}
    assert len(documents) >= 35 and len(ids) == len(documents)
    assert "playbook/retailer-objections#margin-is-too-low" in ids
    assert all(len(d.text.split()) > 40 for d in documents)
    company = memory.for_company(uuid.uuid4())
    company.sync("sales_playbooks", documents)
    hits = company.search("sales_playbooks", "retailer says the margin on this product is too less")
    assert hits[0].id == "playbook/retailer-objections#margin-is-too-low"


def test_index_command_builds_and_updates_company_memory(app_env, capsys):
    args = ["demo", "--stores", "15", "--days", "21", "--quiet"]
    assert cli.main(args) == 0
    assert cli.main(["index"]) == 0
    out = capsys.readouterr().out
    assert "product_catalog: 194 documents (194 added" in out
    assert "store_profiles: 15 documents (15 added" in out
    assert cli.main(["index"]) == 0
    assert "store_profiles: 15 documents (0 added, 0 updated, 0 removed, 15 unchanged)" in (
        capsys.readouterr().out
    )

    with system_session() as session:
        company = session.exec(select(Company)).one()
    with company_session(company.id) as session:
        stores = session.exec(select(Store)).all()
        profiles = store_documents(session, today=stores[0].created_at.date())
    for store, profile in zip(stores, profiles, strict=True):
        assert store.owner_name not in profile.text and store.owner_phone[-10:] not in profile.text


def test_hinglish_words_gain_english_glosses():
    from memory.hinglish import expand

    assert expand("paisa nahi hai is mahine") == (
        "paisa nahi hai is mahine (money payment not no month)"
    )
    assert expand("how many facings per sku") == "how many facings per sku"
