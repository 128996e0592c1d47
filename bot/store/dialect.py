"""The one place where the store's SQLite SQL becomes PostgreSQL SQL.

The repositories hold one copy of each query, written for SQLite (the tuned default). On
PostgreSQL each statement is translated here once (cached per statement and parameter types):

- placeholders: `?` and `?N` -> `$N`, each cast from its Python value (`$1::bigint`), since
  PostgreSQL cannot infer a parameter's type everywhere SQLite accepts one (`SELECT ?, ...`);
- `INSERT OR IGNORE` -> `INSERT ... ON CONFLICT DO NOTHING`; `INSERT OR REPLACE` -> `INSERT ...
  ON CONFLICT (primary key) DO UPDATE SET` every other column (the keys are in `_KEYS`);
- `x IS ?` -> `x IS NOT DISTINCT FROM $N`; `CROSS JOIN t ON` -> `JOIN t ON`; `group_concat` ->
  `string_agg`; `CAST(x AS INTEGER)` -> `BIGINT`; `temp.` -> `pg_temp.`, `main.` -> nothing;
- `BEGIN IMMEDIATE` -> `BEGIN`; `PRAGMA ...` -> nothing (checkpoints are SQLite's business);
- a row lock written as a comment, `/*FOR UPDATE*/` (or `NO KEY UPDATE`, `KEY SHARE OF l`,
  with ` SKIP LOCKED`), becomes the clause: SQLite ignores the comment (BEGIN IMMEDIATE
  already makes its transactions take turns), PostgreSQL's READ COMMITTED transactions of
  several processes then take turns on those rows (see `_ROW_LOCK`);
- a few fragments with no mechanical translation (SQLite's bare column next to MIN(), `UPDATE
  OR IGNORE`) are replaced by their PostgreSQL form in `_FRAGMENTS`, next to each other here.

The schema: SQLite's migrations, translated by `schema()` (INTEGER -> BIGINT: Telegram ids and
anonymous numbers need 64 bits; an `id INTEGER PRIMARY KEY` -> an identity column).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Primary keys of the tables written with INSERT OR REPLACE (its conflict target).
_KEYS: dict[str, tuple[str, ...]] = {
    "sessions": ("user_id",),
    "files": ("sha256",),
    "relays": ("owner_chat", "message_id"),
    "mentions": ("owner_chat", "message_id", "user_id"),
    "optin_codes": ("user_id",),
    "broadcast_versions": ("broadcast_id", "language"),
}

# SQLite fragment (a regular expression) -> PostgreSQL, for what no rule above translates.
_FRAGMENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    # The team KPIs: SQLite takes `value` from the row of MIN(at); PostgreSQL must say so.
    (
        re.compile(
            r"SELECT person, MIN\(at\), CAST\(value AS INTEGER\) AS waited FROM main\.events"
            r"\s+WHERE kind = 'team_answer'(.*?) GROUP BY person"
        ),
        r"SELECT DISTINCT ON (person) person, at, CAST(value AS BIGINT) AS waited FROM events"
        r" WHERE kind = 'team_answer'\1 ORDER BY person, at",
    ),
    # Relays moved to another inbox group: skip those that would collide (UPDATE OR IGNORE).
    (
        re.compile(
            r"UPDATE OR IGNORE team_relays SET to_chat = \?, next_at = \?, error = NULL"
            r" WHERE state = 'pending' AND direction = \? AND to_chat < 0 AND to_chat != \?"
        ),
        "UPDATE team_relays r SET to_chat = ?1, next_at = ?2, error = NULL"
        " WHERE state = 'pending' AND direction = ?3 AND to_chat < 0 AND to_chat != ?4"
        " AND (update_id IS NULL OR NOT EXISTS (SELECT 1 FROM team_relays o"
        " WHERE o.update_id = r.update_id AND o.to_chat = ?1))",
    ),
)

# A row lock only PostgreSQL needs, written as a comment SQLite skips: `/*FOR UPDATE*/`.
_ROW_LOCK = re.compile(
    r"/\*\s*(FOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)(?: OF \w+)?(?: SKIP LOCKED)?)\s*\*/"
)

_TOKENS = re.compile(r"'(?:[^']|'')*'|\?(\d*)")
_INSERT_OR = re.compile(r"^\s*INSERT OR (IGNORE|REPLACE) INTO (\w+)", re.IGNORECASE)
_COLUMNS = re.compile(r"^\s*INSERT INTO \w+\s*\(([^)]*)\)", re.IGNORECASE)
_RETURNING = re.compile(r"\sRETURNING\s", re.IGNORECASE)
_CAST = {int: "::bigint", float: "::float8", str: "::text", bytes: "::bytea"}


def fragments(sql: str) -> str:
    """The fragments of `_FRAGMENTS` replaced by their PostgreSQL form."""
    for sqlite, pg in _FRAGMENTS:
        sql = sqlite.sub(pg, sql)
    return sql


def param_types(rows: list[tuple[object, ...]]) -> tuple[type | None, ...]:
    """Per parameter position, the type of its first value that is not None (bool is int)."""
    width = len(rows[0]) if rows else 0
    found: list[type | None] = [None] * width
    for row in rows:
        for i, value in enumerate(row):
            if found[i] is None and value is not None:
                found[i] = int if isinstance(value, bool) else type(value)
        if all(t is not None for t in found):
            break
    return tuple(found)


@lru_cache(maxsize=2048)
def translate(sql: str, types: tuple[type | None, ...] = ()) -> str | None:
    """PostgreSQL for one SQLite statement (None: nothing to run, e.g. a PRAGMA)."""
    stripped = sql.strip()
    upper = stripped.upper()
    if upper.startswith("PRAGMA") or upper.startswith("VACUUM"):
        return None
    if upper == "BEGIN IMMEDIATE":
        return "BEGIN"
    sql = fragments(sql)
    sql = _insert_or(sql)
    sql = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM ?", sql)
    sql = sql.replace("CROSS JOIN", "JOIN")
    sql = re.sub(r"\bgroup_concat\(", "string_agg(", sql)
    sql = re.sub(r"\bAS INTEGER\)", "AS BIGINT)", sql)
    sql = re.sub(r"\btemp\.", "pg_temp.", sql)
    sql = re.sub(r"\bmain\.", "", sql)
    sql = _ROW_LOCK.sub(r"\1", sql)
    return _placeholders(sql, types)


def _insert_or(sql: str) -> str:
    match = _INSERT_OR.match(sql)
    if not match:
        return sql
    verb, table = match.group(1).upper(), match.group(2)
    sql = sql[: match.start()] + f"INSERT INTO {table}" + sql[match.end() :]
    if verb == "IGNORE":
        clause = " ON CONFLICT DO NOTHING"
    else:
        keys = _KEYS[table]
        columns = _COLUMNS.match(sql)
        if columns is None:
            raise ValueError(f"INSERT OR REPLACE without a column list: {sql}")
        names = [c.strip() for c in columns.group(1).split(",")]
        others = [c for c in names if c not in keys]
        updates = ", ".join(f"{c} = excluded.{c}" for c in others)
        clause = f" ON CONFLICT ({', '.join(keys)}) " + (
            f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        )
    returning = _RETURNING.search(sql)
    if returning:
        return sql[: returning.start()] + clause + sql[returning.start() :]
    return sql.rstrip() + clause


def _placeholders(sql: str, types: tuple[type | None, ...]) -> str:
    counter = 0

    def one(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0).startswith("'"):
            return match.group(0)  # a string literal, kept as it is
        if match.group(1):
            number = int(match.group(1))
        else:
            counter += 1
            number = counter
        kind = types[number - 1] if number - 1 < len(types) else None
        return f"${number}{_CAST.get(kind, '') if kind else ''}"

    return _TOKENS.sub(one, sql)


def schema(migration: str) -> str:
    """One SQLite migration as PostgreSQL DDL."""
    sql = re.sub(
        r"\bid INTEGER PRIMARY KEY( AUTOINCREMENT)?",
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        migration,
    )
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    return sql
