"""Store methods for nurture: the tip schedule, clicks, ready-to-talk requests, conversations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import aiosqlite

from bot.nurture.schedule import resumed_due
from bot.store.core import Event
from bot.store.repository import Repository


class TipState(StrEnum):
    """Where a scheduled tip is; `sending` is claimed and in flight (at most once)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    UNKNOWN = "unknown"  # was in flight when the process died: maybe delivered, never resent
    CANCELLED = "cancelled"  # the person left (stop, block); back to pending if they opt in
    FAILED = "failed"  # gave up (blocked, gone, rejected, too many errors)
    ENDED = "ended"  # the person became ready to talk: nurture ended (never resumed)


NextTip = tuple[str, int] | None  # (tip id, due at) of the tip that follows, if any


@dataclass(frozen=True)
class DueTip:
    """A tip due now, with what is needed to send it."""

    user_id: int
    magnet_id: str
    tip_id: str
    due_at: int
    attempts: int
    language: str
    timezone: str | None


class Tips(Repository):
    """The tip schedule: due tips claimed one by one, their outcomes, clicks."""

    async def schedule(self, user_id: int, magnet_id: str, tip_id: str, due_at: int) -> bool:
        """Schedule a tip; False if this (person, magnet, tip) was ever scheduled already."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO tips (user_id, magnet_id, tip_id, due_at)"
                " VALUES (?, ?, ?, ?)",
                (user_id, magnet_id, tip_id, due_at),
            )
        return bool(cur.rowcount)

    async def scheduled_ids(self, user_id: int, magnet_id: str) -> set[str]:
        """Tips of a magnet this person has in the schedule, whatever their state."""
        rows = await self._all(
            "SELECT tip_id FROM tips WHERE user_id = ? AND magnet_id = ?", (user_id, magnet_id)
        )
        return {r["tip_id"] for r in rows}

    async def due(self, now: int, limit: int) -> list[DueTip]:
        """Pending tips due by `now` for people still subscribed, oldest first."""
        rows = await self._all(
            "SELECT t.user_id, t.magnet_id, t.tip_id, t.due_at, t.attempts, l.language, l.timezone"
            " FROM tips t JOIN leads l ON l.user_id = t.user_id"
            " WHERE t.state = 'pending' AND t.due_at <= ? AND l.subscribed = 1"
            " AND l.blocked_at IS NULL ORDER BY t.due_at LIMIT ?",
            (now, limit),
        )
        return [DueTip(**dict(r)) for r in rows]

    async def claim(self, tip: DueTip) -> bool:
        """Mark a tip in flight before sending it; False if it is no longer pending."""
        claimed = await self._write1(
            "UPDATE tips SET state = 'sending', attempts = attempts + 1"
            " WHERE user_id = ? AND magnet_id = ? AND tip_id = ? AND state = 'pending'"
            " RETURNING attempts",
            (tip.user_id, tip.magnet_id, tip.tip_id),
        )
        return bool(claimed)

    @staticmethod
    async def then(db: aiosqlite.Connection, user_id: int, magnet_id: str, then: NextTip) -> None:
        """Schedule the next tip in the caller's transaction, so no crash can end a sequence."""
        if then is not None:
            await db.execute(
                "INSERT OR IGNORE INTO tips (user_id, magnet_id, tip_id, due_at)"
                " VALUES (?, ?, ?, ?)",
                (user_id, magnet_id, *then),
            )

    async def sent(self, tip: DueTip, message_id: int, then: NextTip) -> None:
        """Telegram accepted the tip; the next one (if any) is scheduled in the same transaction."""
        await self._tip_outcome(tip, "sent", None, then, message_id)

    async def unknown(self, tip: DueTip, then: NextTip) -> None:
        """Maybe delivered (in flight at a crash, or timed out): counted, never resent."""
        await self._tip_outcome(tip, "unknown", Event.TIP_UNKNOWN, then)

    async def failed(self, tip: DueTip, then: NextTip) -> None:
        """Given up (refused, gone, too many errors); the sequence goes on with `then`."""
        await self._tip_outcome(tip, "failed", None, then)

    async def retry(self, tip: DueTip, retry_at: int) -> None:
        """Certainly not delivered (a 5xx, a refused connection, a 429): pending again."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE tips SET state = 'pending', due_at = ?"
                " WHERE user_id = ? AND magnet_id = ? AND tip_id = ? AND state = 'sending'",
                (retry_at, tip.user_id, tip.magnet_id, tip.tip_id),
            )

    async def _tip_outcome(
        self, tip: DueTip, state: str, event: Event | None, then: NextTip, message_id: int = 0
    ) -> None:
        async with self._tx() as db:
            await self._store._lock(db, tip.user_id)
            # Only a tip in flight: one outcome each, even when a process taking over marks it
            # unknown while the old sender still records what Telegram said.
            cur = await db.execute(
                "UPDATE tips SET state = ?, sent_at = ?, message_id = ?"
                " WHERE user_id = ? AND magnet_id = ? AND tip_id = ? AND state = 'sending'",
                (state, self.now(), message_id or None, tip.user_id, tip.magnet_id, tip.tip_id),
            )
            if not cur.rowcount:  # erased meanwhile, or its outcome already recorded
                return
            if state == "sent":
                event = Event.TIP_SENT
            if event is not None:
                await self._event(db, tip.user_id, event, magnet_id=tip.magnet_id, value=tip.tip_id)
            await self.then(db, tip.user_id, tip.magnet_id, then)
            await self._refresh_stage(db, tip.user_id)

    async def postpone(self, tip: DueTip, due_at: int) -> None:
        """Outside sending hours: wait for the next opening (the delay-based time is kept)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE tips SET postponed_from = COALESCE(postponed_from, due_at), due_at = ?"
                " WHERE user_id = ? AND magnet_id = ? AND tip_id = ? AND state = 'pending'",
                (due_at, tip.user_id, tip.magnet_id, tip.tip_id),
            )

    async def unpostpone(self) -> int:
        """At start-up: tips waiting for sending hours are due at their delay-based time again,
        so the hours (and time zone) now configured decide their opening, not the old ones."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE tips SET due_at = postponed_from, postponed_from = NULL"
                " WHERE state = 'pending' AND postponed_from IS NOT NULL"
            )
        return int(cur.rowcount)

    async def hot_with_tips_left(self) -> list[int]:
        """People ready to talk who still have tips waiting (pending, or paused by /stop)."""
        rows = await self._all(
            "SELECT DISTINCT t.user_id FROM tips t JOIN leads l ON l.user_id = t.user_id"
            " WHERE t.state IN ('pending', 'cancelled') AND l.hot_at IS NOT NULL"
        )
        return [int(r["user_id"]) for r in rows]

    async def live(self, user_id: int) -> list[tuple[str, str, str, int]]:
        """(magnet, tip, state, due at) of a person's tips not sent yet, or in flight."""
        rows = await self._all(
            "SELECT magnet_id, tip_id, state, due_at FROM tips WHERE user_id = ?"
            " AND state IN ('pending', 'cancelled', 'sending')",
            (user_id,),
        )
        return [(r["magnet_id"], r["tip_id"], r["state"], r["due_at"]) for r in rows]

    async def end(self, user_id: int, magnet_id: str, tip_id: str, then: NextTip) -> bool:
        """Ready to talk: a tip not sent yet is dropped; `then` (a tip kept for people ready to
        talk) takes its place, paused like it if the person had stopped. False if it went."""
        key = (user_id, magnet_id, tip_id)
        async with self._tx() as db:
            # PostgreSQL: the tip's row held, so the sender cannot claim it between the two
            # statements below (else `then` would be scheduled beside a tip that still goes).
            await self._one(
                "SELECT 1 FROM tips WHERE user_id = ? AND magnet_id = ? AND tip_id = ?"
                " /*FOR UPDATE*/",
                key,
            )
            if then is not None:
                await db.execute(
                    "INSERT OR IGNORE INTO tips (user_id, magnet_id, tip_id, due_at, state)"
                    " SELECT user_id, magnet_id, ?, ?, state FROM tips WHERE user_id = ?"
                    " AND magnet_id = ? AND tip_id = ? AND state IN ('pending', 'cancelled')",
                    (*then, *key),
                )
            cur = await db.execute(
                "UPDATE tips SET state = 'ended' WHERE user_id = ? AND magnet_id = ?"
                " AND tip_id = ? AND state IN ('pending', 'cancelled')",
                key,
            )
        return bool(cur.rowcount)

    async def end_ahead(self, user_id: int, magnet_id: str, tip_id: str, then: NextTip) -> bool:
        """Ready to talk while a tip is in flight (or kept): the tip its sender may have chosen
        to follow it is ended before it is scheduled, and `then` (a kept one) is scheduled."""
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO tips (user_id, magnet_id, tip_id, due_at, state)"
                " VALUES (?, ?, ?, ?, 'ended')",
                (user_id, magnet_id, tip_id, self.now()),
            )
            if cur.rowcount:
                await self.then(db, user_id, magnet_id, then)
        return bool(cur.rowcount)

    async def in_flight(self) -> list[DueTip]:
        """Tips marked `sending`: at start-up, ones a dead process was sending."""
        rows = await self._all(
            "SELECT t.user_id, t.magnet_id, t.tip_id, t.due_at, t.attempts,"
            " COALESCE(l.language, '') AS language, l.timezone"
            " FROM tips t LEFT JOIN leads l ON l.user_id = t.user_id WHERE t.state = 'sending'"
        )
        return [DueTip(**dict(r)) for r in rows]

    async def received(self, user_id: int) -> dict[str, int]:
        """Tips a person got (or may have got), per magnet."""
        rows = await self._all(
            "SELECT magnet_id, COUNT(*) AS n FROM tips WHERE user_id = ?"
            " AND state IN ('sent', 'unknown') GROUP BY magnet_id",
            (user_id,),
        )
        return {r["magnet_id"]: int(r["n"]) for r in rows}

    async def counts(self) -> dict[str, int]:
        """How many tips are in each state (for owners and tests)."""
        rows = await self._all("SELECT state, COUNT(*) AS n FROM tips GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def was_sent(self, user_id: int, magnet_id: str, tip_id: str) -> bool:
        """Whether this person was (or may have been) sent this tip."""
        row = await self._one(
            "SELECT 1 FROM tips WHERE user_id = ? AND magnet_id = ? AND tip_id = ?"
            " AND state IN ('sent', 'unknown')",
            (user_id, magnet_id, tip_id),
        )
        return row is not None

    @staticmethod
    async def pause(db: aiosqlite.Connection, user_id: int, paused: bool, due_at: int) -> None:
        """Cancel a person's pending tips (they left), or put cancelled ones back (came back)."""
        if paused:
            await db.execute(
                "UPDATE tips SET state = 'cancelled' WHERE user_id = ? AND state = 'pending'",
                (user_id,),
            )
            # Queued broadcasts too: someone who left gets nothing more, even if already listed.
            await db.execute(
                "UPDATE broadcast_recipients SET state = 'skipped'"
                " WHERE user_id = ? AND state = 'pending'",
                (user_id,),
            )
        else:  # each resumed tip keeps its delay: no burst right after the opt-in
            left = await db.execute_fetchall(
                "SELECT MAX(at) FROM events WHERE person = ?"
                " AND kind IN ('unsubscribe', 'blocked')",
                (user_id,),
            )
            left_at = next(iter(left))[0] or due_at
            rows = await db.execute_fetchall(
                "SELECT t.magnet_id, t.tip_id, COALESCE(t.postponed_from, t.due_at) AS due,"
                " COALESCE((SELECT MAX(p.sent_at) FROM tips p WHERE p.user_id = t.user_id"
                "   AND p.magnet_id = t.magnet_id AND p.sent_at IS NOT NULL),"
                "  (SELECT m.delivered_at FROM lead_magnets m WHERE m.user_id = t.user_id"
                "   AND m.magnet_id = t.magnet_id)) AS previous"
                " FROM tips t WHERE t.user_id = ? AND t.state = 'cancelled'",
                (user_id,),
            )
            for magnet_id, tip_id, due, previous in rows:
                delay = max(0, due - (previous if previous is not None else due))
                await db.execute(
                    "UPDATE tips SET state = 'pending', postponed_from = NULL, due_at = ?"
                    " WHERE user_id = ? AND magnet_id = ? AND tip_id = ?",
                    (resumed_due(due, left_at, due_at, delay), user_id, magnet_id, tip_id),
                )

    async def record_click(
        self, user_id: int, magnet_id: str, tip_id: str, update_id: int | None
    ) -> bool:
        """A tip's button pressed; True the first time for this (person, tip).

        Only a tip this person was sent counts: button data can be forged.
        """
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            row = await self._one(
                "SELECT 1 FROM events WHERE person = ? AND kind = ? AND magnet_id = ?"
                " AND value = ?",
                (user_id, Event.TIP_CLICK.value, magnet_id, tip_id),
            )
            if row is None and not await self.was_sent(user_id, magnet_id, tip_id):
                return False
            if row is None:
                await self._event(
                    db, user_id, Event.TIP_CLICK, magnet_id=magnet_id, value=tip_id,
                    update_id=update_id,
                )  # fmt: skip
        return row is None
