"""What every repository shares: the store's one connection, its transactions, its clock."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.outbox.events import HookType
from bot.store.core import Event

if TYPE_CHECKING:
    from bot.store.store import Store


class Repository:
    """One concern's queries, on the store's one connection and its transactions."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def _db(self) -> aiosqlite.Connection:
        return self._store._db

    @property
    def hook_urls(self) -> tuple[str, ...]:
        return self._store.hook_urls

    def now(self) -> int:
        """The store's clock, in whole seconds."""
        return self._store.now()

    def _tx(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._store._tx()

    async def _write1(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return await self._store._write1(sql, params)

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        return await self._store._one(sql, params)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return await self._store._all(sql, params)

    async def _event(
        self, db: aiosqlite.Connection, person: int, kind: Event, **fields: Any
    ) -> None:
        await self._store._event(db, person, kind, **fields)

    async def _hook(
        self, db: aiosqlite.Connection, user_id: int, kind: HookType, *rest: Any, **named: Any
    ) -> None:
        """StoreBase._hook: queue an event for every webhook URL, in the caller's transaction."""
        await self._store._hook(db, user_id, kind, *rest, **named)

    async def _refresh_stage(self, db: aiosqlite.Connection, user_id: int) -> None:
        await self._store._refresh_stage(db, user_id)
