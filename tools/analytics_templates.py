"""Questions we recognise without the LLM: the usual reports, as SQL for our schema.

They answer in milliseconds and keep working when the LLM is down (seed section 4, fallback:
"returns raw SQL results"). Each matches a whole question shape (a ranking, a total, a trend,
stores gone quiet, strike rate, lines per call) with a period; anything else goes to the LLM.
The SQL still goes through the guard like the model's.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Period:
    """Days before today, inclusive (1 = yesterday), or a calendar month (0 = this month)."""

    label: str
    first: int = 0
    last: int = 0
    month: int | None = None

    def where(self, column: str, dialect: str) -> str:
        if self.month is not None:
            if dialect == "sqlite":
                start = f"date('now', 'start of month', '-{self.month} month')"
                end = f"date('now', 'start of month', '-{self.month - 1} month', '-1 day')"
            else:
                start = f"(date_trunc('month', CURRENT_DATE) - INTERVAL '{self.month} month')"
                end = (
                    f"(date_trunc('month', CURRENT_DATE) - INTERVAL '{self.month - 1} month'"
                    " - INTERVAL '1 day')"
                )
            if self.month == 0:  # this month: to today
                end = days_ago(0, dialect)
            return f"{column} BETWEEN CAST({start} AS DATE) AND CAST({end} AS DATE)"
        start, end = days_ago(self.first, dialect), days_ago(self.last, dialect)
        return f"{column} BETWEEN {start} AND {end}"


def days_ago(days: int, dialect: str) -> str:
    if dialect == "sqlite":
        return f"date('now', '-{days} day')"
    return f"(CURRENT_DATE - {days})"


PERIODS: list[tuple[re.Pattern[str], object]] = [
    (re.compile(r"\byesterday|kal\b"), lambda m: Period("yesterday", 1, 1)),
    (re.compile(r"\btoday|aaj\b"), lambda m: Period("today", 0, 0)),
    (
        re.compile(r"\blast (\d{1,3}) days\b"),
        lambda m: Period(f"the last {m.group(1)} days", int(m.group(1)), 1),
    ),
    (
        re.compile(r"\b(last|past|previous) week|last 7 days|pichle hafte|this week\b"),
        lambda m: Period("the last 7 days", 7, 1),
    ),
    (
        re.compile(r"\bthis month|is mahine|month to date|mtd\b"),
        lambda m: Period("this month", month=0),
    ),
    (
        re.compile(r"\blast month|pichle mahine|previous month\b"),
        lambda m: Period("last month", month=1),
    ),
]
DEFAULT_PERIOD = Period("the last 30 days", 30, 1)
LIVE = "t.status <> 'cancelled'"  # a cancelled order is no sale (an edited one is re-created)
LONGEST = 300  # the usual reports are short questions; longer ones go to the LLM


def period_of(question: str) -> tuple[Period, bool]:
    """The period the question names, and whether it named one (else the last 30 days)."""
    for pattern, make in PERIODS:
        if match := pattern.search(question):
            return make(match), True
    return DEFAULT_PERIOD, False


@dataclass(frozen=True)
class Template:
    name: str
    sql: str
    period: Period
    period_named: bool


SALES_BY = {
    "store": (
        "s.name AS store, s.code AS code",
        "JOIN stores s ON s.id = t.store_id",
        "s.id, s.name, s.code",
    ),
    "product": (
        "p.name AS product",
        "JOIN transaction_items i ON i.transaction_id = t.id "
        "JOIN products p ON p.id = i.product_id",
        "p.id, p.name",
    ),
    "brand": (
        "p.brand AS brand",
        "JOIN transaction_items i ON i.transaction_id = t.id "
        "JOIN products p ON p.id = i.product_id",
        "p.brand",
    ),
    "category": (
        "p.category AS category",
        "JOIN transaction_items i ON i.transaction_id = t.id "
        "JOIN products p ON p.id = i.product_id",
        "p.category",
    ),
    "rep": ("r.name AS rep", "JOIN reps r ON r.id = t.rep_id", "r.id, r.name"),
    "locality": ("s.locality AS locality", "JOIN stores s ON s.id = t.store_id", "s.locality"),
}
NOUNS = {
    "stores": "store",
    "store": "store",
    "outlets": "store",
    "outlet": "store",
    "shops": "store",
    "shop": "store",
    "products": "product",
    "product": "product",
    "skus": "product",
    "sku": "product",
    "items": "product",
    "item": "product",
    "brands": "brand",
    "brand": "brand",
    "categories": "category",
    "category": "category",
    "reps": "rep",
    "rep": "rep",
    "salesmen": "rep",
    "salesman": "rep",
    "localities": "locality",
    "areas": "locality",
    "area": "locality",
    "locality": "locality",
}

RANKING = re.compile(
    r"^\W*(?:show |list |give me |what are |which are )?(?:the |my |our )?"
    r"(top|best|bottom|worst|lowest|highest)\s*(\d{1,2})?\s+(\w+)"
    r"(?:\s+by\s+(?:sales|revenue|value))?(?:\s+(?:in|for|during|of))?\s*(.*?)\W*$",
    re.IGNORECASE,
)
TOTAL = re.compile(
    r"^\W*(?:what (?:were|was|are|is) )?(?:our |my |the )?(?:total )?(?:sales|revenue|turnover)"
    r"(?:\s+(?:in|for|during|of))?\s*(.*?)\W*$|^\W*how much did we sell\s*(.*?)\W*$",
    re.IGNORECASE,
)
TREND = re.compile(
    r"^\W*(?:show |give me )?(?:the )?(?:sales trend|(daily|weekly|monthly) sales|sales by "
    r"(day|week|month))(?:\s+(?:in|for|during|of|over))?\s*(.*?)\W*$",
    re.IGNORECASE,
)
BY_DIMENSION = re.compile(
    r"^\W*(?:show |give me |what (?:are|were) )?(?:the |our |my )?(?:total )?(?:sales|revenue)"
    r"\s*(.*?)\s+(?:by|per|for each)\s+(\w+)\s*(.*?)\W*$"
    r"|^\W*(\w+?)[- ]?wise (?:sales|revenue)\s*(.*?)\W*$",
    re.IGNORECASE,
)
BY_DIMENSION_ROWS = 50
QUIET = re.compile(
    r"^\W*(?:which |list |show |show me )?(?:the |all |our )?stores? (?:that |which )?"
    r"(?:have |has |are )?(?:not order(?:ed|ing)?|haven'?t ordered|not placed an order|"
    r"with no orders?) (?:for|in) (?:the )?(?:last |past )?(\d{1,3}) days\W*$",
    re.IGNORECASE,
)
STRIKE_RATE = re.compile(
    r"^\W*(?:show )?(?:the )?strike rate\b(?: (?:by|per|of) reps?)?\s*(.*?)\W*$", re.IGNORECASE
)
LINES_PER_CALL = re.compile(
    r"^\W*(?:show )?(?:the )?lines per (?:call|order)\b(?: (?:by|per) "
    r"reps?)?\s*(.*?)\W*$",
    re.IGNORECASE,
)


def _rest_is_period(rest: str) -> bool:
    """What follows the report words is a period we understand, or nothing."""
    rest = rest.strip().lower()
    return (
        not rest
        or any(pattern.fullmatch(rest) for pattern, _ in PERIODS)
        or bool(re.fullmatch(r"(in |for |over |during )?(the )?(last|past) \d{1,3} days", rest))
    )


def match_template(question: str, dialect: str) -> Template | None:
    """The SQL of a recognised question, or None."""
    if len(question) > LONGEST:
        return None
    period, named = period_of(question.lower())
    sold = f"{LIVE} AND {period.where('t.transaction_date', dialect)}"  # orders in the period
    if (
        (m := RANKING.match(question))
        and m.group(3).lower() in NOUNS
        and _rest_is_period(m.group(4))
    ):
        by = NOUNS[m.group(3).lower()]
        order = "ASC" if m.group(1).lower() in ("bottom", "worst", "lowest") else "DESC"
        columns, joins, group = SALES_BY[by]
        amount = "i.line_total_paise" if "i." in joins else "t.total_paise"
        sql = (
            f"SELECT {columns}, ROUND(SUM({amount}) / 100.0, 2) AS sales_inr "
            f"FROM transactions t {joins} WHERE {sold}"
            f" GROUP BY {group} ORDER BY sales_inr {order}, 1 LIMIT {int(m.group(2) or 5)}"
        )
        return Template(f"ranking of {by}s", sql, period, named)
    if (m := TOTAL.match(question)) and _rest_is_period(m.group(1) or m.group(2) or ""):
        sql = (
            "SELECT ROUND(SUM(t.total_paise) / 100.0, 2) AS sales_inr, COUNT(*) AS orders, "
            "COUNT(DISTINCT t.store_id) AS stores FROM transactions t "
            f"WHERE {sold}"
        )
        return Template("total sales", sql, period, named)
    if (m := TREND.match(question)) and _rest_is_period(m.group(3)):
        grain = (m.group(1) or m.group(2) or "day").lower().removesuffix("ly")
        grain = {"dai": "day", "week": "week", "month": "month"}.get(grain, grain)
        bucket = {
            ("day", "sqlite"): "t.transaction_date",
            ("week", "sqlite"): "date(t.transaction_date, 'weekday 0', '-6 days')",
            ("month", "sqlite"): "strftime('%Y-%m', t.transaction_date)",
            ("day", "postgresql"): "t.transaction_date",
            ("week", "postgresql"): "CAST(date_trunc('week', t.transaction_date) AS DATE)",
            ("month", "postgresql"): "to_char(t.transaction_date, 'YYYY-MM')",
        }[grain, dialect]
        sql = (
            f"SELECT {bucket} AS {grain}, ROUND(SUM(t.total_paise) / 100.0, 2) AS sales_inr "
            f"FROM transactions t WHERE {sold} "
            f"GROUP BY 1 ORDER BY 1"
        )
        return Template(f"sales by {grain}", sql, period, named)
    if (m := BY_DIMENSION.match(question)) and (m.group(2) or m.group(4)).lower() in NOUNS:
        by = NOUNS[(m.group(2) or m.group(4)).lower()]
        periods = (m.group(1), m.group(3)) if m.group(2) else (m.group(5),)
        if all(_rest_is_period(part or "") for part in periods):
            columns, joins, group = SALES_BY[by]
            amount = "i.line_total_paise" if "i." in joins else "t.total_paise"
            sql = (
                f"SELECT {columns}, ROUND(SUM({amount}) / 100.0, 2) AS sales_inr "
                f"FROM transactions t {joins} WHERE {sold}"
                f" GROUP BY {group} ORDER BY sales_inr DESC, 1 LIMIT {BY_DIMENSION_ROWS}"
            )
            return Template(f"sales by {by}", sql, period, named)
    if m := QUIET.match(question):
        days = int(m.group(1))
        sql = (
            "SELECT s.name AS store, s.code AS code, s.locality AS locality, "
            "MAX(t.transaction_date) AS last_order FROM stores s "
            f"LEFT JOIN transactions t ON t.store_id = s.id AND {LIVE} WHERE s.is_active "
            f"GROUP BY s.id, s.name, s.code, s.locality HAVING MAX(t.transaction_date) IS NULL"
            f" OR MAX(t.transaction_date) < {days_ago(days, dialect)} ORDER BY 4, 1"
        )
        return Template("stores not ordering", sql, Period(f"{days} days", days, 0), True)
    if (m := STRIKE_RATE.match(question)) and _rest_is_period(m.group(1)):
        sql = (
            "SELECT r.name AS rep, COUNT(*) AS visits, SUM(CASE WHEN v.outcome = 'order' "
            "THEN 1 ELSE 0 END) AS orders, ROUND(100.0 * SUM(CASE WHEN v.outcome = 'order' "
            "THEN 1 ELSE 0 END) / COUNT(*), 1) AS strike_rate_pct FROM visits v "
            f"JOIN reps r ON r.id = v.rep_id WHERE {period.where('v.visit_date', dialect)} "
            "GROUP BY r.id, r.name ORDER BY strike_rate_pct DESC, 1"
        )
        return Template("strike rate by rep", sql, period, named)
    if (m := LINES_PER_CALL.match(question)) and _rest_is_period(m.group(1)):
        sql = (
            "SELECT r.name AS rep, ROUND(1.0 * COUNT(i.id) / COUNT(DISTINCT t.id), 2) "
            "AS lines_per_call FROM transactions t JOIN transaction_items i ON "
            "i.transaction_id = t.id JOIN reps r ON r.id = t.rep_id WHERE "
            f"{sold} GROUP BY r.id, r.name "
            "ORDER BY lines_per_call DESC, 1"
        )
        return Template("lines per call by rep", sql, period, named)
    return None
