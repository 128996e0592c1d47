"""Store methods for the owner console: lead lists and the CSV export rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiosqlite

from bot.store.connection import off_loop
from bot.store.repository import Repository

# Every person who ever started (erased ones under their anonymous number, without personal
# data), with the same event-log facts /stats counts, so both always agree (owners left out
# of both: see StoreBase.set_owners).
_EXPORT = """
SELECT s.person, s.at AS started_at, s.source AS first_source,
    l.first_name, l.last_name, l.username, l.email, l.email_verified_at, l.language, l.stage,
    (SELECT MIN(at) FROM events e WHERE e.person = s.person AND e.kind = 'lead') AS lead_at,
    (SELECT group_concat(magnet_id, ';') FROM events e
        WHERE e.person = s.person AND e.kind = 'download' AND e.value = 'first') AS magnets,
    (SELECT group_concat(magnet_id || ':' || answer_id, ';') FROM lead_magnets m
        WHERE m.user_id = s.person AND m.answer_id IS NOT NULL) AS answers,
    (SELECT COUNT(*) FROM events e WHERE e.person = s.person AND e.kind = 'answer'
        AND e.value = 'fit') AS fit_answers,
    (SELECT COUNT(*) FROM events e WHERE e.person = s.person AND e.kind = 'answer'
        AND e.value = 'not_fit') AS not_fit_answers,
    (SELECT COUNT(*) FROM events e WHERE e.person = s.person AND e.kind = 'tip_sent') AS tips_sent,
    (SELECT COUNT(*) FROM events e WHERE e.person = s.person AND e.kind = 'tip_unknown')
        AS tips_unknown,
    (SELECT COUNT(*) FROM events e WHERE e.person = s.person AND e.kind = 'tip_click')
        AS tip_clicks,
    (SELECT MIN(at) FROM events e WHERE e.person = s.person AND e.kind = 'plan') AS plan_at,
    (SELECT MIN(at) FROM events e WHERE e.person = s.person AND e.kind = 'contact') AS contact_at,
    (SELECT MIN(at) FROM events e WHERE e.person = s.person AND e.kind = 'won') AS won_at,
    (SELECT MAX(at) FROM events e WHERE e.person = s.person AND e.kind = 'unsubscribe')
        AS unsubscribed_at,
    (SELECT MAX(at) FROM events e WHERE e.person = s.person AND e.kind = 'blocked') AS blocked_at,
    l.subscribed, l.unsubscribed_at AS still_unsubscribed, l.blocked_at AS still_blocked,
    (SELECT MIN(at) FROM events e WHERE e.person = s.person AND e.kind = 'erase') AS erased_at,
    c.last_in_at AS last_message_at, c.waiting_since
FROM prospect_events s LEFT JOIN leads l ON l.user_id = s.person
    LEFT JOIN conversations c ON c.person = s.person AND c.messages > 0
WHERE s.kind = 'start'
ORDER BY s.at, s.person
"""


_LISTS = {
    # list name -> (condition, order); all served by an index or a short scan of hot/won leads
    "hot": ("hot_at IS NOT NULL AND won_at IS NULL", "hot_at DESC"),
    "recent": ("email_at IS NOT NULL", "email_at DESC"),
    "won": ("won_at IS NOT NULL", "won_at DESC"),
}
LIST_NAMES = tuple(_LISTS)


class Owner(Repository):
    """The owner console: lead lists, the CSV export rows, mentions of people."""

    async def list_leads(self, name: str, offset: int, limit: int) -> tuple[list[Any], int]:
        """A page of (user_id, first name, last name, username, email, stage) and the total."""
        where, order = _LISTS[name]
        total = await self._one(f"SELECT COUNT(*) FROM leads WHERE {where}")
        rows = await self._all(
            f"SELECT user_id, first_name, last_name, username, email, stage FROM leads"
            f" WHERE {where} ORDER BY {order}, user_id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return rows, int(total[0]) if total else 0

    async def export_rows(self) -> AsyncIterator[dict[str, Any]]:
        """One dict per person, oldest first."""
        # Every lead: in aiosqlite's thread, a chunk at a time, the loop free in between.
        with off_loop():
            cursor = await self._db.execute(_EXPORT)
        try:
            while rows := await _fetch(cursor):
                for row in rows:
                    yield dict(row)
        finally:
            with off_loop():
                await cursor.close()

    async def set_mentions(
        self, owner_chat: int, message_id: int, user_ids: list[int], redraw: str | None = None
    ) -> None:
        """The leads a bot message in an owner's chat names (replacing what it named before).

        `redraw` says how to draw the message again without an erased lead (a /leads page);
        None: the message is replaced by the erased notice.
        """
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM mentions WHERE owner_chat = ? AND message_id = ?",
                (owner_chat, message_id),
            )
            await db.executemany(  # from leads: someone erased meanwhile is not named any more
                "INSERT OR REPLACE INTO mentions (owner_chat, message_id, user_id, redraw)"
                " SELECT ?, ?, user_id, ? FROM leads WHERE user_id = ?",
                [(owner_chat, message_id, redraw, user) for user in user_ids],
            )

    async def mentions_of(self, user_id: int) -> list[tuple[int, int, str | None]]:
        """(owner chat, message id, redraw) of every bot message that names this lead."""
        rows = await self._all(
            "SELECT owner_chat, message_id, redraw FROM mentions WHERE user_id = ?", (user_id,)
        )
        return [(r["owner_chat"], r["message_id"], r["redraw"]) for r in rows]


async def _fetch(cursor: aiosqlite.Cursor) -> list[aiosqlite.Row]:
    """The next rows of a long query, read in aiosqlite's thread."""
    with off_loop():
        return list(await cursor.fetchmany(64))
