"""The `opensales` command: migrate, load demo data, import CSV files, models, index, serve."""

import argparse
import logging
import re
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from db.engine import company_session, get_engine, system_session
from db.importer import IMPORTABLE
from db.models import Company, Role, Tenant, User
from settings import get_settings


def cmd_migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    upgrade()
    print(f"Database is up to date: {get_engine().url.render_as_string()}")
    return 0


def cmd_makemigration(args: argparse.Namespace) -> int:
    from db.migrate import make_revision

    make_revision(args.message)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from db.demo import DemoExistsError, load_demo
    from db.migrate import upgrade

    upgrade()
    started = time.perf_counter()
    try:
        result = load_demo(
            get_engine(),
            stores=args.stores,
            seed=args.seed,
            days=args.days,
            end=args.end,
            reset=args.reset,
            progress=not args.quiet,
        )
    except DemoExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    state = "Loaded" if result.loaded else "Already loaded, nothing changed:"
    counts = ", ".join(f"{n} {table}" for table, n in result.counts.items() if n)
    print(f"{state} demo company {result.company_id} in {elapsed:.1f}s: {counts}")
    return 0


def cmd_company_add(args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    try:
        ZoneInfo(args.timezone)
    except (ValueError, KeyError):
        print(f"error: --timezone {args.timezone!r} is not a time zone name, e.g. Asia/Kolkata",
              file=sys.stderr)  # fmt: skip
        return 2
    upgrade()
    slug = args.slug or re.sub(r"[^a-z0-9]+", "-", args.name.lower()).strip("-")
    with system_session() as session:
        if session.exec(select(Company).where(Company.slug == slug)).first():
            print(f"error: a company with slug {slug!r} exists", file=sys.stderr)
            return 2
        tenant = Tenant(name=args.name, slug=slug)
        session.add(tenant)
        session.flush()
        company = Company(
            tenant_id=tenant.id,
            name=args.name,
            slug=slug,
            city=args.city,
            timezone=args.timezone,
            settings={"phone_region": args.phone_region, **business_numbers(args)},
        )
        session.add(company)
        session.flush()
        admin = User(
            company_id=company.id,
            phone=e164(args.admin_phone, args.phone_region),
            name=args.admin_name,
            role=Role.admin,
        )
        session.add(admin)
        session.commit()
        company_id, admin_phone = company.id, admin.phone
    print(f"Created company {slug} ({company_id}) with admin {args.admin_name} ({admin_phone}).")
    print(
        "Sign in: message the company's WhatsApp or SMS number from that phone (admins reach "
        "every agent; send 'help'),\n"
        f"or get a token for the API and console: opensales token --company {slug} "
        f"--phone {admin_phone}"
    )
    return 0


NUMBER_OPTIONS = {  # option -> the company setting the channels route by
    "whatsapp_number_id": "whatsapp_phone_number_id",
    "sms_number": "sms_phone_number_id",
    "voice_number": "voice_phone_number_id",
}


def business_numbers(args: argparse.Namespace) -> dict[str, str]:
    """The business numbers given on the command line, as company settings (phones in E.164)."""
    found = {}
    for option, key in NUMBER_OPTIONS.items():
        value = getattr(args, option, None)
        if value:
            found[key] = value if option == "whatsapp_number_id" else e164(value)
    return found


def e164(phone: str, region: str = "IN") -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, None if phone.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise SystemExit(f"error: {phone!r} is not a phone number: {exc}") from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def cmd_company_set(args: argparse.Namespace) -> int:
    """Give a company its business numbers: messages to them are routed to it."""
    numbers = business_numbers(args)
    if args.stock:
        numbers["stock"] = args.stock
    if not numbers:
        print(
            "error: give at least one of --whatsapp-number-id, --sms-number, --voice-number, "
            "--stock",
            file=sys.stderr,
        )
        return 2
    with system_session() as session:
        company = session.exec(select(Company).where(Company.slug == args.slug)).first()
        if company is None:
            print(f"error: no company {args.slug!r}", file=sys.stderr)
            return 2
        for other in session.exec(select(Company).where(Company.id != company.id)):
            taken = [
                key
                for key, value in numbers.items()
                if key in NUMBER_OPTIONS.values() and other.settings.get(key) == value
            ]
            if taken:
                print(f"error: {other.slug} already has {', '.join(taken)}", file=sys.stderr)
                return 2
        company.settings = {**company.settings, **numbers}
        session.commit()
    print(f"{args.slug}: " + ", ".join(f"{key} {value}" for key, value in numbers.items()))
    return 0


def cmd_unrouted(args: argparse.Namespace) -> int:
    """Messages to numbers no company claims; with --replay, store each where it now belongs."""
    from channels.inbox import Companies, store_inbound
    from db.models import UnroutedMessage
    from messages import InboundMessage

    settings = get_settings()
    defaults = {
        "whatsapp": settings.whatsapp_phone_number_id,
        "sms": settings.twilio_phone_number,
        "voice": settings.twilio_phone_number,
    }
    companies = Companies(get_engine())
    routed = 0
    with system_session() as session:
        waiting = session.exec(
            select(UnroutedMessage)
            .where(UnroutedMessage.routed_at.is_(None))
            .order_by(UnroutedMessage.created_at)
        ).all()
        for row in waiting:
            company_id = companies.for_number(row.channel, row.recipient, defaults.get(row.channel))
            print(
                f"{row.created_at:%Y-%m-%d %H:%M} {row.channel} to {row.recipient} from "
                f"{row.sender}: {row.payload['message'].get('text', '')[:60]!r}"
                + (f" -> {company_id}" if company_id else "")
            )
            if args.replay and company_id is not None:
                message = InboundMessage.model_validate(row.payload["message"])
                store_inbound(get_engine(), company_id, message, row.payload.get("raw", {}))
                row.routed_to, row.routed_at = company_id, datetime.now(UTC)
                routed += 1
        session.commit()
    print(
        f"{len(waiting)} unrouted message(s)"
        + (
            f", {routed} stored with their company "
            "(the running server answers them within two minutes)"
            if args.replay
            else ""
        )
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """A signed token for a user of a company (HS256 with OPENSALES_AUTH_JWT_SECRET): for the
    agent API, the sync API and the console when no identity provider issues them."""
    import jwt

    secret = get_settings().auth_jwt_secret
    if not secret:
        print(
            "error: set OPENSALES_AUTH_JWT_SECRET (the server's too) to sign tokens here; with "
            "an identity provider (OPENSALES_AUTH_JWKS_URL) tokens come from it",
            file=sys.stderr,
        )
        return 2
    company = resolve_company(args.company)
    phone = e164(args.phone, company.settings.get("phone_region", "IN"))
    with company_session(company.id) as session:
        user = session.exec(select(User).where(User.phone == phone)).first()
    if user is None:
        print(f"error: {phone} is no user of {company.slug}", file=sys.stderr)
        return 2
    claims = {
        "sub": f"user:{user.id}",
        "company_id": str(company.id),
        "role": user.role.value,
        "name": user.name,
        "exp": int(time.time()) + args.days * 86400,
        **({"rep_id": str(user.rep_id)} if user.rep_id else {}),
        **({"store_id": str(user.store_id)} if user.store_id else {}),
    }
    print(jwt.encode(claims, secret, algorithm="HS256"))
    return 0


def resolve_company(slug: str | None) -> Company:
    """The company named by slug, or the only one there is."""
    with system_session() as session:
        query = select(Company).where(col(Company.deleted_at).is_(None))
        companies = session.exec(query).all()
    known = ", ".join(c.slug for c in companies) or "none (run opensales company add or demo)"
    if slug is not None:
        for company in companies:
            if company.slug == slug:
                return company
        print(f"error: no company {slug!r}; known: {known}", file=sys.stderr)
        raise SystemExit(2)
    if len(companies) != 1:
        print(f"error: name the company with --company SLUG; known: {known}", file=sys.stderr)
        raise SystemExit(2)
    return companies[0]


def cmd_import(args: argparse.Namespace) -> int:
    from db.importer import ImportFileError, import_file

    company = resolve_company(args.company)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    fmt = args.format or ("json" if args.file.suffix.lower() in (".json", ".jsonl") else "csv")
    with company_session(company.id) as session:
        try:
            report = import_file(session, args.kind, data, fmt=fmt, strict=args.strict)
        except ImportFileError as exc:
            print(f"{args.file}: {exc}; nothing imported", file=sys.stderr)
            return 2
    for error in report.errors:
        print(f"{args.file}:{error}", file=sys.stderr)
    if not report.committed:
        print(f"{len(report.errors)} bad row(s) and --strict: nothing imported", file=sys.stderr)
        return 1
    print(
        f"Imported {args.kind} into {company.slug}: {report.created} created, "
        f"{report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} rejected"
    )
    return 1 if report.errors else 0


def cmd_models(args: argparse.Namespace) -> int:
    from llm.bundled import (
        BUNDLED,
        ModelFileError,
        assemble,
        installed,
        installed_package,
        verify,
    )

    settings = get_settings()
    print(
        f"configured: OPENSALES_LLM_BACKEND={settings.llm_backend} "
        f"OPENSALES_LLM_MODEL={settings.llm_model}"
    )
    for model in BUNDLED.values():
        path = settings.models_dir / model.filename
        if not installed(model):
            missing = [p for p in model.packages() if not installed_package(p)]
            state = f"not installed: missing {', '.join(missing)} (=={model.version})"
        elif args.assemble or path.is_file():
            try:
                path = assemble(model, settings.models_dir, progress=True)
                verify(path, model.sha256)
                state = "ok, sha256 verified"
            except ModelFileError as exc:
                state = f"error: {exc}"
        else:
            state = "installed, not assembled yet (opensales models --assemble)"
        print(
            f"{model.name}\n  path:   {path}\n  size:   {model.size / 2**20:,.0f} MiB"
            f"\n  sha256: {model.sha256}\n  state:  {state}"
        )
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from memory.indexer import (
        PLAYBOOKS_DIR,
        playbook_documents,
        product_documents,
        store_documents,
    )
    from memory.store import Memory

    company = resolve_company(args.company)
    memory = Memory(get_settings().chroma_dir).for_company(company.id)
    with company_session(company.id) as session:
        today = datetime.now(ZoneInfo(company.timezone)).date()
        plan = {
            "product_catalog": product_documents(session),
            "store_profiles": store_documents(session, today),
            "sales_playbooks": playbook_documents([PLAYBOOKS_DIR, *args.playbooks]),
        }
    for collection, documents in plan.items():
        started = time.perf_counter()
        report = memory.sync(collection, documents)
        print(
            f"{collection}: {len(documents)} documents ({report.added} added, "
            f"{report.updated} updated, {report.removed} removed, {report.unchanged} "
            f"unchanged) in {time.perf_counter() - started:.1f}s"
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "llm":
        from evals.bench_llm import main as bench
    elif args.what == "webhook":
        from evals.bench_webhook import main as bench
    elif args.what == "ivr":
        from evals.ivr import main as bench
    elif args.what == "faults":
        from evals.bench_faults import main as bench
    elif args.what == "tasks":
        from evals.bench_tasks import main as bench
    elif args.what == "routing":
        from evals.bench_routing import main as bench
    else:
        from evals.bench_rag import main as bench
    return bench(args)


# The labelled sets each eval runs on when --cases names none (files in evals/data, shipped in
# the package); --cases also takes one of their names.
DEFAULT_CASES = {"orders": "orders_test.jsonl", "voice": "voice_orders.jsonl",
                 "photos": "orders_test.jsonl", "sql": "sql_test.jsonl"}  # fmt: skip


def bundled(path: Path | None, default: str | None) -> Path | None:
    """`path` as given when it exists, else the labelled set of that name in evals/data."""
    data = Path(__file__).parent / "evals" / "data"
    if path is not None and path.exists():
        return path
    name = path.name if path is not None else default
    if name is None:
        return None
    for candidate in (data / name, data / f"{name}.jsonl"):
        if candidate.is_file():
            return candidate
    print(f"error: no file {path}; the bundled sets are "
          + ", ".join(sorted(p.name for p in data.glob("*.jsonl"))), file=sys.stderr)  # fmt: skip
    raise SystemExit(2)


def cmd_eval(args: argparse.Namespace) -> int:
    args.cases = bundled(args.cases, DEFAULT_CASES.get(args.what))
    if args.what in ("orders", "voice", "photos") and args.catalog is None:
        args.catalog = Path(__file__).parent / "db" / "demo_catalog.csv"
    if args.what == "forecast":
        from evals.forecast import main as evaluate
    elif args.what == "churn":
        from evals.churn import main as evaluate
    elif args.what == "credit":
        from evals.credit import main as evaluate
    elif args.what == "food-ordering":
        from evals.food_ordering import main as evaluate
    elif args.what == "intents":
        from evals.intents import main as evaluate
    elif args.what == "sql":
        from evals.sql import main as evaluate
    else:
        if args.what == "voice":
            from evals.voice import main as evaluate
        elif args.what == "photos":
            from evals.photos import main as evaluate
        else:
            from evals.orders import main as evaluate
    return evaluate(args)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from db.models import JobRun
    from jobs.daily import JOBS

    for job in JOBS.values():
        when = f"daily {job.hour:02d}:00" if job.every_hours >= 24 else (
            f"every {job.every_hours} h from {job.hour:02d}:00")  # fmt: skip
        print(f"{job.name:<8} {when:<22} {job.description}")
    companies = [resolve_company(args.company)] if args.company else _companies()
    for company in companies:
        with company_session(company.id) as session:
            runs = session.exec(
                select(JobRun).order_by(col(JobRun.started_at).desc()).limit(args.last)
            ).all()
            print(f"\n{company.slug} ({company.timezone}): last {len(runs)} run(s)")
            for run in runs:
                counts = ", ".join(f"{k} {v}" for k, v in run.counts.items())
                print(
                    f"  {run.job:<8} {run.slot:<14} {run.status:<9} attempts {run.attempts}"
                    f"  {counts}" + (f"  error: {run.error}" if run.error else "")
                )
    return 0


def _companies() -> list[Company]:
    with system_session() as session:
        return list(session.exec(select(Company).where(col(Company.deleted_at).is_(None))))


def cmd_jobs_run(args: argparse.Namespace) -> int:
    """Run a daily job now, for one company or every company, for today or `--date`."""
    import asyncio

    from jobs.daily import JOBS
    from jobs.scheduler import AlreadyRan, run_job
    from runtime import build_runtime, job_context

    job = JOBS[args.name]
    companies = [resolve_company(args.company)] if args.company else _companies()

    async def run() -> int:
        runtime = build_runtime(get_settings())
        status = 0
        try:
            for company in companies:
                now = datetime.now(ZoneInfo(company.timezone))
                day = args.date or now.date()
                slot = (job.slot(now) if day == now.date() else None) or job.slot(
                    datetime(day.year, day.month, day.day, job.hour)
                )
                assert slot is not None  # at the job's own hour a slot is always due
                started = time.perf_counter()

                def progress(line: str, slug: str = company.slug, began: float = started) -> None:
                    print(f"[{time.perf_counter() - began:6.1f}s] {slug} {job.name}: {line}")

                ctx = job_context(runtime, company, day, slot, progress)

                async def deliver_now(company_id, channel: str, phone: str) -> None:
                    await runtime.turns.answer_conversation(company_id, channel, phone)

                ctx.deliver = deliver_now
                try:
                    counts = await run_job(job, ctx, retry_now=True)
                except AlreadyRan as exc:
                    print(f"{company.slug}: nothing to do: {exc}")
                    continue
                except Exception as exc:
                    print(f"{company.slug}: {job.name} for {slot} failed: {exc}", file=sys.stderr)
                    status = 1
                    continue
                summary = ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing to do"
                print(f"{company.slug}: {job.name} for {slot} done in "
                      f"{time.perf_counter() - started:.1f}s: {summary}")  # fmt: skip
        finally:
            await runtime.close()
        return status

    return asyncio.run(run())


def cmd_ml(args: argparse.Namespace) -> int:
    """Train the demand model or forecast with it, for one company or every company."""
    from ml.forecast import ForecastError
    from tools.forecasts import model_folder, predict_company, train_company

    companies = [resolve_company(args.company)] if args.company else _companies()
    status = 0
    for company in companies:
        day = args.date or datetime.now(ZoneInfo(company.timezone)).date()
        folder = model_folder(get_settings().forecasts_dir, company.id)
        started = time.perf_counter()

        def progress(line: str, slug: str = company.slug, began: float = started) -> None:
            print(f"[{time.perf_counter() - began:6.1f}s] {slug}: {line}", flush=True)

        with company_session(company.id) as session:
            try:
                if args.ml_command == "train":
                    train_company(session, day, folder, progress)
                else:
                    made = predict_company(session, day, folder, progress)
                    print(f"{company.slug}: {made.written} predictions for {day} "
                          f"({made.version})" + (f", fallback: {made.fallback}"
                                                  if made.fallback else ""))  # fmt: skip
            except ForecastError as exc:
                print(f"{company.slug}: {exc}", file=sys.stderr)
                status = 1
    return status


def cmd_simulate(args: argparse.Namespace) -> int:
    from evals.simulate_day import main as simulate

    return simulate(args)


def cmd_worker(_args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print(
            "error: opensales worker needs OPENSALES_REDIS_URL; without Redis the server "
            "answers conversations in its own process",
            file=sys.stderr,
        )
        return 2
    from arq.worker import run_worker

    from worker import worker_settings

    run_worker(worker_settings(settings))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "server:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opensales", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        func=cmd_migrate
    )
    make = commands.add_parser("makemigration", help="write a migration from model changes")
    make.add_argument("message")
    make.set_defaults(func=cmd_makemigration)

    demo = commands.add_parser("demo", help="load the demo distributor (idempotent)")
    demo.add_argument("--stores", type=int, help="number of stores (default 500)")
    demo.add_argument("--seed", type=int, help="random seed (default 42)")
    demo.add_argument("--days", type=int, help="days of history (default 180)")
    demo.add_argument(
        "--end", type=date.fromisoformat, help="last day of history, YYYY-MM-DD (default yesterday)"
    )
    demo.add_argument("--reset", action="store_true", help="replace demo data made differently")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=cmd_demo)

    company = commands.add_parser("company", help="manage companies")
    company_commands = company.add_subparsers(dest="company_command", required=True)
    add = company_commands.add_parser("add", help="create a company (and its tenant)")
    add.add_argument("name")
    add.add_argument("--city", required=True)
    add.add_argument("--slug")
    add.add_argument("--timezone", default="Asia/Kolkata")
    add.add_argument("--phone-region", default="IN", help="region for phones without +code")
    add.add_argument("--admin-phone", required=True, help="phone of the first admin (E.164)")
    add.add_argument("--admin-name", default="Admin", help="name of the first admin")
    numbered = [add, company_commands.add_parser("set", help="give a company its numbers")]
    numbered[1].add_argument("slug")
    numbered[1].add_argument(
        "--stock",
        choices=["tracked", "untracked"],
        help="untracked: take orders for products with no stock row (default: tracked once any "
        "stock is imported)",
    )
    for command in numbered:
        command.add_argument("--whatsapp-number-id", help="its WhatsApp business phone number id")
        command.add_argument("--sms-number", help="its Twilio number for SMS")
        command.add_argument("--voice-number", help="its Twilio number for calls")
    add.set_defaults(func=cmd_company_add)
    numbered[1].set_defaults(func=cmd_company_set)

    tok = commands.add_parser("token", help="sign an API token for a user (development auth)")
    tok.add_argument("--company", help="company slug (default: the only company)")
    tok.add_argument("--phone", required=True, help="the user's phone")
    tok.add_argument("--days", type=int, default=30, help="days until it expires (default 30)")
    tok.set_defaults(func=cmd_token)

    unrouted = commands.add_parser("unrouted", help="messages to numbers no company claims")
    unrouted.add_argument(
        "--replay", action="store_true", help="store each with the company that now owns its number"
    )
    unrouted.set_defaults(func=cmd_unrouted)

    imp = commands.add_parser(
        "import", help="import a CSV or JSON file of your own data (columns: docs/operations.md)"
    )
    imp.add_argument("kind", choices=IMPORTABLE)
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=["csv", "json"], help="default: by the file's extension")
    imp.add_argument("--company", help="company slug (default: the only company)")
    imp.add_argument("--strict", action="store_true", help="import nothing if any row is bad")
    imp.set_defaults(func=cmd_import)

    models = commands.add_parser("models", help="show the bundled LLMs: paths, sizes, hashes")
    models.add_argument(
        "--assemble", action="store_true", help="join and verify every installed bundled model now"
    )
    models.set_defaults(func=cmd_models)

    index = commands.add_parser("index", help="build the retrieval memory (incremental)")
    index.add_argument("--company", help="company slug (default: the only company)")
    index.add_argument(
        "--playbooks",
        type=Path,
        action="append",
        default=[],
        help="another folder of Markdown playbooks (repeatable)",
    )
    index.set_defaults(func=cmd_index)

    bench = commands.add_parser("bench", help="benchmarks that print figures (evals/)")
    bench.add_argument(
        "what", choices=["llm", "rag", "webhook", "ivr", "faults", "tasks", "routing"]
    )
    bench.add_argument("--model", help="bundled model name or GGUF path (llm)")
    bench.add_argument("--runs", type=int, default=10, help="requests per measurement (llm)")
    bench.add_argument(
        "--cases",
        type=Path,
        help="labelled queries, JSON lines (rag; ivr: default evals/data/voice_orders.jsonl)",
    )
    bench.add_argument("--calls", type=int, default=10, help="simulated phone calls (ivr)")
    bench.add_argument(
        "--no-llm", action="store_true", help="the fast path alone (ivr); rules only (tasks)"
    )
    bench.add_argument("--processes", type=int, default=2, help="server processes (webhook)")
    bench.add_argument(
        "--seconds", type=float, default=10, help="load duration (webhook); per instance (routing)"
    )
    bench.add_argument("--tsp-seconds", type=float, default=5, help="per TSPLIB instance (routing)")
    bench.add_argument(
        "--all", action="store_true", help="all 56 Solomon instances, not the 12 (routing)"
    )
    bench.add_argument("--concurrency", type=int, default=16, help="open requests (webhook)")
    bench.add_argument(
        "--rate", type=float, help="deliveries per second (webhook; default: as fast as they go)"
    )
    bench.add_argument("--stores", type=int, default=5000, help="demo stores (tasks)")
    bench.add_argument("--reps", type=int, help="reps: one per 50 stores (tasks)")
    bench.add_argument(
        "--llm-budget-s", type=float, help="LLM seconds for the night (tasks; default setting)"
    )
    bench.add_argument("--messages", type=int, default=300, help="order messages (faults)")
    bench.add_argument("--seed", type=int, default=1, help="traffic and kill times (faults)")
    bench.add_argument(
        "--postgres-url", help="server to make the bench database on (webhook, faults)"
    )
    bench.add_argument("--redis-url", help="Redis for the queue (webhook, faults)")
    bench.set_defaults(func=cmd_bench)

    evaluate = commands.add_parser("eval", help="labelled evaluations that print figures")
    evaluate.add_argument(
        "what",
        choices=[
            "orders",
            "voice",
            "photos",
            "food-ordering",
            "intents",
            "sql",
            "forecast",
            "churn",
            "credit",
        ],
    )
    evaluate.add_argument(
        "--weeks-out", type=int, default=8, help="weeks held out and forecast (forecast)"
    )
    evaluate.add_argument(
        "--catalog",
        type=Path,
        help="catalog CSV, import format (orders, voice, photos, intents; default the demo's)",
    )
    evaluate.add_argument(
        "--cases",
        type=Path,
        help="labelled cases, JSON lines: a file, or the name of a set in evals/data "
        "(default orders_test, voice_orders, sql_test, intents_test)",
    )
    evaluate.add_argument("--db", help="database URL to question (sql; default: ours)")
    evaluate.add_argument(
        "--company",
        help="company slug whose rows are read (sql, our schema; default: the only company)",
    )
    evaluate.add_argument(
        "--no-templates", action="store_true", help="send every question to the LLM (sql)"
    )
    evaluate.add_argument(
        "--data", type=Path, help="FoodOrdering folder (default ../shared/data/food-ordering)"
    )
    evaluate.add_argument("--no-llm", action="store_true", help="the fast path alone")
    evaluate.set_defaults(func=cmd_eval)

    jobs = commands.add_parser("jobs", help="the daily jobs: what runs when, and run one now")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listed = jobs_commands.add_parser("list", help="the jobs, and each company's last runs")
    listed.add_argument("--company", help="company slug (default: every company)")
    listed.add_argument("--last", type=int, default=8, help="runs shown per company (8)")
    listed.set_defaults(func=cmd_jobs_list)
    ran = jobs_commands.add_parser("run", help="run a job now (once per company and day)")
    ran.add_argument("name", choices=["forecast", "risk", "tasks", "push", "alerts", "digest"])
    ran.add_argument("--company", help="company slug (default: every company)")
    ran.add_argument(
        "--date", type=date.fromisoformat, help="the company's day, YYYY-MM-DD (default today)"
    )
    ran.set_defaults(func=cmd_jobs_run)

    ml = commands.add_parser("ml", help="the demand forecast: train the model, forecast with it")
    ml_commands = ml.add_subparsers(dest="ml_command", required=True)
    for name, text in (
        ("train", "train each company's model on its last year (kept as a new version)"),
        ("predict", "forecast 7/14/30 days per store and product into predictions"),
    ):
        step = ml_commands.add_parser(name, help=text)
        step.add_argument("--company", help="company slug (default: every company)")
        step.add_argument(
            "--date", type=date.fromisoformat, help="the day forecast from (default today)"
        )
        step.set_defaults(func=cmd_ml)

    simulate = commands.add_parser("simulate", help="play a day of the daily loop (an eval)")
    simulate.add_argument("what", choices=["day"])
    simulate.add_argument("--stores", type=int, default=400, help="demo stores (400)")
    simulate.add_argument("--seed", type=int, default=1, help="duplicate deliveries (1)")
    simulate.add_argument("--postgres-url", help="server to make the throwaway database on")
    simulate.add_argument("--redis-url", help="Redis for the queue")
    simulate.set_defaults(func=cmd_simulate)

    worker = commands.add_parser("worker", help="answer queued conversations (needs Redis)")
    worker.set_defaults(func=cmd_worker)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=get_settings().log_level.upper())
    for chatty in ("sentence_transformers", "httpx", "chromadb"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
