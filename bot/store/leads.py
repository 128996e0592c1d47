"""The SQLite store (aiosqlite, WAL): with store_base and store_tips, the only SQL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import aiosqlite

from bot.funnel.rules import Stage
from bot.outbox.events import HookType
from bot.store.core import Event
from bot.store.repository import Repository
from bot.store.tips import NextTip


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
    timezone: str | None = None
    hot_at: int | None = None
    hot_reason: str | None = None
    contacted_at: int | None = None
    won_at: int | None = None
    email_verified_at: int | None = None


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


_LEAD_COLUMNS = (
    "user_id, first_name, last_name, username, language, first_source, email, email_at,"
    " consent_at, consent_version, subscribed, unsubscribed_at, blocked_at, stage, started_at,"
    " updated_at, timezone, hot_at, hot_reason, contacted_at, won_at,"
    " email_verified_at"
)


_MAGNET_COLUMNS = (
    "magnet_id, source, requested_at, answer_id, answer_fit, answered_at, delivered_at"
)


T = TypeVar("T")
_FIELDS: dict[type, frozenset[str]] = {
    kind: frozenset(f.name for f in fields(kind)) for kind in (Lead, LeadMagnet)
}


def _built(kind: type[T], values: dict[str, Any]) -> T:
    """kind(**values): with every field given (a full row), the object __init__ would make,
    without its object.__setattr__ per field of a frozen dataclass (22 for a lead, built
    about once per update: ~6 us -> ~1 us); anything else through __init__ itself."""
    if values.keys() != _FIELDS[kind]:
        return kind(**values)
    built = object.__new__(kind)
    built.__dict__.update(values)
    return built


def _lead_magnet(row: aiosqlite.Row) -> LeadMagnet:
    values = dict(row)
    fit = values["answer_fit"]
    values["answer_fit"] = None if fit is None else bool(fit)
    return _built(LeadMagnet, values)


def _lead(row: aiosqlite.Row) -> Lead:
    values = dict(row)
    values["subscribed"] = bool(values["subscribed"])
    values["stage"] = Stage(values["stage"])
    return _built(Lead, values)


class _Unknown:
    """A value the caller did not pass (None being a value)."""


_UNKNOWN = _Unknown()


class Leads(Repository):
    """Leads: who they are, their email and consent, magnets asked for, erasure."""

    async def get(self, user_id: int) -> Lead | None:
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
            # RETURNING: the row as it now stands, so the caller needs no second read.
            rows = await db.execute_fetchall(
                "INSERT INTO leads (user_id, first_name, last_name, username, language,"
                " first_source, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET first_name = excluded.first_name,"
                " last_name = excluded.last_name, username = excluded.username,"
                " language = excluded.language,"
                f" updated_at = excluded.updated_at RETURNING {_LEAD_COLUMNS}",
                (user_id, first_name, last_name, username, language, source, now, now),
            )
            lead = _lead(next(iter(rows)))
            row = await self._one(
                "SELECT 1 FROM events WHERE person = ? AND kind = ?", (user_id, Event.START.value)
            )
            if row is None:  # the first source is the one kept (the row's, not this call's)
                await self._event(
                    db, user_id, Event.START, source=lead.first_source, update_id=update_id
                )
        return lead

    async def request_magnet(self, user_id: int, magnet_id: str, source: str | None) -> None:
        """Note that the person asked for a magnet (first request kept)."""
        await self._write1(
            "INSERT OR IGNORE INTO lead_magnets (user_id, magnet_id, source, requested_at)"
            " VALUES (?, ?, ?, ?)",
            (user_id, magnet_id, source, self.now()),
        )

    async def asked_for(self, user_id: int, magnet_id: str, source: str | None) -> list[LeadMagnet]:
        """request_magnet, then the person's magnets (lead_magnets); a magnet already asked
        for (the first request is kept) costs one read instead of a write and a read."""
        asked = await self.lead_magnets(user_id)
        if any(m.magnet_id == magnet_id for m in asked):
            return asked
        rows = await self._write1(
            "INSERT OR IGNORE INTO lead_magnets (user_id, magnet_id, source, requested_at)"
            f" VALUES (?, ?, ?, ?) RETURNING {_MAGNET_COLUMNS}",
            (user_id, magnet_id, source, self.now()),
        )
        if not rows:  # written meanwhile by another task: read again
            return await self.lead_magnets(user_id)
        asked.append(_lead_magnet(rows[0]))
        return sorted(asked, key=lambda m: (m.requested_at, m.magnet_id))  # lead_magnets' order

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
            await self._store._lock(db, user_id)
            before = await self._one(
                "SELECT email, unsubscribed_at, first_source FROM leads WHERE user_id = ?",
                (user_id,),
            )
            if before is None:
                raise KeyError(user_id)
            # A new address is not verified, whatever the previous one was.
            await db.execute(
                "UPDATE leads SET email_verified_at = CASE WHEN email IS ?"
                " THEN email_verified_at END, email = ?, email_at = COALESCE(email_at, ?),"
                " consent_at = ?, consent_version = ?, subscribed = 1, unsubscribed_at = NULL,"
                " updated_at = ? WHERE user_id = ?",
                (email, email, now, now, consent_version, now, user_id),
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
            await self._refresh_stage(db, user_id)
            if before["email"] != email:
                await self._hook(
                    db, user_id, HookType.CAPTURED, {"magnet": magnet_id, "first": first is None}
                )
            if before["unsubscribed_at"] is not None:  # giving an email again is an opt-in
                await self._hook(db, user_id, HookType.RESUBSCRIBED)
        return first is None

    async def resubscribe(
        self, user_id: int, *, consent_version: str, update_id: int | None
    ) -> None:
        """An explicit new opt-in after /stop."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            cur = await db.execute(
                "UPDATE leads SET subscribed = 1, unsubscribed_at = NULL, consent_at = ?,"
                " consent_version = ?, updated_at = ? WHERE user_id = ?"
                " AND unsubscribed_at IS NOT NULL",
                (now, consent_version, now, user_id),
            )
            if cur.rowcount:
                await self._event(db, user_id, Event.RESUBSCRIBE, update_id=update_id)
                await self._store.tips.pause(db, user_id, False, now)
            await self._refresh_stage(db, user_id)
            if cur.rowcount:
                await self._hook(db, user_id, HookType.RESUBSCRIBED)

    async def _by_update(
        self,
        db: aiosqlite.Connection,
        user_id: int,
        kind: Event,
        update_id: int,
        value: str | None = None,
    ) -> bool:
        """Whether this update already logged this event (with this value): a replay of it."""
        sql = "SELECT 1 FROM events WHERE update_id = ? AND person = ? AND kind = ?"
        params: tuple[object, ...] = (update_id, user_id, kind.value)
        if value is not None:
            sql, params = sql + " AND value = ?", (*params, value)
        found = await db.execute(sql, params)
        return await found.fetchone() is not None

    async def save_answer(
        self,
        user_id: int,
        magnet_id: str,
        answer_id: str,
        fit: bool,
        update_id: int | None,
        first_source: str | _Unknown | None = _UNKNOWN,
    ) -> bool:
        """Record the answer to a magnet's qualifying question; False if already answered
        (by another update: the one that answered, handled again, goes on as the first time).
        `first_source`: the lead's, from a caller that read the lead (else read here)."""
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE lead_magnets SET answer_id = ?, answer_fit = ?, answered_at = ?"
                " WHERE user_id = ? AND magnet_id = ? AND answer_id IS NULL",
                (answer_id, int(fit), now, user_id, magnet_id),
            )
            if not cur.rowcount:
                return update_id is not None and await self._by_update(
                    db, user_id, Event.ANSWER, update_id
                )
            if isinstance(first_source, _Unknown):
                lead = await self._one(
                    "SELECT first_source FROM leads WHERE user_id = ?", (user_id,)
                )
                first_source = lead["first_source"] if lead else None
            await self._event(
                db,
                user_id,
                Event.ANSWER,
                magnet_id=magnet_id,
                source=first_source,  # for the by-source split
                value="fit" if fit else "not_fit",
                update_id=update_id,
            )
        return True

    async def mark_delivered(
        self, user_id: int, magnet_id: str, update_id: int | None, then: NextTip = None
    ) -> bool:
        """Record a PDF delivery (and start its tips with `then`); True the first time, and
        again when the update that first delivered it is handled again."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            cur = await db.execute(
                "UPDATE lead_magnets SET delivered_at = ?"
                " WHERE user_id = ? AND magnet_id = ? AND delivered_at IS NULL",
                (now, user_id, magnet_id),
            )
            first = bool(cur.rowcount)
            if not first and update_id is not None:  # a replay must send what follows too
                first = await self._by_update(db, user_id, Event.DOWNLOAD, update_id, "first")
            await self._event(
                db,
                user_id,
                Event.DOWNLOAD,
                magnet_id=magnet_id,
                value="first" if first else "again",
                update_id=update_id,
            )
            await self._store.tips.then(db, user_id, magnet_id, then)
            await self._refresh_stage(db, user_id)
        return first

    async def lead_magnets(self, user_id: int) -> list[LeadMagnet]:
        """The magnets a person asked for, oldest first."""
        rows = await self._all(
            f"SELECT {_MAGNET_COLUMNS} FROM lead_magnets WHERE user_id = ?"
            " ORDER BY requested_at, magnet_id",
            (user_id,),
        )
        return [_lead_magnet(r) for r in rows]

    async def unsubscribe(self, user_id: int, update_id: int | None) -> bool:
        """/stop or the stop button: no more messages; False if not subscribed."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            cur = await db.execute(
                "UPDATE leads SET subscribed = 0, unsubscribed_at = ?, updated_at = ?"
                " WHERE user_id = ? AND subscribed = 1",
                (now, now, user_id),
            )
            if cur.rowcount:
                await self._event(db, user_id, Event.UNSUBSCRIBE, update_id=update_id)
                await self._store.tips.pause(db, user_id, True, now)
                await self._refresh_stage(db, user_id)
                await self._hook(db, user_id, HookType.UNSUBSCRIBED)
        return bool(cur.rowcount)

    async def mark_blocked(self, user_id: int, blocked: bool = True) -> bool:
        """Telegram says this person blocked the bot (or unblocked it)."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            if blocked:
                cur = await db.execute(
                    "UPDATE leads SET blocked_at = ?, updated_at = ?"
                    " WHERE user_id = ? AND blocked_at IS NULL",
                    (now, now, user_id),
                )
                if cur.rowcount:
                    await self._event(db, user_id, Event.BLOCKED)
                    await self._store.tips.pause(db, user_id, True, now)
            else:
                cur = await db.execute(
                    "UPDATE leads SET blocked_at = NULL, updated_at = ?"
                    " WHERE user_id = ? AND blocked_at IS NOT NULL",
                    (now, user_id),
                )
                if cur.rowcount:  # back in the audience (churn counts them as subscribed again)
                    await self._event(db, user_id, Event.UNBLOCKED)
            await self._refresh_stage(db, user_id)
        return bool(cur.rowcount)

    async def erase(self, user_id: int) -> bool:
        """Erase a person's personal data; their events stay, under an anonymous number."""
        anonymous = -(secrets.randbelow(2**62) + 1)
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            # Tools that heard of this person (or may have: a lead) hear of the erasure.
            told = await self._store.hooks.urls_for(user_id)
            cur = await db.execute("DELETE FROM leads WHERE user_id = ?", (user_id,))
            erased = bool(cur.rowcount)
            await db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM unreadable_updates WHERE user_id = ?", (user_id,))
            # Raw updates not yet handled go; handled ones keep their id (no content, no
            # person) so a redelivered batch from before the erasure is still refused.
            await db.execute("DELETE FROM inbox WHERE user_id = ? AND done_at IS NULL", (user_id,))
            await db.execute(
                "UPDATE inbox SET user_id = NULL, payload = NULL WHERE user_id = ?", (user_id,)
            )
            await db.execute("DELETE FROM broadcast_recipients WHERE user_id = ?", (user_id,))
            # An owner's own tries were never counted (set_owners); under an anonymous number
            # they would start counting, changing past periods: they go instead.
            found = await db.execute("SELECT 1 FROM temp.owners WHERE user_id = ?", (user_id,))
            owner = await found.fetchone() is not None
            if owner:
                await db.execute("DELETE FROM events WHERE person = ?", (user_id,))
            else:
                await db.execute(
                    "UPDATE events SET person = ?, update_id = NULL WHERE person = ?",
                    (anonymous, user_id),
                )
            if erased and not owner:
                await self._event(db, anonymous, Event.ERASE)
            # Events not yet delivered carry personal data: they never leave; and no row links
            # the Telegram id to what happened any more.
            await self._store.hooks.forget(db, user_id)
            await self._store.team.forget(db, user_id)  # relayed message ids, the conversation
            if erased and told:
                await self._hook(db, user_id, HookType.ERASED, urls=told)
        # Old versions of the erased rows: SQLite's page images in the WAL until a checkpoint,
        # PostgreSQL's dead row versions until a VACUUM; both done now.
        await self._store.purge_erased()
        return erased
