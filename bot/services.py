"""What every handler needs, opened once per application: settings, content, store, clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from telegram.ext import CallbackContext, ExtBot

from bot.content.catalogue import Catalogue
from bot.content.texts import Texts
from bot.settings import Settings
from bot.store import Clock, Store

if TYPE_CHECKING:
    from bot.broadcast.sender import Broadcaster
    from bot.inbox.relay import InboxSender
    from bot.nurture.sender import Nurture
    from bot.outbox.crm import CrmSender
    from bot.outbox.mailer import Mailer


@dataclass
class Services:
    """Shared services; the store is opened in post_init and closed in post_shutdown."""

    settings: Settings
    catalogue: Catalogue
    texts: Texts
    clock: Clock = time.time
    _store: Store | None = field(default=None, repr=False)
    _nurture: Nurture | None = field(default=None, repr=False)
    _broadcaster: Broadcaster | None = field(default=None, repr=False)
    _mailer: Mailer | None = field(default=None, repr=False)
    _crm: CrmSender | None = field(default=None, repr=False)
    _inbox: InboxSender | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        """The open store."""
        if self._store is None:
            raise RuntimeError("the store is not open yet (post_init has not run)")
        return self._store

    @property
    def nurture(self) -> Nurture:
        """The tip dispatcher."""
        if self._nurture is None:
            raise RuntimeError("the nurture dispatcher is not running yet (post_init has not run)")
        return self._nurture

    @property
    def broadcaster(self) -> Broadcaster:
        """The broadcast sender."""
        if self._broadcaster is None:
            raise RuntimeError("the broadcaster is not running yet (post_init has not run)")
        return self._broadcaster

    @property
    def mailer(self) -> Mailer:
        """The verification-mail sender (double opt-in)."""
        if self._mailer is None:
            raise RuntimeError("the mailer is not running (no SMTP_HOST, or before post_init)")
        return self._mailer

    @property
    def crm(self) -> CrmSender:
        """The webhook sender (events for other tools)."""
        if self._crm is None:
            raise RuntimeError("the webhook sender is not running (no CRM_WEBHOOK_URLS)")
        return self._crm

    @property
    def inbox(self) -> InboxSender:
        """The team inbox's relay sender."""
        if self._inbox is None:
            raise RuntimeError("the team inbox is not running yet (post_init has not run)")
        return self._inbox

    @property
    def owner_lang(self) -> str:
        """The language of everything owners read: OWNER_LANGUAGE, else DEFAULT_LANGUAGE."""
        return self.texts.lang_for(self.settings.owner_language or self.texts.default)

    def is_owner(self, user_id: int | None) -> bool:
        """Whether this Telegram user is one of the owners in the settings."""
        return user_id is not None and user_id in self.settings.owner_ids


class Ctx(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    """The callback context, with typed access to the services."""

    @property
    def svc(self) -> Services:
        """The application's services."""
        return cast(Services, self.application.bot_data["svc"])
