"""The step each person is in, and the PDFs' cached Telegram file ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.store.repository import Repository


@dataclass(frozen=True)
class Session:
    """The step a person is in."""

    step: str
    magnet_id: str | None
    data: dict[str, Any]


class Sessions(Repository):
    """The step each person is in, and the PDFs' cached Telegram file ids."""

    async def get(self, user_id: int) -> Session | None:
        """The step this person is in, if any."""
        row = await self._one(
            "SELECT step, magnet_id, data FROM sessions WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return None
        return Session(row["step"], row["magnet_id"], json.loads(row["data"] or "{}"))

    async def set(self, user_id: int, step: str, magnet_id: str | None = None, **data: Any) -> None:
        """Put the person in a step."""
        await self._write1(
            "INSERT OR REPLACE INTO sessions (user_id, step, magnet_id, data, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_id, step, magnet_id, json.dumps(data), self.now()),
        )

    async def clear(self, user_id: int) -> bool:
        """Leave the current step; False if there was none."""
        return bool(
            await self._write1(
                "DELETE FROM sessions WHERE user_id = ? RETURNING user_id", (user_id,)
            )
        )

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
