"""Tenant isolation and soft delete, enforced by CompanySession, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import delete, exists, func, insert, text, true, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import select

from db.engine import company_session, system_session
from db.models import Company, Product, StockLevel, Store, Tenant
from db.scope import ScopeError


def product(sku: str, **values) -> Product:
    defaults = dict(
        name=f"Product {sku}",
        brand="Parle",
        category="Biscuits",
        pack_size="250g",
        units_per_case=48,
        mrp_paise=3000,
        price_paise=2700,
        aliases=[sku.lower()],
    )
    return Product(sku=sku, **{**defaults, **values})


@pytest.fixture
def seeded(engine, two_companies):
    """Each company owns a product with the same SKU and a stock row."""
    ids = {}
    for company_id, name in zip(two_companies, ("alpha", "beta"), strict=True):
        with company_session(company_id, engine) as session:
            item = product("PG250", name=f"{name} biscuits")
            session.add(item)
            session.flush()
            session.add(StockLevel(product_id=item.id, quantity=100))
            session.commit()
            ids[name] = item.id
    return two_companies, ids


def test_reads_see_only_own_company(engine, seeded):
    (alpha, beta), ids = seeded
    with company_session(alpha, engine) as session:
        assert [p.name for p in session.exec(select(Product))] == ["alpha biscuits"]
        assert session.get(Product, ids["beta"]) is None
        assert session.exec(select(func.count()).select_from(Product)).one() == 1
        other = aliased(Product)
        joined = select(Product.name, other.name).join(other, other.sku == Product.sku)
        assert session.exec(joined).all() == [("alpha biscuits", "alpha biscuits")]
        by_stock = select(Product.name).join(StockLevel, StockLevel.product_id == Product.id)
        assert session.exec(by_stock).all() == ["alpha biscuits"]
        assert [c.id for c in session.exec(select(Company))] == [alpha]
        assert len(session.exec(select(Tenant)).all()) == 1


def test_new_rows_take_the_session_company(engine, seeded):
    (alpha, _beta), _ids = seeded
    with company_session(alpha, engine) as session:
        item = product("NEW1")
        session.add(item)
        session.commit()
        assert item.company_id == alpha


def test_cannot_write_into_another_company(engine, seeded):
    (alpha, beta), ids = seeded
    with company_session(alpha, engine) as session:
        session.add(product("X1", company_id=beta))
        with pytest.raises(ScopeError, match="another company"):
            session.flush()
        session.rollback()

        mine = session.exec(select(Product)).one()
        mine.company_id = beta
        with pytest.raises(ScopeError, match="cannot move"):
            session.flush()
        session.rollback()

        result = session.exec(update(Product).values(name="renamed"))
        session.commit()
        assert result.rowcount == 1
        with pytest.raises(ScopeError, match="UPDATE cannot move"):
            session.exec(update(Product).values(company_id=beta))

        with pytest.raises(ScopeError):
            session.add(Company(tenant_id=mine.company_id, name="x", slug="x", city="x"))
            session.flush()
    with company_session(beta, engine) as session:
        assert session.get(Product, ids["beta"]).name == "beta biscuits"


PRODUCTS, STOCK = Product.__table__, StockLevel.__table__
BYPASSES = {
    "raw-sql": text("SELECT * FROM products"),
    "bulk-delete": delete(Product),
    "bulk-insert": insert(Product).values(sku="Y"),
    "from-statement": sa_select(Product).from_statement(text("SELECT * FROM products")),
    "text-column": sa_select(Product.sku, text("(SELECT name FROM products LIMIT 1)")),
    "core-union": sa_select(Product.name).union_all(sa_select(PRODUCTS.c.name)),
    "core-scalar-subquery": sa_select(
        Product.sku, sa_select(PRODUCTS.c.name).where(PRODUCTS.c.sku == "PG250").scalar_subquery()
    ),
    "core-join": sa_select(Product.sku).join_from(Product, STOCK, true()),
    "core-count": sa_select(func.count()).select_from(STOCK),
    "core-exists": sa_select(Product.sku).where(exists().where(STOCK.c.quantity > 0)),
    "update-company": update(Product).values(company_id=None),
    "update-tenant": update(Tenant).values(name="renamed"),
}


@pytest.mark.parametrize("statement", BYPASSES.values(), ids=BYPASSES.keys())
def test_statements_that_bypass_the_filter_are_refused(engine, seeded, statement):
    (alpha, _beta), _ids = seeded
    with company_session(alpha, engine) as session, pytest.raises(ScopeError):
        session.exec(statement)


def test_bulk_paths_are_refused(engine, seeded):
    (alpha, beta), ids = seeded
    with company_session(alpha, engine) as session:
        with pytest.raises(ScopeError, match="primary key lists"):
            session.execute(update(Product), [{"id": ids["beta"], "name": "pwned"}])
        with pytest.raises(ScopeError):
            session.bulk_update_mappings(Product, [{"id": ids["beta"], "name": "pwned"}])
        with pytest.raises(ScopeError):
            session.bulk_insert_mappings(Product, [{"sku": "X", "company_id": beta}])
        with pytest.raises(ScopeError):
            session.bulk_save_objects([product("X2", company_id=beta)])
    with company_session(beta, engine) as session:
        assert session.get(Product, ids["beta"]).name == "beta biscuits"


def test_a_company_cannot_change_its_tenant(engine, seeded):
    (alpha, beta), _ids = seeded
    with system_session(engine) as session:
        beta_tenant = session.get(Company, beta).tenant_id
    with company_session(alpha, engine) as session:
        company = session.get(Company, alpha)
        company.tenant_id = beta_tenant
        with pytest.raises(ScopeError, match="tenant"):
            session.flush()
        session.rollback()
        tenant = session.exec(select(Tenant)).one()
        tenant.name = "renamed"
        with pytest.raises(ScopeError):
            session.flush()


def test_delete_is_soft(engine, seeded):
    (alpha, _beta), ids = seeded
    with company_session(alpha, engine) as session:
        session.delete(session.get(Product, ids["alpha"]))
        session.commit()
        assert session.exec(select(Product)).all() == []
        assert session.get(Product, ids["alpha"]) is None
        everything = select(Product).execution_options(include_deleted=True)
        assert [p.id for p in session.exec(everything)] == [ids["alpha"]]
        assert session.get(Product, ids["alpha"]) is None  # though now in the identity map
    with system_session(engine) as session:
        row = session.get(Product, ids["alpha"])
        assert row is not None and row.deleted_at is not None


def test_soft_deleted_rows_of_other_tables_are_hidden(engine, two_companies):
    alpha, _beta = two_companies
    with company_session(alpha, engine) as session:
        store = Store(
            code="S1",
            name="Balaji Kirana",
            owner_name="Ramesh Patil",
            owner_phone="+919800000001",
            address="Kothrud",
            locality="Kothrud",
            city="Pune",
            lat=18.5,
            lng=73.8,
        )
        session.add(store)
        session.commit()
        session.delete(store)
        session.commit()
        assert session.exec(select(Store)).all() == []
