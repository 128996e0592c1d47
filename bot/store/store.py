"""The store: one connection (bot.store.core) and a repository per concern on it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import aiosqlite

from bot.store.aside import Aside
from bot.store.broadcasts import Broadcasts
from bot.store.core import Clock, StoreBase
from bot.store.hooks import Hooks
from bot.store.intake import Intake
from bot.store.kpis import Kpis
from bot.store.leads import Leads
from bot.store.optin import Optin
from bot.store.owner import Owner
from bot.store.ready import Ready
from bot.store.sessions import Sessions
from bot.store.team import Team
from bot.store.tips import Tips

if TYPE_CHECKING:
    from bot.settings import Settings


class Store(StoreBase):
    """Typed access to the database: `store.leads`, `store.tips`...; each write one transaction."""

    def __init__(self, db: aiosqlite.Connection, clock: Clock) -> None:
        super().__init__(db, clock)
        self.intake = Intake(self)
        self.aside = Aside(self)
        self.leads = Leads(self)
        self.sessions = Sessions(self)
        self.tips = Tips(self)
        self.ready = Ready(self)
        self.broadcasts = Broadcasts(self)
        self.optin = Optin(self)
        self.hooks = Hooks(self)
        self.kpis = Kpis(self)
        self.team = Team(self)
        self.owner = Owner(self)


async def open_store(settings: Settings, clock: Clock = time.time) -> Store:
    """The store the settings ask for: PostgreSQL with DATABASE_URL (several processes may share
    it), else the SQLite file (its lock file is taken by `aimant run` before anything opens it)."""
    if settings.database_url is not None:
        return await Store.open_postgres(settings.database_url.get_secret_value(), clock)
    return await Store.open(settings.database_path, clock)
