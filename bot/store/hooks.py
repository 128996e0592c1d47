"""Store methods for the webhook outbox (events for other tools): queue, heads, outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.repository import Repository


@dataclass(frozen=True)
class Hook:
    """One event waiting for one URL."""

    id: int
    event_id: str
    url: str
    lead_key: int
    type: str
    body: str
    attempts: int
    created_at: int


# The oldest pending event of each lead is the only one that may go: in order per lead.
_HEADS = """
    SELECT h.id, h.event_id, h.url, h.lead_key, h.type, h.body, h.attempts, h.created_at
    FROM hooks h
    WHERE h.state = 'pending' AND h.url = ? AND h.next_at <= ? AND h.id = (
        SELECT MIN(p.id) FROM hooks p
        WHERE p.url = h.url AND p.lead_key = h.lead_key AND p.state = 'pending')
    ORDER BY h.id LIMIT ?
"""


# A finished erase event keeps no link to the person it was about.
_UNLINK = "CASE WHEN type = 'lead.erased' THEN 0 ELSE lead_key END"


class Hooks(Repository):
    """The webhook outbox (events for other tools): queue, heads, outcomes."""

    async def due(self, url: str, limit: int = 50) -> list[Hook]:
        """Events that may be posted to `url` now: the oldest pending one of each lead."""
        rows = await self._all(_HEADS, (url, self.now(), limit))
        return [Hook(**dict(r)) for r in rows]

    async def pending_body(self, hook: Hook) -> str | None:
        """The body to post now: None if the event is no longer pending (an erasure dropped it
        while it waited its turn), so a stale copy in memory is never sent."""
        row = await self._one(
            "SELECT body FROM hooks WHERE id = ? AND event_id = ? AND state = 'pending'",
            (hook.id, hook.event_id),
        )
        return row["body"] if row else None

    async def sent(self, hook: Hook) -> None:
        """The URL took it (2xx): done, and the personal data in the body is dropped; an erase
        event also loses its link to the person."""
        await self._write1(
            "UPDATE hooks SET state = 'sent', body = NULL, sent_at = ?, error = NULL,"
            f" lead_key = {_UNLINK} WHERE id = ? AND event_id = ? AND state = 'pending'",
            (self.now(), hook.id, hook.event_id),
        )

    async def retry(self, hook: Hook, next_at: int, error: str) -> None:
        """A failed attempt: try again at `next_at`."""
        await self._write1(
            "UPDATE hooks SET attempts = attempts + 1, next_at = ?, error = ?"
            " WHERE id = ? AND event_id = ? AND state = 'pending'",
            (next_at, error[:500], hook.id, hook.event_id),
        )

    async def failed(self, hook: Hook, error: str) -> bool:
        """Given up after the retry window: kept as a record (without its body) for owners."""
        rows = await self._write1(
            "UPDATE hooks SET state = 'failed', attempts = attempts + 1, body = NULL, error = ?,"
            f" lead_key = {_UNLINK} WHERE id = ? AND event_id = ? AND state = 'pending'"
            " RETURNING id",
            (error[:500], hook.id, hook.event_id),
        )
        return bool(rows)

    async def counts(self) -> dict[str, int]:
        """How many (event, URL) rows are in each state."""
        rows = await self._all("SELECT state, COUNT(*) AS n FROM hooks GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def waiting(self) -> dict[str, int]:
        """Pending events per URL (/stats)."""
        rows = await self._all(
            "SELECT url, COUNT(*) AS n FROM hooks WHERE state = 'pending' GROUP BY url"
        )
        return {r["url"]: int(r["n"]) for r in rows}

    async def events(self, url: str | None = None) -> list[tuple[str, str, str]]:
        """(event id, type, state) in queue order, for one URL or all (checks and tests)."""
        sql = "SELECT event_id, type, state FROM hooks"
        rows = await (
            self._all(sql + " WHERE url = ? ORDER BY id", (url,))
            if url
            else self._all(sql + " ORDER BY id")
        )
        return [(r["event_id"], r["type"], r["state"]) for r in rows]

    async def body(self, event_id: str) -> str | None:
        """The stored body of an event (None once delivered, failed or erased)."""
        row = await self._one("SELECT body FROM hooks WHERE event_id = ? LIMIT 1", (event_id,))
        return row["body"] if row else None

    async def retire(self, urls: tuple[str, ...]) -> int:
        """Pending events for URLs no longer in the settings: given up (bodies dropped)."""
        kept = f" AND url NOT IN ({', '.join('?' for _ in urls)})" if urls else ""
        rows = await self._write1(
            "UPDATE hooks SET state = 'failed', body = NULL,"
            f" error = 'URL removed from CRM_WEBHOOK_URLS', lead_key = {_UNLINK}"
            f" WHERE state = 'pending'{kept} RETURNING id",
            urls,
        )
        return len(rows)

    async def prune(self, keep_seconds: int = 30 * 86400) -> int:
        """Forget delivered and given-up events older than `keep_seconds`."""
        rows = await self._write1(
            "DELETE FROM hooks WHERE state IN ('sent', 'failed') AND created_at < ? RETURNING id",
            (self.now() - keep_seconds,),
        )
        return len(rows)

    async def urls_for(self, user_id: int) -> tuple[str, ...]:
        """The URLs that should hear of this person's erasure: all of them if anything that
        makes an event ever happened to the person (an email, a plan or contact request, won,
        /stop), else none: a visitor who never did anything is not announced by leaving."""
        if not self.hook_urls:
            return ()
        known = await self._one(
            "SELECT 1 FROM leads WHERE user_id = ? AND (email_at IS NOT NULL"
            " OR hot_at IS NOT NULL OR won_at IS NOT NULL OR unsubscribed_at IS NOT NULL)",
            (user_id,),
        )
        return self.hook_urls if known else ()

    @staticmethod
    async def forget(db: aiosqlite.Connection, user_id: int) -> None:
        """An erasure: undelivered events about this person never leave, and the rows of
        delivered ones (which link the Telegram id to event times) are deleted too."""
        await db.execute("DELETE FROM hooks WHERE lead_key = ?", (user_id,))
