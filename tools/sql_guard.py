"""Make SQL written by the model safe by construction: parse it, allow only reads of allowed
tables with ordinary functions, and rewrite every scoped table to the asking company's live rows.

Nothing the model writes is trusted. The input is read as PostgreSQL and the output generated
from the checked tree for the target database, so what runs is what was checked. A scoped table
`t` is replaced by a CTE `_scoped_t` that selects only the allowed columns of the company's rows
that are not soft-deleted; any other column is then unknown to the database itself.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, UnsupportedError

from tools.sql_schema import TablePolicy

SCOPED_PREFIX = "_scoped_"

DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite"}

# Statements and clauses that write, lock, change the session or run something opaque.
_NOT_READS = (
    exp.DML,
    exp.DDL,
    exp.Alter,
    exp.Drop,
    exp.TruncateTable,
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Into,
    exp.Lock,
    exp.Returning,
    exp.Attach,
    exp.Detach,
    exp.Use,
    exp.Describe,
    exp.Analyze,
    exp.Grant,
    exp.Revoke,
    exp.LoadData,
    exp.Kill,
    exp.Refresh,
    exp.Cache,
    exp.Uncache,
    exp.Show,
    exp.Execute,
    exp.Declare,
)

# Known functions that read the server, files or sequences rather than the rows asked about.
_DENIED_FUNCTIONS = (
    exp.CurrentAccount,
    exp.CurrentAccountName,
    exp.CurrentAvailableRoles,
    exp.CurrentCatalog,
    exp.CurrentClient,
    exp.CurrentDatabase,
    exp.CurrentIpAddress,
    exp.CurrentOrganizationName,
    exp.CurrentOrganizationUser,
    exp.CurrentRegion,
    exp.CurrentRole,
    exp.CurrentRoleType,
    exp.CurrentSchema,
    exp.CurrentSchemas,
    exp.CurrentSecondaryRoles,
    exp.CurrentSession,
    exp.CurrentStatement,
    exp.CurrentTransaction,
    exp.CurrentUser,
    exp.CurrentUserId,
    exp.CurrentVersion,
    exp.CurrentWarehouse,
    exp.SessionUser,
    exp.ReadCSV,
    exp.ReadParquet,
    exp.ToFile,
    exp.Secret,
    exp.NextValueFor,
    exp.DynamicIdentifier,
    exp.ObjectId,
    exp.Predict,
    exp.MLForecast,
    exp.MLTranslate,
    exp.AIAgg,
    exp.AIClassify,
    exp.AIEmbed,
    exp.AIForecast,
    exp.AIGenerate,
    exp.AISimilarity,
    exp.AISummarizeAgg,
    exp.GenerateEmbedding,
    exp.GenerateText,
    exp.GenerateTable,
    exp.VectorSearch,
    exp.FeaturesAtTime,
    exp.Encrypt,
    exp.EncryptRaw,
    exp.Decrypt,
    exp.DecryptRaw,
)

# Functions sqlglot does not know (it parses them as Anonymous) that are plain computations.
_ALLOWED_ANONYMOUS = frozenset(
    {
        "age",
        "date",
        "datetime",
        "time",
        "strftime",
        "julianday",
        "unixepoch",
        "make_date",
        "printf",
        "total",
        "every",
        "cardinality",
        "octet_length",
        "gcd",
        "lcm",
        "isfinite",
        "jsonb_agg",
        "json_build_object",
        "jsonb_build_object",
        "to_json",
    }
)

_TABLE_FUNCTIONS = (exp.GenerateSeries, exp.ExplodingGenerateSeries)

# How sqlglot shows a token in a parse error: <Token token_type: ..., text: WHERE, ...>
_TOKEN = re.compile(r"<Token [^>]*?text: ([^,]*),[^>]*>")

# What SQLAlchemy text() takes for a bind parameter (TextClause._bind_params_regex); any other
# such colon in the output is escaped as "\:", which text() turns back into ":".
_TEXT_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?![:\w])")


class SqlRejected(ValueError):
    """The SQL is not allowed to run; `message` tells a manager (and the model) why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class GuardedSql:
    """SQL for SQLAlchemy text(); `needs_company`: it binds `:company_id`."""

    sql: str
    needs_company: bool


def guard(
    sql: str,
    policies: dict[str, TablePolicy],
    dialect: str,
    read: str = "postgresql",
    now: datetime | None = None,
) -> GuardedSql:
    """Check `sql` (written for `read`) and return it scoped, for `dialect` ("postgresql" or
    "sqlite"), or raise SqlRejected. The model writes for the database it asks (read ==
    dialect); labelled PostgreSQL is transpiled for SQLite in the evals. With `now` (the
    company's local time), the database's own clock is replaced by it: "today" is the
    company's business day, not the database server's (UTC) date."""
    tree = _parse(sql, DIALECTS[read])
    for node in tree.walk():
        _check_node(node)
    by_name = {name.lower(): policy for name, policy in policies.items()}
    found: list[tuple[exp.Table, TablePolicy]] = []
    _resolve(tree, frozenset(), by_name, found)
    marker = f"company_id_{uuid.uuid4().hex}"
    scoped = _rewrite(found, exp.column(marker))
    if scoped:
        with_ = tree.args.get("with_")
        if with_ is None:
            tree.set("with_", exp.With(expressions=scoped))
        else:
            with_.set("expressions", scoped + with_.expressions)
    try:
        # sqlglot would otherwise drop what the target cannot express, and answer another question
        generated = tree.sql(
            dialect=DIALECTS[dialect], comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except UnsupportedError as error:
        raise SqlRejected(
            "NOT_SUPPORTED", f"This database cannot run part of the query: {error}"
        ) from error
    if now is not None:  # in the target's own terms: what it reads as its clock
        target = DIALECTS[dialect]
        generated = _at(sqlglot.parse_one(generated, read=target), now, dialect).sql(
            dialect=target, comments=False
        )
    text = _TEXT_BIND.sub(r"\\:\1", generated)
    return GuardedSql(text.replace(marker, ":company_id"), bool(scoped))


def _at(tree: exp.Expr, now: datetime, dialect: str) -> exp.Expr:
    """CURRENT_DATE, now(), CURRENT_TIMESTAMP and SQLite's 'now' as literals of `now`."""
    day, moment = now.date().isoformat(), now.strftime("%Y-%m-%d %H:%M:%S")
    sqlite = DIALECTS[dialect] == "sqlite"

    def fixed(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.CurrentDate):
            return exp.Literal.string(day) if sqlite else exp.cast(exp.Literal.string(day), "DATE")
        if isinstance(node, exp.CurrentTimestamp):
            return (
                exp.Literal.string(moment)
                if sqlite
                else exp.cast(exp.Literal.string(moment), "TIMESTAMP")
            )
        if (
            isinstance(node, exp.Literal)
            and node.is_string
            and node.this.lower() == "now"
            and isinstance(node.parent, exp.Func | exp.Cast)
        ):
            return exp.Literal.string(moment)
        return node

    return tree.transform(fixed)


def _parse(sql: str, read: str) -> exp.Expr:
    if not sql.strip():
        raise SqlRejected("EMPTY", "There is no SQL to run")
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except SqlglotError as error:
        raise SqlRejected("PARSE_ERROR", f"The SQL could not be read: {_brief(error)}") from error
    if not statements:
        raise SqlRejected("EMPTY", "There is no SQL to run")
    if len(statements) > 1:
        raise SqlRejected("MULTIPLE_STATEMENTS", "Only one query can run at a time")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise SqlRejected("NOT_READ_ONLY", "Only questions that read data are allowed")
    return tree


def _brief(error: SqlglotError) -> str:
    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        near = f" near '{first['highlight']}'" if first.get("highlight") else ""
        return _TOKEN.sub(r"'\1'", first["description"]) + near
    return str(error).splitlines()[0]


def _check_node(node: exp.Expr) -> None:
    if isinstance(node, _NOT_READS):
        raise SqlRejected("NOT_READ_ONLY", "Only questions that read data are allowed")
    if isinstance(node, exp.Placeholder | exp.Parameter):
        raise SqlRejected(
            "PLACEHOLDER", "Write values into the SQL; parameters like :x or $1 are not allowed"
        )
    if isinstance(node, exp.Func) and not (
        isinstance(node.parent, exp.Table) and node.arg_key == "this"
    ):
        _check_function(node)  # a function read as a table is _resolve_table's to judge


def _check_function(node: exp.Func) -> None:
    anonymous = isinstance(node, exp.Anonymous | exp.AnonymousAggFunc)
    name = _function_name(node)
    if isinstance(node.parent, exp.Dot):
        raise SqlRejected("FUNCTION_NOT_ALLOWED", f"Call {name} without a schema name")
    if (name not in _ALLOWED_ANONYMOUS) if anonymous else isinstance(node, _DENIED_FUNCTIONS):
        raise SqlRejected("FUNCTION_NOT_ALLOWED", f"The function {name} is not allowed")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
        return node.name.lower()
    return node.sql_name().lower()


def _resolve(
    node: exp.Expr,
    ctes: frozenset[str],
    policies: dict[str, TablePolicy],
    found: list[tuple[exp.Table, TablePolicy]],
) -> None:
    """Check every table reference in `node`, where `ctes` (lower case) are the WITH queries in
    scope; collect references to policy tables into `found`.

    A CTE is in scope in the body of the query that defines it and in later CTEs of the same
    WITH, and in its own body under RECURSIVE: what PostgreSQL and SQLite agree on. A name out of
    scope must be a policy table, since the database would read a real table of that name.
    Names are compared in lower case and written back in lower case, so that both databases
    resolve them as checked here.
    """
    with_ = node.args.get("with_")
    if isinstance(with_, exp.With):
        defined: set[str] = set()
        for cte in with_.expressions:
            name = _cte_name(cte, policies)
            own = {name} if with_.args.get("recursive") else set()
            _resolve(cte.this, ctes | defined | own, policies, found)
            defined.add(name)
        ctes = ctes | defined
    if isinstance(node, exp.Table):
        _resolve_table(node, ctes, policies, found)
    for child in node.iter_expressions():
        if child is not with_:
            _resolve(child, ctes, policies, found)


def _cte_name(cte: exp.CTE, policies: dict[str, TablePolicy]) -> str:
    alias = cte.args["alias"]
    name = alias.name.lower()
    if name in policies or name.startswith(SCOPED_PREFIX):
        # In PostgreSQL `WITH stores AS (SELECT * FROM stores)` reads the raw table inside.
        raise SqlRejected(
            "TABLE_NOT_ALLOWED", f"A WITH query cannot be named {alias.name}; pick another name"
        )
    alias.set("this", exp.to_identifier(name, quoted=alias.this.quoted))
    return name


def _resolve_table(
    table: exp.Table,
    ctes: frozenset[str],
    policies: dict[str, TablePolicy],
    found: list[tuple[exp.Table, TablePolicy]],
) -> None:
    if isinstance(table.this, _TABLE_FUNCTIONS):
        return
    if isinstance(table.this, exp.Func):
        raise SqlRejected(
            "TABLE_NOT_ALLOWED",
            f"Reading from the function {_function_name(table.this)} is not allowed",
        )
    if table.args.get("db") or table.args.get("catalog"):
        raise SqlRejected(
            "TABLE_NOT_ALLOWED", f"Name tables without a schema: {table.sql('postgres')}"
        )
    if not isinstance(table.this, exp.Identifier):
        raise SqlRejected("TABLE_NOT_ALLOWED", f"Cannot read from {table.sql('postgres')}")
    name = table.name.lower()
    if name in ctes:
        table.set("this", exp.to_identifier(name, quoted=table.this.quoted))
    elif name in policies:
        found.append((table, policies[name]))
    else:
        raise SqlRejected("TABLE_NOT_ALLOWED", f"There is no table {table.name} to read")


def _rewrite(found: list[tuple[exp.Table, TablePolicy]], company: exp.Expr) -> list[exp.CTE]:
    """Point each reference at its policy table, through `_scoped_<name>` when scoped (keeping
    the name as written as the alias, so `t.col` still works); return the scoped CTEs."""
    scoped: dict[str, exp.CTE] = {}
    for table, policy in found:
        if table.args.get("alias") is None:
            table.set("alias", exp.TableAlias(this=table.this.copy()))
        if not policy.scoped:
            table.set("this", exp.to_identifier(policy.name, quoted=True))
            continue
        table.set("this", exp.to_identifier(SCOPED_PREFIX + policy.name))
        table.set("only", None)
        if policy.name not in scoped:
            scoped[policy.name] = _scoped_cte(policy, company)
    return list(scoped.values())


def _scoped_cte(policy: TablePolicy, company: exp.Expr) -> exp.CTE:
    """`_scoped_t AS (SELECT <columns> FROM t WHERE company_id = ... AND deleted_at IS NULL)`."""
    live = exp.and_(
        exp.column("company_id").eq(company.copy()), exp.column("deleted_at").is_(exp.null())
    )
    body = (
        exp.select(*(exp.column(column, quoted=True) for column in policy.columns))
        .from_(exp.table_(policy.name, quoted=True))
        .where(live)
    )
    alias = exp.TableAlias(this=exp.to_identifier(SCOPED_PREFIX + policy.name))
    return exp.CTE(this=body, alias=alias)


def restore_names(sql: str, restore: Callable[[str], str], dialect: str) -> str:
    """The SQL with the stand-ins of redacted names (`llm.redact`) in its string literals put
    back, quoted by sqlglot (a name with a quote in it stays one literal). SQL that does not
    parse is left as it is, for `guard` to refuse with its reason."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (ParseError, SqlglotError):
        return sql

    def put_back(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal) and node.is_string and (value := restore(node.this)):
            return exp.Literal.string(value) if value != node.this else node
        return node

    return tree.transform(put_back).sql(dialect=dialect)
