"""Updates set aside: what Telegram sent that PTB cannot read, kept raw instead of stalling."""

from __future__ import annotations

from bot.store.repository import Repository

KEEP_SECONDS = 30 * 86400  # raw updates may hold personal data: not kept for ever


class Aside(Repository):
    """Updates set aside: what Telegram sent that PTB cannot read, kept raw."""

    async def keep(self, update_id: int, user_id: int | None, payload: str, error: str) -> None:
        """Keep an update that cannot be read (once per id)."""
        await self._write1(
            "INSERT OR IGNORE INTO unreadable_updates"
            " (update_id, user_id, payload, error, received_at) VALUES (?, ?, ?, ?, ?)",
            (update_id, user_id, payload, error, self.now()),
        )

    async def to_report(self) -> int:
        """Mark the updates set aside since the last report as reported; how many they were."""
        now = self.now()
        due = await self._one(
            "SELECT COUNT(*) FROM unreadable_updates WHERE reported_at IS NULL OR received_at < ?",
            (now - KEEP_SECONDS,),
        )
        if not due or not due[0]:  # the usual case, every guard tick: no write at all
            return 0
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM unreadable_updates WHERE received_at < ?", (now - KEEP_SECONDS,)
            )
            cur = await db.execute(
                "UPDATE unreadable_updates SET reported_at = ? WHERE reported_at IS NULL", (now,)
            )
            return int(cur.rowcount)

    async def count(self) -> int:
        """How many updates are set aside."""
        row = await self._one("SELECT COUNT(*) FROM unreadable_updates")
        return int(row[0]) if row else 0
