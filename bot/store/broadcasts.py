"""Store methods for broadcasts: drafts, segments, recipients claimed one by one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aiosqlite

from bot.broadcast.draft import Version
from bot.store.connection import off_loop
from bot.store.core import Event
from bot.store.repository import Repository


@dataclass(frozen=True)
class Broadcast:
    """A broadcast as stored."""

    id: int
    owner_chat: int
    text: str
    segments: list[str]
    segment: str | None
    state: str  # draft | scheduled | held (late: owners decide) | sending | done | cancelled
    paid: bool
    status_message_id: int | None
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url) link buttons
    versions: dict[str, Version] = field(default_factory=dict)  # language -> message copied
    send_at: int | None = None  # when a scheduled broadcast goes (unix seconds)


# Leads who may receive a broadcast: gave an email, subscribed, not blocked.
_AUDIENCE = "FROM leads l WHERE l.email IS NOT NULL AND l.subscribed = 1 AND l.blocked_at IS NULL"


def segment_sql(segment: str, now: int = 0) -> tuple[str, tuple[object, ...]]:
    """The extra condition for a segment: `all`, `magnet:<id>`, `stage:<stage>`, `source:<s>`,
    `lang:<code>` (Telegram language `fr`, `fr-CA`...), `new:<days>` (email captured in the
    last days before `now`), or `unknown:<broadcast>` (its recipients whose delivery is unknown).
    """
    kind, _, value = segment.partition(":")
    if kind == "all":
        return "", ()
    if kind == "lang":
        return " AND (lower(l.language) = ? OR lower(l.language) LIKE ?)", (value, f"{value}-%")
    if kind == "new":
        return " AND l.email_at >= ?", (now - int(value) * 86400,)
    if kind == "magnet":
        return (
            " AND EXISTS(SELECT 1 FROM lead_magnets m WHERE m.user_id = l.user_id"
            " AND m.magnet_id = ? AND m.delivered_at IS NOT NULL)",
            (value,),
        )
    if kind == "stage":
        return " AND l.stage = ?", (value,)
    if kind == "source":
        return " AND l.first_source = ?", (value,)
    if kind == "unknown":
        return (
            " AND EXISTS(SELECT 1 FROM broadcast_recipients r WHERE r.broadcast_id = ?"
            " AND r.user_id = l.user_id AND r.state = 'unknown')",
            (int(value),),
        )
    raise ValueError(segment)


class Broadcasts(Repository):
    """Broadcasts: drafts, versions, segments, recipients claimed one by one."""

    async def create(
        self, owner_chat: int, text: str, segments: list[str], version: Version | None = None
    ) -> int:
        """A draft, with the segments offered to the owner (buttons refer to them by index) and
        its first version (the message copied to leads). The same owner's message a second
        time (its update handled again after a reply failed) gives back the draft it made."""
        async with self._tx() as db:
            if version is not None:
                made = await self._one(
                    "SELECT b.id FROM broadcasts b JOIN broadcast_versions v"
                    " ON v.broadcast_id = b.id WHERE b.owner_chat = ? AND b.state = 'draft'"
                    " AND v.from_chat = ? AND v.message_id = ?",
                    (owner_chat, version.from_chat, version.message_id),
                )
                if made is not None:
                    return int(made["id"])
            cur = await db.execute(
                "INSERT INTO broadcasts (owner_chat, text, segments, created_at)"
                " VALUES (?, ?, ?, ?)",
                (owner_chat, text, json.dumps(segments), self.now()),
            )
            broadcast_id = int(cur.lastrowid or 0)
            if version is not None:
                await self._put_version(db, broadcast_id, version)
        return broadcast_id

    @staticmethod
    async def _put_version(db: aiosqlite.Connection, broadcast_id: int, version: Version) -> None:
        await db.execute(
            "INSERT OR REPLACE INTO broadcast_versions"
            " (broadcast_id, language, from_chat, message_id, kind) VALUES (?, ?, ?, ?, ?)",
            (broadcast_id, version.language, version.from_chat, version.message_id, version.kind),
        )

    async def set_version(self, broadcast_id: int, version: Version) -> bool:
        """Add (or replace: the last one sent wins) a draft's version; False if not a draft."""
        async with self._tx() as db:
            row = await self._one(
                "SELECT 1 FROM broadcasts WHERE id = ? AND state = 'draft' /*FOR UPDATE*/",
                (broadcast_id,),
            )
            if row is None:
                return False
            await self._put_version(db, broadcast_id, version)
        return True

    async def add_link(self, broadcast_id: int, label: str, url: str, limit: int) -> bool:
        """Append a link button to a draft; False if not a draft or it already has `limit`.
        The same label and address already there is not added twice (an update handled again)."""
        async with self._tx() as db:
            row = await self._one(
                "SELECT buttons FROM broadcasts WHERE id = ? AND state = 'draft' /*FOR UPDATE*/",
                (broadcast_id,),
            )  # PostgreSQL: two owners adding links at once each add theirs
            links = json.loads(row["buttons"]) if row else None
            if links is not None and [label, url] in links:
                return True
            if links is None or len(links) >= limit:
                return False
            await db.execute(
                "UPDATE broadcasts SET buttons = ? WHERE id = ?",
                (json.dumps([*links, [label, url]]), broadcast_id),
            )
        return True

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """A broadcast by id."""
        row = await self._one(
            "SELECT id, owner_chat, text, segments, segment, state, paid, status_message_id,"
            " buttons, send_at FROM broadcasts WHERE id = ?",
            (broadcast_id,),
        )
        if row is None:
            return None
        values = dict(row)
        values["segments"] = json.loads(values["segments"])
        values["paid"] = bool(values["paid"])
        values["links"] = [(str(a), str(b)) for a, b in json.loads(values.pop("buttons"))]
        rows = await self._all(
            "SELECT language, from_chat, message_id, kind FROM broadcast_versions"
            " WHERE broadcast_id = ?",
            (broadcast_id,),
        )
        values["versions"] = {r["language"]: Version(**dict(r)) for r in rows}
        return Broadcast(**values)

    async def in_state(self, state: str) -> list[Broadcast]:
        """Broadcasts in a state (`sending` ones are resumed at start-up)."""
        rows = await self._all("SELECT id FROM broadcasts WHERE state = ? ORDER BY id", (state,))
        found = [await self.get(r["id"]) for r in rows]
        return [b for b in found if b is not None]

    async def resend_draft(self, broadcast_id: int, owner_chat: int) -> tuple[int, bool]:
        """The draft sending a broadcast again to its unknown recipients, created once:
        (its id, False); (id, True) when one already started (a double tap, another owner)."""
        segment = f"unknown:{broadcast_id}"
        async with self._tx() as db:
            # PostgreSQL: owners' taps in two processes take turns on the broadcast's row, so
            # the second one sees the draft the first created.
            await self._one("SELECT 1 FROM broadcasts WHERE id = ? /*FOR UPDATE*/", (broadcast_id,))
            rows = list(
                await db.execute_fetchall(
                    "SELECT id, state, started_at FROM broadcasts WHERE segment = ? ORDER BY id",
                    (segment,),
                )
            )
            started = [r["id"] for r in rows if r["started_at"] is not None]
            if started:
                return int(started[0]), True
            drafts = [r["id"] for r in rows if r["state"] == "draft"]
            if drafts:
                return int(drafts[0]), False
            cur = await db.execute(
                "INSERT INTO broadcasts"
                " (owner_chat, text, segments, segment, paid, buttons, created_at)"
                " SELECT ?, text, ?, ?, paid, buttons, ? FROM broadcasts WHERE id = ?",
                (owner_chat, json.dumps([segment]), segment, self.now(), broadcast_id),
            )
            again = int(cur.lastrowid or 0)
            await db.execute(  # the same messages, copied again
                "INSERT INTO broadcast_versions"
                " (broadcast_id, language, from_chat, message_id, kind)"
                " SELECT ?, language, from_chat, message_id, kind FROM broadcast_versions"
                " WHERE broadcast_id = ?",
                (again, broadcast_id),
            )
        return again, False

    async def choose_segment(self, broadcast_id: int, segment: str) -> None:
        """The owner picked a segment for a draft."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE broadcasts SET segment = ? WHERE id = ? AND state = 'draft'",
                (segment, broadcast_id),
            )

    async def audience_size(self, segment: str) -> int:
        """How many people a segment reaches now."""
        extra, params = segment_sql(segment, self.now())
        row = await self._one(f"SELECT COUNT(*) {_AUDIENCE}{extra}", params)
        return int(row[0]) if row else 0

    async def top_sources(self, limit: int) -> list[str]:
        """The first sources with the most subscribed leads."""
        rows = await self._all(
            f"SELECT l.first_source AS s, COUNT(*) AS n {_AUDIENCE} AND l.first_source IS NOT NULL"
            " GROUP BY l.first_source ORDER BY n DESC, s LIMIT ?",
            (limit,),
        )
        return [r["s"] for r in rows]

    async def start(self, broadcast_id: int, paid: bool, segment: str | None = None) -> int | None:
        """Draft -> sending for `segment` (default: the one last chosen), recipients written in
        the same transaction; None if not a draft. Two owners confirming: only the first starts.
        """
        async with self._tx() as db:
            row = await self._one(
                "SELECT segment FROM broadcasts WHERE id = ? AND state IN ('draft', 'scheduled',"
                " 'held') /*FOR UPDATE*/",
                (broadcast_id,),
            )  # PostgreSQL: a second start (another process) waits here, then finds it sending
            segment = segment or (row["segment"] if row else None)
            if row is None or segment is None:
                return None
            extra, params = segment_sql(segment, self.now())
            with off_loop():  # every lead of the segment: never on the loop's thread
                # PostgreSQL: each lead listed is held (KEY SHARE: updates go on, only a
                # DELETE waits) until COMMIT, so a /forget in another process either comes
                # first (the person is not listed) or removes the row once this one commits.
                cur = await db.execute(
                    "INSERT INTO broadcast_recipients (broadcast_id, user_id)"
                    f" SELECT ?, l.user_id {_AUDIENCE}{extra} /*FOR KEY SHARE OF l*/",
                    (broadcast_id, *params),
                )
            await db.execute(
                "UPDATE broadcasts SET state = 'sending', segment = ?, started_at = ?, paid = ?"
                " WHERE id = ?",
                (segment, self.now(), int(paid), broadcast_id),
            )
        return int(cur.rowcount)

    async def schedule(self, broadcast_id: int, send_at: int) -> bool:
        """A draft (or a scheduled or held broadcast: rescheduled) with a segment goes at
        `send_at`; False if it started, ended or has no segment. The last time set wins."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE broadcasts SET state = 'scheduled', send_at = ? WHERE id = ?"
                " AND state IN ('draft', 'scheduled', 'held') AND segment IS NOT NULL",
                (send_at, broadcast_id),
            )
        return bool(cur.rowcount)

    async def hold(self, broadcast_id: int) -> bool:
        """scheduled -> held (too late to send without asking); False if it was not scheduled."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE broadcasts SET state = 'held' WHERE id = ? AND state = 'scheduled'",
                (broadcast_id,),
            )
        return bool(cur.rowcount)

    async def due(self, now: int) -> list[Broadcast]:
        """Scheduled broadcasts whose time has come, soonest first."""
        rows = await self._all(
            "SELECT id FROM broadcasts WHERE state = 'scheduled' AND send_at <= ?"
            " ORDER BY send_at, id",
            (now,),
        )
        found = [await self.get(r["id"]) for r in rows]
        return [b for b in found if b is not None]

    async def set_status_message(self, broadcast_id: int, message_id: int, chat: int) -> None:
        """The owner's progress message, edited as the broadcast goes, and its chat (another
        owner may have confirmed it: the progress and the report go there)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE broadcasts SET status_message_id = ?, owner_chat = ? WHERE id = ?",
                (message_id, chat, broadcast_id),
            )

    async def finish(self, broadcast_id: int, state: str) -> bool:
        """draft/scheduled/held/sending -> done or cancelled; False if it had already ended."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE broadcasts SET state = ?, finished_at = ? WHERE id = ?"
                " AND state IN ('draft', 'scheduled', 'held', 'sending')",
                (state, self.now(), broadcast_id),
            )
        return bool(cur.rowcount)

    async def next_recipients(
        self, broadcast_id: int, now: int, limit: int, after: int | None = None
    ) -> list[tuple[int, str]]:
        """(user id, language) of recipients still to send to (due now), in id order, from
        the id `after` (the sender's cursor) on."""
        rows = await self._all(
            "SELECT r.user_id, COALESCE(l.language, '') AS language FROM broadcast_recipients r"
            " LEFT JOIN leads l ON l.user_id = r.user_id WHERE r.broadcast_id = ?"
            " AND r.state = 'pending' AND r.next_try_at <= ? AND r.user_id > ?"
            " ORDER BY r.user_id LIMIT ?",
            (broadcast_id, now, -(2**63) if after is None else after, limit),
        )
        return [(r["user_id"], r["language"]) for r in rows]

    async def due_retries(self, broadcast_id: int, now: int, limit: int) -> list[tuple[int, str]]:
        """(user id, language) of recipients tried before and due again (a 5xx, a 429), soonest
        first: they follow their backoff wherever the sender's cursor is."""
        rows = await self._all(
            "SELECT r.user_id, COALESCE(l.language, '') AS language FROM broadcast_recipients r"
            " LEFT JOIN leads l ON l.user_id = r.user_id WHERE r.broadcast_id = ?"
            " AND r.state = 'pending' AND r.next_try_at <= ? AND r.attempts > 0"
            " ORDER BY r.next_try_at, r.user_id LIMIT ?",
            (broadcast_id, now, limit),
        )
        return [(r["user_id"], r["language"]) for r in rows]

    async def next_retry_at(self, broadcast_id: int) -> int | None:
        """When the next waiting recipient is due, if any is pending."""
        row = await self._one(
            "SELECT MIN(next_try_at) FROM broadcast_recipients WHERE broadcast_id = ?"
            " AND state = 'pending'",
            (broadcast_id,),
        )
        return int(row[0]) if row and row[0] is not None else None

    async def claim_recipient(self, broadcast_id: int, user_id: int) -> int:
        """pending -> sending, committed before the message leaves (at most once).

        Returns the attempt number, 0 if the recipient was not pending.
        """
        rows = await self._write1(
            "UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1"
            " WHERE broadcast_id = ? AND user_id = ? AND state = 'pending' RETURNING attempts",
            (broadcast_id, user_id),
        )
        return int(rows[0][0]) if rows else 0

    async def recipient_done(
        self, broadcast_id: int, user_id: int, state: str, retry_at: int | None = None
    ) -> None:
        """Record the outcome (sent, blocked, gone, failed), or with `retry_at` put it back."""
        if retry_at is not None:
            await self._write1(
                "UPDATE broadcast_recipients SET state = 'pending', next_try_at = ?"
                " WHERE broadcast_id = ? AND user_id = ? AND state = 'sending'",
                (retry_at, broadcast_id, user_id),
            )
        else:
            await self._write1(
                "UPDATE broadcast_recipients SET state = ?"
                " WHERE broadcast_id = ? AND user_id = ? AND state = 'sending'",
                (state, broadcast_id, user_id),
            )

    async def recover_recipients(self, broadcast_id: int) -> int:
        """At start-up: recipients in flight when the process died become `unknown`, not resent."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE broadcast_recipients SET state = 'unknown'"
                " WHERE broadcast_id = ? AND state = 'sending'",
                (broadcast_id,),
            )
        return int(cur.rowcount)

    async def progress(self, broadcast_id: int) -> dict[str, int]:
        """Recipients per state, plus `stop_clicks` (the stop button under this broadcast)."""
        rows = await self._all(
            "SELECT state, COUNT(*) AS n FROM broadcast_recipients WHERE broadcast_id = ?"
            " GROUP BY state",
            (broadcast_id,),
        )
        counts = {r["state"]: int(r["n"]) for r in rows}
        clicks = await self._one(
            "SELECT COUNT(DISTINCT person) FROM events WHERE kind = ? AND value = ?",
            (Event.BROADCAST_STOP.value, str(broadcast_id)),
        )
        counts["stop_clicks"] = int(clicks[0]) if clicks else 0
        return counts

    async def progress_by_language(self, broadcast_id: int) -> list[tuple[str, str, int]]:
        """(recipient's Telegram language, state or `stop_clicks`, count) for the report."""
        rows = await self._all(
            "SELECT COALESCE(l.language, '') AS language, r.state, COUNT(*) AS n"
            " FROM broadcast_recipients r LEFT JOIN leads l ON l.user_id = r.user_id"
            " WHERE r.broadcast_id = ? GROUP BY 1, 2",
            (broadcast_id,),
        )
        clicks = await self._all(
            "SELECT COALESCE(l.language, '') AS language, 'stop_clicks' AS state,"
            " COUNT(DISTINCT e.person) AS n FROM events e LEFT JOIN leads l"
            " ON l.user_id = e.person WHERE e.kind = ? AND e.value = ? GROUP BY 1",
            (Event.BROADCAST_STOP.value, str(broadcast_id)),
        )
        return [(r["language"], r["state"], int(r["n"])) for r in [*rows, *clicks]]

    async def stop_click(self, user_id: int, broadcast_id: int, update_id: int | None) -> None:
        """Count a click on a broadcast's stop button, only from someone it was sent to."""
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            # Anyone can forge `stp:<id>`: a click counts only from a (maybe) delivered copy.
            sent = await self._one(
                "SELECT 1 FROM broadcast_recipients WHERE broadcast_id = ? AND user_id = ?"
                " AND state IN ('sent', 'unknown')",
                (broadcast_id, user_id),
            )
            if sent is not None:
                await self._event(
                    db, user_id, Event.BROADCAST_STOP, value=str(broadcast_id), update_id=update_id
                )
