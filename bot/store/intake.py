"""The durable intake of updates: kept before Telegram forgets them, marked done once."""

from __future__ import annotations

from collections.abc import Iterable

from bot.store.repository import Repository

INBOX_CHANNEL = "aimant_inbox"  # PostgreSQL: every process's dispatcher hears of new updates
NOTIFY_MAX = 4000  # characters of persons' keys in one NOTIFY (a getUpdates batch: ~1,500)


def person_key(user_id: int | None, update_id: int) -> int:
    """Whose turn an update waits for: its sender's id, or (no sender) minus its own id."""
    return user_id if user_id is not None else -update_id


class Intake(Repository):
    """The durable intake of updates: kept before Telegram forgets them, marked done once."""

    async def save(self, updates: Iterable[tuple[int, int | None, str]]) -> None:
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
            if self._store.dialect == "postgresql":  # delivered at COMMIT, to every process
                keys = ",".join(sorted({str(person_key(user, uid)) for uid, user, _, _ in rows}))
                if len(keys) > NOTIFY_MAX:  # past PostgreSQL's 8000 bytes: "look at it all"
                    keys = ""
                await db.execute(f"SELECT pg_notify('{INBOX_CHANNEL}', ?)", (keys,))

    async def pending(self) -> list[str]:
        """JSON of updates received but not yet handled, oldest first."""
        rows = await self._all(
            "SELECT payload FROM inbox WHERE done_at IS NULL AND payload IS NOT NULL"
            " ORDER BY update_id"
        )
        return [row["payload"] for row in rows]

    async def pending_count(self) -> int:
        """How many updates wait to be handled (a COUNT: /health must stay cheap)."""
        row = await self._one(
            "SELECT COUNT(*) AS n FROM inbox WHERE done_at IS NULL AND payload IS NOT NULL"
        )
        return int(row["n"]) if row is not None else 0

    async def is_done(self, update_id: int) -> bool:
        """Whether this update was handled already."""
        row = await self._one("SELECT done_at FROM inbox WHERE update_id = ?", (update_id,))
        return row is not None and row["done_at"] is not None

    async def done(self, update_id: int, keep_seconds: int = 7 * 86400) -> None:
        """Mark an update handled and drop its content (it may hold personal data)."""
        now = self.now()
        await self._write1(
            "INSERT INTO inbox (update_id, payload, received_at, done_at)"
            " VALUES (?, NULL, ?, ?) ON CONFLICT(update_id) DO UPDATE"
            " SET payload = NULL, done_at = excluded.done_at",
            (update_id, now, now),
        )
        if update_id % 500 == 0:  # now and then, forget ids too old to be redelivered
            await self._write1(
                "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?",
                (now - keep_seconds,),
            )
