"""Ready to talk: requests, messages to the team, owners' statuses, the score's facts."""

from __future__ import annotations

from bot.funnel.scoring import Facts
from bot.outbox.events import HookType
from bot.store.core import Event
from bot.store.repository import Repository


class Ready(Repository):
    """Ready to talk: requests, messages to the team, owners' statuses, the score's facts."""

    async def mark_hot(self, user_id: int, kind: Event, why: str, update_id: int | None) -> bool:
        """A plan or contact request: ready to talk. True if it is this person's first of `kind`.

        Plan requests are logged once per person; every contact message is logged. The reason
        kept is the first one (what made them hot), never overwritten by later requests.
        """
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            was = await self._one("SELECT hot_at FROM leads WHERE user_id = ?", (user_id,))
            seen = await self._one(
                "SELECT update_id FROM events WHERE person = ? AND kind = ? ORDER BY id LIMIT 1",
                (user_id, kind.value),
            )
            if seen is not None and update_id is not None and seen["update_id"] == update_id:
                seen = None  # this very update, replayed after a crash: still the first request
            if seen is None or kind is Event.CONTACT:
                await self._event(db, user_id, kind, update_id=update_id)
            await db.execute(
                "UPDATE leads SET hot_at = COALESCE(hot_at, ?),"
                " hot_reason = COALESCE(hot_reason, ?), updated_at = ?"
                " WHERE user_id = ?",
                (now, why, now, user_id),
            )
            await self._refresh_stage(db, user_id)
            if was is not None and was["hot_at"] is None:
                await self._hook(db, user_id, HookType.READY, {"reason": kind.value})
        return seen is None

    async def add_message(self, user_id: int, kind: str, text: str, update_id: int | None) -> None:
        """Keep what a person wrote to the business (a plan goal, a contact message), once."""
        async with self._tx() as db:
            await db.execute(
                "INSERT OR IGNORE INTO messages (user_id, kind, text, at, update_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (user_id, kind, text, self.now(), update_id),
            )

    async def messages(self, user_id: int) -> list[tuple[str, str, int]]:
        """(kind, text, time) of what a person wrote to the business, oldest first."""
        rows = await self._all(
            "SELECT kind, text, at FROM messages WHERE user_id = ? ORDER BY id", (user_id,)
        )
        return [(r["kind"], r["text"], r["at"]) for r in rows]

    async def mark_owner_status(self, user_id: int, kind: Event, update_id: int | None) -> bool:
        """An owner marks a lead contacted or won; True the first time."""
        column = {Event.CONTACTED: "contacted_at", Event.WON: "won_at"}[kind]
        now = self.now()
        async with self._tx() as db:
            cur = await db.execute(
                f"UPDATE leads SET {column} = ?, updated_at = ?"
                f" WHERE user_id = ? AND {column} IS NULL",
                (now, now, user_id),
            )
            if cur.rowcount:
                await self._event(db, user_id, kind, update_id=update_id)
                await self._refresh_stage(db, user_id)
                if kind is Event.WON:
                    await self._hook(db, user_id, HookType.WON)
        return bool(cur.rowcount)

    async def add_relay(self, owner_chat: int, message_id: int, user_id: int) -> None:
        """This message in an owner's chat is about that lead (replies go to them)."""
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO relays (owner_chat, message_id, user_id) VALUES (?, ?, ?)",
                (owner_chat, message_id, user_id),
            )

    async def relays_of(self, user_id: int) -> list[tuple[int, int]]:
        """(owner chat, message id) of every bot message in owners' chats about this person."""
        rows = await self._all(
            "SELECT owner_chat, message_id FROM relays WHERE user_id = ?", (user_id,)
        )
        return [(r["owner_chat"], r["message_id"]) for r in rows]

    async def score_facts(self, user_id: int) -> Facts:
        """Everything the lead score is computed from, in one query."""
        row = await self._one(
            "SELECT l.email IS NOT NULL AS has_email,"
            " (SELECT COUNT(*) FROM lead_magnets m WHERE m.user_id = l.user_id"
            "  AND m.answer_fit = 1) AS fit,"
            " (SELECT COUNT(*) FROM lead_magnets m WHERE m.user_id = l.user_id"
            "  AND m.answer_fit = 0) AS not_fit,"
            " (SELECT COUNT(*) FROM events e WHERE e.person = l.user_id AND e.kind = 'tip_click')"
            "  AS clicks,"
            " EXISTS(SELECT 1 FROM events e WHERE e.person = l.user_id AND e.kind = 'plan')"
            "  AS plan,"
            " EXISTS(SELECT 1 FROM events e WHERE e.person = l.user_id AND e.kind = 'contact')"
            "  AS contact,"
            " (SELECT COUNT(*) FROM lead_magnets m WHERE m.user_id = l.user_id"
            "  AND m.delivered_at IS NOT NULL) AS delivered"
            " FROM leads l WHERE l.user_id = ?",
            (user_id,),
        )
        if row is None:
            return Facts(False, 0, 0, 0, False, False, 0)
        return Facts(
            has_email=bool(row["has_email"]),
            fit_answers=int(row["fit"]),
            not_fit_answers=int(row["not_fit"]),
            tip_clicks=int(row["clicks"]),
            plan_requested=bool(row["plan"]),
            contacted_us=bool(row["contact"]),
            magnets_delivered=int(row["delivered"]),
        )
