"""CSV import: valid rows in one transaction, bad rows named by line, re-import updates."""

import pytest
from sqlmodel import select

import cli
from db.engine import company_session, system_session
from db.importer import ImportFileError, import_file
from db.models import Product, Rep, Role, Store, User

CATALOG = (
    "sku,name,brand,category,pack_size,units_per_case,price_inr,mrp_inr,aliases\n"
    "PG250,Parle-G 250g,Parle,Biscuits,250g,48,27.50,30,parle g|Parle-G 250| pg \n"
    "COKE750,Coca-Cola 750ml,Coca-Cola,Beverages,750ml,24,38,45,coke|coca cola\n"
)
REPS = "code,name,phone,territory\nR01,Amol Pawar,98220 12345,Kothrud\n"
STORES = (
    "code,name,owner_name,owner_phone,address,locality,city,lat,lng,rep_code\n"
    "ST1,Balaji Kirana,Ramesh Patil,+91 98220 11111,Shop 4 Paud Rd,Kothrud,Pune,18.507,73.807,R01\n"
    "ST2,Sai General,Sunita More,9822022222,Shop 9 FC Road,Deccan,Pune,18.516,73.841,\n"
)


def products(engine, company_id, **options):
    with company_session(company_id, engine) as session:
        query = select(Product).execution_options(**options).order_by(Product.sku)
        return session.exec(query).all()


def run_import(engine, company_id, kind, data: str | bytes, strict=False):
    raw = data.encode() if isinstance(data, str) else data
    with company_session(company_id, engine) as session:
        return import_file(session, kind, raw, strict=strict)


def test_catalog_import_and_reimport_updates(engine, two_companies):
    alpha, beta = two_companies
    report = run_import(engine, alpha, "catalog", CATALOG)
    assert (report.created, report.updated, report.errors) == (2, 0, [])
    parle = products(engine, alpha)[1]
    assert (parle.sku, parle.price_paise, parle.mrp_paise) == ("PG250", 2750, 3000)
    assert parle.aliases == ["parle g", "parle-g 250", "pg"]

    changed = CATALOG.replace("27.50,30", "28,30")
    report = run_import(engine, alpha, "catalog", changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert [p.price_paise for p in products(engine, alpha)] == [3800, 2800]
    assert products(engine, beta) == []


def test_reimport_revives_a_soft_deleted_row(engine, two_companies):
    alpha, _ = two_companies
    run_import(engine, alpha, "catalog", CATALOG)
    with company_session(alpha, engine) as session:
        session.delete(session.exec(select(Product).where(Product.sku == "PG250")).one())
        session.commit()
    assert [p.sku for p in products(engine, alpha)] == ["COKE750"]
    report = run_import(engine, alpha, "catalog", CATALOG)
    assert report.updated == 1
    assert [p.sku for p in products(engine, alpha)] == ["COKE750", "PG250"]
    assert len(products(engine, alpha, include_deleted=True)) == 2


BAD_CATALOG = (
    "sku,name,brand,category,pack_size,units_per_case,price_inr,mrp_inr,aliases\n"
    "PG250,Parle-G 250g,Parle,Biscuits,250g,48,27.50,30,parle g\n"  # line 2: good
    "MAGGI,Maggi 70g,Maggi,Noodles,70g,many,14,15,maggi\n"  # 3: not a number
    "PG250,Parle-G again,Parle,Biscuits,250g,48,27,30,\n"  # 4: duplicate
    "SURF1,Surf Excel 1kg,Surf Excel,Home Care,1kg,0,120,130,surf\n"  # 5: zero case size
    "LUX,Lux 100g,Lux,Personal Care,100g,72,50,45,lux\n"  # 6: price above MRP
    "TEA1,Tata Tea 250g,Tata,Tea,250g,40,12.345,150,tata tea\n"  # 7: three decimals
    ",No SKU,X,Y,1,1,1,1,x\n"  # 8: empty sku
    "COKE750,Coca-Cola 750ml,Coca-Cola,Beverages,750ml,24,38,45,coke\n"  # 9: good
    "EXTRA,Extra,X,Y,1,1,1,1,x,surplus\n"  # 10: too many fields
)


def test_every_bad_row_is_reported_by_line_and_good_rows_import(engine, two_companies):
    alpha, _ = two_companies
    report = run_import(engine, alpha, "catalog", BAD_CATALOG)
    assert [(e.line, e.message.split(" ")[0]) for e in report.errors] == [
        (3, "units_per_case"),
        (4, "duplicate"),
        (5, "units_per_case"),
        (6, "price_inr"),
        (7, "price_inr"),
        (8, "sku"),
        (10, "10"),
    ]
    assert "first on line 2" in report.errors[1].message
    assert report.committed
    assert [p.sku for p in products(engine, alpha)] == ["COKE750", "PG250"]


def test_strict_imports_nothing_when_a_row_is_bad(engine, two_companies):
    alpha, _ = two_companies
    report = run_import(engine, alpha, "catalog", BAD_CATALOG, strict=True)
    assert not report.committed and len(report.errors) == 7
    assert products(engine, alpha) == []


def test_missing_columns_name_them(engine, two_companies):
    alpha, _ = two_companies
    with pytest.raises(ImportFileError, match="line 1: missing column.*units_per_case, price_inr"):
        run_import(engine, alpha, "catalog", "sku,name,brand,category,pack_size\nA,B,C,D,E\n")
    with pytest.raises(ImportFileError, match="empty"):
        run_import(engine, alpha, "catalog", "")


def test_non_utf8_line_is_reported_and_the_rest_imports(engine, two_companies):
    alpha, _ = two_companies
    data = CATALOG.encode() + b"DAL1,Toor Dal 1kg \xe9,Tata,Staples,1kg,10,150,160,toor dal\n"
    report = run_import(engine, alpha, "catalog", data)
    assert [(e.line, e.message) for e in report.errors] == [
        (4, "not valid UTF-8; save the file as UTF-8")
    ]
    assert len(products(engine, alpha)) == 2


def test_stores_and_reps_link_and_become_identities(engine, two_companies):
    alpha, _ = two_companies
    assert run_import(engine, alpha, "reps", REPS).created == 1
    report = run_import(engine, alpha, "stores", STORES)
    assert (report.created, report.errors) == (2, [])
    with company_session(alpha, engine) as session:
        rep = session.exec(select(Rep)).one()
        stores = session.exec(select(Store).order_by(Store.code)).all()
        users = {u.phone: u for u in session.exec(select(User))}
    assert stores[0].assigned_rep_id == rep.id and stores[1].assigned_rep_id is None
    assert rep.phone == "+919822012345"
    assert users["+919822011111"].role == Role.retailer
    assert users["+919822011111"].store_id == stores[0].id
    assert users["+919822012345"].rep_id == rep.id


def test_bad_store_rows(engine, two_companies):
    alpha, _ = two_companies
    run_import(engine, alpha, "reps", REPS)
    header = STORES.splitlines()[0]
    rows = [
        "ST3,A,B,98220 33333,Addr,Loc,Pune,91.5,73.8,",  # 2: latitude out of range
        "ST4,A,B,98220 44444,Addr,Loc,Pune,0,0,",  # 3: missing coordinates
        "ST5,A,B,12345,Addr,Loc,Pune,18.5,73.8,",  # 4: bad phone
        "ST6,A,B,98220 66666,Addr,Loc,Pune,north,73.8,",  # 5: not a number
        "ST7,A,B,98220 77777,Addr,Loc,Pune,18.5,73.8,R99",  # 6: unknown rep
        "ST8,A,B,98220 12345,Addr,Loc,Pune,18.5,73.8,",  # 7: phone of the rep
        "ST9,A,B,98220 99999,Addr,Loc,Pune,18.5,73.8,R01",  # 8: good
    ]
    report = run_import(engine, alpha, "stores", "\n".join([header, *rows]) + "\n")
    assert [(e.line, e.message.split(" ")[0]) for e in report.errors] == [
        (2, "lat"),
        (3, "lat,lng"),
        (4, "owner_phone"),
        (5, "lat"),
        (6, "rep_code"),
        (7, "phone"),
    ]
    with company_session(alpha, engine) as session:
        assert [s.code for s in session.exec(select(Store))] == ["ST9"]


def test_line_numbers_count_from_where_a_row_starts(engine, two_companies):
    alpha, _ = two_companies
    data = (
        "sku,name,brand,category,pack_size,units_per_case,price_inr\n"
        '"PG250","Parle-G\n250g family pack",Parle,Biscuits,250g,48,27\n'  # lines 2-3
        "\n"  # line 4: blank
        "MAGGI,Maggi,Maggi,Noodles,70g,-4,14\n"  # line 5
    )
    report = run_import(engine, alpha, "catalog", data)
    assert [(e.line, e.message.split(" ")[0]) for e in report.errors] == [(5, "units_per_case")]
    assert products(engine, alpha)[0].name == "Parle-G\n250g family pack"


def test_an_open_quote_is_a_file_error(engine, two_companies):
    alpha, _ = two_companies
    data = CATALOG + 'LUX,"Lux 100g,Lux,Personal Care,100g,72,45\nDOVE,Dove,Dove,PC,1,1,1\n'
    with pytest.raises(ImportFileError, match="line 4: unexpected end of data"):
        run_import(engine, alpha, "catalog", data)
    assert products(engine, alpha) == []


def test_huge_amounts_are_row_errors(engine, two_companies):
    alpha, _ = two_companies
    data = (
        "sku,name,brand,category,pack_size,units_per_case,price_inr\n"
        "A,A,A,A,1,1,1e30\n"
        "B,B,B,B,1,3000000000,10\n"
        "C,C,C,C,1,1,99999999\n"
        "D,D,D,D,1,1,99.50\n"
    )
    report = run_import(engine, alpha, "catalog", data)
    assert [e.line for e in report.errors] == [2, 3, 4]
    assert [p.sku for p in products(engine, alpha)] == ["D"]


def test_reimport_revives_users_and_retires_old_phones(engine, two_companies):
    alpha, _ = two_companies
    run_import(engine, alpha, "reps", REPS)
    with company_session(alpha, engine) as session:
        session.delete(session.exec(select(Rep)).one())
        session.delete(session.exec(select(User)).one())
        session.commit()
    assert run_import(engine, alpha, "reps", REPS).errors == []
    assert run_import(engine, alpha, "reps", REPS.replace("98220 12345", "98220 99999")).updated
    with company_session(alpha, engine) as session:
        rep = session.exec(select(Rep)).one()
        assert [(u.phone, u.rep_id) for u in session.exec(select(User))] == [
            ("+919822099999", rep.id)
        ]


def test_cli_import_reports_lines_and_exit_codes(app_env, tmp_path, capsys):
    assert cli.main(["migrate"]) == 0
    assert (
        cli.main(
            [
                "company",
                "add",
                "Sai Distributors",
                "--city",
                "Pune",
                "--admin-phone",
                "+919822000001",
            ]
        )
        == 0
    )
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CATALOG)
    bad.write_text(BAD_CATALOG)

    assert cli.main(["import", "catalog", str(bad), "--strict"]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: units_per_case 'many' is not a whole number" in err
    assert "nothing imported" in err
    assert cli.main(["import", "catalog", str(good)]) == 0
    assert "2 created" in capsys.readouterr().out
    assert cli.main(["import", "catalog", str(good)]) == 0
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().out
    assert cli.main(["import", "catalog", str(tmp_path / "missing.csv")]) == 2
    with pytest.raises(SystemExit) as exited:
        cli.main(["import", "catalog", str(good), "--company", "nobody"])
    assert exited.value.code == 2

    with system_session() as session:
        assert len(session.exec(select(Product)).all()) == 2
