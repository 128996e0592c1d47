"""The SQLite store (aiosqlite, WAL): the only module that writes SQL."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from bot.funnel import Stage, stage_of
from bot.migrations import MIGRATIONS

Clock = Callable[[], float]


class Event(StrEnum):
    """Kinds of the append-only event log (every KPI is computed from these)."""

    START = "start"
    LEAD = "lead"
    RESUBSCRIBE = "resubscribe"
    ANSWER = "answer"
    DOWNLOAD = "download"  # value "first", or "again" when the same person gets it again
    UNSUBSCRIBE = "unsubscribe"
    BLOCKED = "blocked"
    ERASE = "erase"


@dataclass(frozen=True)
class Lead:
    """A person who sent /start, as stored."""

    user_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    language: str
    first_source: str | None
    email: str | None
    email_at: int | None
    consent_at: int | None
    consent_version: str | None
    subscribed: bool
    unsubscribed_at: int | None
    blocked_at: int | None
    stage: Stage
    started_at: int
    updated_at: int


@dataclass(frozen=True)
class LeadMagnet:
    """A magnet a person asked for, with their answer and delivery."""

    magnet_id: str
    source: str | None
    requested_at: int
    answer_id: str | None
    answer_fit: bool | None
    answered_at: int | None
    delivered_at: int | None


@dataclass(frozen=True)
class Session:
    """The step a person is in."""

    step: str
    magnet_id: str | None
    data: dict[str, Any]


_LEAD_COLUMNS = (
    "user_id, first_name, last_name, username, language, first_source, email, email_at,"
    " consent_at, consent_version, subscribed, unsubscribed_at, blocked_at, stage, started_at,"
    " updated_at"
)


def _lead(row: aiosqlite.Row) -> Lead:
    values = dict(row)
    values["subscribed"] = bool(values["subscribed"])
    values["stage"] = Stage(values["stage"])
    return Lead(**values)


class Store:
    """Typed access to the database; every write is one transaction."""

    def __init__(self, db: aiosqlite.Connection, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # One connection is shared by concurrent handlers: serialise transactions on it.
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, clock: Clock = time.time) -> Store:
        """Open (creating and migrating if needed) the database file."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            # Erased personal data is overwritten on disk, not just unlinked from the b-tree.
            await db.execute("PRAGMA secure_delete=ON")
            store = cls(db, clock)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

    def now(self) -> int:
        """The store's clock, in whole seconds."""
        return int(self._clock())

    async def _migrate(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema {version} is newer than this Aimant ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
            )

    async def schema_version(self) -> int:
        """The schema version of the open file."""
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self._db.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def _event(
        self,
        db: aiosqlite.Connection,
        person: int,
        kind: Event,
        *,
        magnet_id: str | None = None,
        source: str | None = None,
        value: str | None = None,
        update_id: int | None = None,
    ) -> None:
        await db.execute(
            "INSERT OR IGNORE INTO events (at, person, kind, magnet_id, source, value, update_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.now(), person, kind.value, magnet_id, source, value, update_id),
        )

    async def _refresh_stage(self, db: aiosqlite.Connection, user_id: int) -> None:
        row = await self._one(
            "SELECT email IS NOT NULL AS has_email, unsubscribed_at IS NOT NULL AS unsub,"
            " blocked_at IS NOT NULL AS blocked,"
            " EXISTS(SELECT 1 FROM lead_magnets m WHERE m.user_id = l.user_id"
            " AND m.delivered_at IS NOT NULL) AS delivered"
            " FROM leads l WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return
        stage = stage_of(
            has_email=bool(row["has_email"]),
            delivered=bool(row["delivered"]),
            unsubscribed=bool(row["unsub"]),
            blocked=bool(row["blocked"]),
        )
        await db.execute("UPDATE leads SET stage = ? WHERE user_id = ?", (stage.value, user_id))

    # --- inbox: durable intake of updates -------------------------------------------------

    async def inbox_save(self, updates: Iterable[tuple[int, int | None, str]]) -> None:
        """Keep fetched updates (id, user id, JSON) before Telegram is told they arrived."""
        rows = [(uid, user, payload, self.now()) for uid, user, payload in updates]
        if not rows:
            return
        async with self._tx() as db:
            await db.executemany(
                "INSERT OR IGNORE INTO inbox (update_id, user_id, payload, received_at)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    async def inbox_pending(self) -> list[str]:
        """JSON of updates received but not yet handled, oldest first."""
        rows = await self._all(
            "SELECT payload FROM inbox WHERE done_at IS NULL AND payload IS NOT NULL"
            " ORDER BY update_id"
        )
        return [row["payload"] for row in rows]

    async def inbox_is_done(self, update_id: int) -> bool:
        """Whether this update was handled already."""
        row = await self._one("SELECT done_at FROM inbox WHERE update_id = ?", (update_id,))
        return row is not None and row["done_at"] is not None

    async def inbox_done(self, update_id: int, keep_seconds: int = 7 * 86400) -> None:
        """Mark an update handled and drop its content (it may hold personal data)."""
        now = self.now()
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO inbox (update_id, payload, received_at, done_at)"
                " VALUES (?, NULL, ?, ?) ON CONFLICT(update_id) DO UPDATE"
                " SET payload = NULL, done_at = excluded.done_at",
                (update_id, now, now),
            )
            if update_id % 500 == 0:  # now and then, forget ids too old to be redelivered
                await db.execute(
                    "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?",
                    (now - keep_seconds,),
                )

    # --- leads --------------------------------------------------------------------------

    async def get_lead(self, user_id: int) -> Lead | None:
        """The stored person, if any."""
        row = await self._one(f"SELECT {_LEAD_COLUMNS} FROM leads WHERE user_id = ?", (user_id,))
        return _lead(row) if row else None

    async def touch_visitor(
        self,
        user_id: int,
        *,
        first_name: str | None,
        last_name: str | None,
        username: str | None,
        language: str,
        source: str | None = None,
        update_id: int | None = None,
    ) -> Lead:
        """Create the person on first contact (logging `start`), keep names and language fresh.

        The first source a person came with is kept for good; the first contact counts as the
        person's start (it is a /start in practice: Telegram opens every chat with one).
        """
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO leads (user_id, first_name, last_name, username, language,"
                " first_source, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET first_name = excluded.first_name,"
                " last_name = excluded.last_name, username = excluded.username,"
                " language = excluded.language,"
                " first_source = COALESCE(leads.first_source, excluded.first_source),"
                " updated_at = excluded.updated_at",
                (user_id, first_name, last_name, username, language, source, now, now),
            )
            del cur
            row = await self._one(
                "SELECT 1 FROM events WHERE person = ? AND kind = ?", (user_id, Event.START.value)
            )
            if row is None:
                lead_source = await self._one(
                    "SELECT first_source FROM leads WHERE user_id = ?", (user_id,)
                )
                await self._event(
                    db,
                    user_id,
                    Event.START,
                    source=lead_source["first_source"] if lead_source else source,
                    update_id=update_id,
                )
        lead = await self.get_lead(user_id)
        assert lead is not None
        return lead

    async def request_magnet(self, user_id: int, magnet_id: str, source: str | None) -> None:
        """Note that the person asked for a magnet (first request kept)."""
        async with self._tx() as db:
            await db.execute(
                "INSERT OR IGNORE INTO lead_magnets (user_id, magnet_id, source, requested_at)"
                " VALUES (?, ?, ?, ?)",
                (user_id, magnet_id, source, self.now()),
            )

    async def capture_email(
        self,
        user_id: int,
        email: str,
        *,
        consent_version: str,
        magnet_id: str | None,
        update_id: int | None = None,
    ) -> bool:
        """Store a valid email with consent; True the first time this person becomes a lead."""
        now = self.now()
        async with self._tx() as db:
            before = await self._one(
                "SELECT email, unsubscribed_at, first_source FROM leads WHERE user_id = ?",
                (user_id,),
            )
            if before is None:
                raise KeyError(user_id)
            await db.execute(
                "UPDATE leads SET email = ?, email_at = COALESCE(email_at, ?), consent_at = ?,"
                " consent_version = ?, subscribed = 1, unsubscribed_at = NULL, updated_at = ?"
                " WHERE user_id = ?",
                (email, now, now, consent_version, now, user_id),
            )
            first = await self._one(
                "SELECT 1 FROM events WHERE person = ? AND kind = ?", (user_id, Event.LEAD.value)
            )
            if first is None:
                await self._event(
                    db,
                    user_id,
                    Event.LEAD,
                    magnet_id=magnet_id,
                    source=before["first_source"],
                    update_id=update_id,
                )
            elif before["unsubscribed_at"] is not None:
                await self._event(db, user_id, Event.RESUBSCRIBE, update_id=update_id)
            await self._refresh_stage(db, user_id)
        return first is None

    async def resubscribe(
        self, user_id: int, *, consent_version: str, update_id: int | None
    ) -> None:
        """An explicit new opt-in after /stop."""
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE leads SET subscribed = 1, unsubscribed_at = NULL, consent_at = ?,"
                " consent_version = ?, updated_at = ? WHERE user_id = ?"
                " AND unsubscribed_at IS NOT NULL",
                (now, consent_version, now, user_id),
            )
            if cur.rowcount:
                await self._event(db, user_id, Event.RESUBSCRIBE, update_id=update_id)
            await self._refresh_stage(db, user_id)

    async def save_answer(
        self, user_id: int, magnet_id: str, answer_id: str, fit: bool, update_id: int | None
    ) -> bool:
        """Record the answer to a magnet's qualifying question; False if already answered."""
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE lead_magnets SET answer_id = ?, answer_fit = ?, answered_at = ?"
                " WHERE user_id = ? AND magnet_id = ? AND answer_id IS NULL",
                (answer_id, int(fit), now, user_id, magnet_id),
            )
            if cur.rowcount:
                await self._event(
                    db,
                    user_id,
                    Event.ANSWER,
                    magnet_id=magnet_id,
                    value="fit" if fit else "not_fit",
                    update_id=update_id,
                )
        return bool(cur.rowcount)

    async def mark_delivered(self, user_id: int, magnet_id: str, update_id: int | None) -> bool:
        """Record a PDF delivery; True the first time this person gets this magnet."""
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE lead_magnets SET delivered_at = ?"
                " WHERE user_id = ? AND magnet_id = ? AND delivered_at IS NULL",
                (now, user_id, magnet_id),
            )
            first = bool(cur.rowcount)
            await self._event(
                db,
                user_id,
                Event.DOWNLOAD,
                magnet_id=magnet_id,
                value="first" if first else "again",
                update_id=update_id,
            )
            await self._refresh_stage(db, user_id)
        return first

    async def lead_magnets(self, user_id: int) -> list[LeadMagnet]:
        """The magnets a person asked for, oldest first."""
        rows = await self._all(
            "SELECT magnet_id, source, requested_at, answer_id, answer_fit, answered_at,"
            " delivered_at FROM lead_magnets WHERE user_id = ? ORDER BY requested_at, magnet_id",
            (user_id,),
        )
        return [
            LeadMagnet(
                **{
                    **dict(r),
                    "answer_fit": None if r["answer_fit"] is None else bool(r["answer_fit"]),
                }
            )
            for r in rows
        ]

    async def unsubscribe(self, user_id: int, update_id: int | None) -> bool:
        """/stop or the stop button: no more messages; False if not subscribed."""
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE leads SET subscribed = 0, unsubscribed_at = ?, updated_at = ?"
                " WHERE user_id = ? AND subscribed = 1",
                (now, now, user_id),
            )
            if cur.rowcount:
                await self._event(db, user_id, Event.UNSUBSCRIBE, update_id=update_id)
                await self._refresh_stage(db, user_id)
        return bool(cur.rowcount)

    async def mark_blocked(self, user_id: int, blocked: bool = True) -> bool:
        """Telegram says this person blocked the bot (or unblocked it)."""
        now = self.now()
        async with self._tx() as db:
            if blocked:
                cur = await db.execute(
                    "UPDATE leads SET blocked_at = ?, updated_at = ?"
                    " WHERE user_id = ? AND blocked_at IS NULL",
                    (now, now, user_id),
                )
                if cur.rowcount:
                    await self._event(db, user_id, Event.BLOCKED)
            else:
                cur = await db.execute(
                    "UPDATE leads SET blocked_at = NULL, updated_at = ?"
                    " WHERE user_id = ? AND blocked_at IS NOT NULL",
                    (now, user_id),
                )
            await self._refresh_stage(db, user_id)
        return bool(cur.rowcount)

    async def erase(self, user_id: int) -> bool:
        """Erase a person's personal data; their events stay, under an anonymous number."""
        anonymous = -(secrets.randbelow(2**62) + 1)
        async with self._tx() as db:
            cur = await db.execute("DELETE FROM leads WHERE user_id = ?", (user_id,))
            erased = bool(cur.rowcount)
            await db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM inbox WHERE user_id = ?", (user_id,))
            await db.execute(
                "UPDATE events SET person = ?, update_id = NULL WHERE person = ?",
                (anonymous, user_id),
            )
            if erased:
                await self._event(db, anonymous, Event.ERASE)
        # Old page images of the erased rows may sit in the WAL file until a checkpoint.
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return erased

    # --- sessions -----------------------------------------------------------------------

    async def get_session(self, user_id: int) -> Session | None:
        """The step this person is in, if any."""
        row = await self._one(
            "SELECT step, magnet_id, data FROM sessions WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return None
        return Session(row["step"], row["magnet_id"], json.loads(row["data"] or "{}"))

    async def set_session(
        self, user_id: int, step: str, magnet_id: str | None = None, **data: Any
    ) -> None:
        """Put the person in a step."""
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO sessions (user_id, step, magnet_id, data, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (user_id, step, magnet_id, json.dumps(data), self.now()),
            )

    async def clear_session(self, user_id: int) -> bool:
        """Leave the current step; False if there was none."""
        async with self._tx() as db:
            cur = await db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        return bool(cur.rowcount)

    # --- Telegram file ids --------------------------------------------------------------

    async def file_id(self, sha256: str) -> str | None:
        """The cached Telegram file_id of a file, if it was uploaded before."""
        row = await self._one("SELECT file_id FROM files WHERE sha256 = ?", (sha256,))
        return row["file_id"] if row else None

    async def set_file_id(self, sha256: str, file_id: str | None) -> None:
        """Remember (or, with None, forget) the file_id Telegram gave an upload."""
        async with self._tx() as db:
            if file_id is None:
                await db.execute("DELETE FROM files WHERE sha256 = ?", (sha256,))
            else:
                await db.execute(
                    "INSERT OR REPLACE INTO files (sha256, file_id, updated_at) VALUES (?, ?, ?)",
                    (sha256, file_id, self.now()),
                )

    # --- for tests and checks ------------------------------------------------------------

    async def count_events(
        self, kind: Event, person: int | None = None, value: str | None = None
    ) -> int:
        """How many events of a kind (for one person, or everyone; with a value, or any)."""
        sql = "SELECT COUNT(*) FROM events WHERE kind = ?"
        params: list[Any] = [kind.value]
        if value is not None:
            sql += " AND value = ?"
            params.append(value)
        if person is not None:
            sql += " AND person = ?"
            params.append(person)
        row = await self._one(sql, params)
        return int(row[0]) if row else 0
