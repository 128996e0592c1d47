"""What every handler needs: the services opened once per application, the context per update."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from telegram import Update, User
from telegram.ext import Application, CallbackContext, ExtBot

from bot.content.catalogue import Catalogue
from bot.content.texts import Texts
from bot.settings import Settings
from bot.store import Clock, Lead, Store

if TYPE_CHECKING:
    from bot.broadcast.sender import Broadcaster
    from bot.inbox.relay import InboxSender
    from bot.nurture.sender import Nurture
    from bot.outbox.crm import CrmSender
    from bot.outbox.mailer import Mailer
    from bot.outbox.pump import Pump


@dataclass(frozen=True)
class Running:
    """What post_init opens and post_shutdown closes: the store, and the senders that run."""

    store: Store
    nurture: Nurture | None = None
    broadcaster: Broadcaster | None = None
    inbox: InboxSender | None = None
    mailer: Mailer | None = None  # with DOUBLE_OPTIN only
    crm: CrmSender | None = None  # with CRM_WEBHOOK_URLS only

    @property
    def pumps(self) -> list[Pump]:
        """The outbox senders that run (mail, webhooks, team inbox), each ticked by a job."""
        return [p for p in (self.mailer, self.crm, self.inbox) if p is not None]


@dataclass
class Services:
    """Shared services: settings and content from the start, the rest while the bot runs."""

    settings: Settings
    catalogue: Catalogue
    texts: Texts
    clock: Clock = time.time
    # Set in one place, open() in post_init; None before it and after post_shutdown.
    running: Running | None = field(default=None, repr=False)

    def open(self, running: Running) -> None:
        """Wire what post_init opened (the store, the senders) for every handler to use."""
        self.running = running

    def close(self) -> None:
        """Forget what post_shutdown closed: anything used after this says so."""
        self.running = None

    @property
    def store(self) -> Store:
        """The open store."""
        if self.running is None:
            raise RuntimeError("the store is not open yet (post_init has not run)")
        return self.running.store

    @property
    def nurture(self) -> Nurture:
        """The tip dispatcher."""
        nurture = self.running.nurture if self.running else None
        if nurture is None:
            raise RuntimeError("the nurture dispatcher is not running yet (post_init has not run)")
        return nurture

    @property
    def broadcaster(self) -> Broadcaster:
        """The broadcast sender."""
        broadcaster = self.running.broadcaster if self.running else None
        if broadcaster is None:
            raise RuntimeError("the broadcaster is not running yet (post_init has not run)")
        return broadcaster

    @property
    def mailer(self) -> Mailer:
        """The verification-mail sender (double opt-in)."""
        mailer = self.running.mailer if self.running else None
        if mailer is None:
            raise RuntimeError("the mailer is not running (no SMTP_HOST, or before post_init)")
        return mailer

    @property
    def crm(self) -> CrmSender:
        """The webhook sender (events for other tools)."""
        crm = self.running.crm if self.running else None
        if crm is None:
            raise RuntimeError("the webhook sender is not running (no CRM_WEBHOOK_URLS)")
        return crm

    @property
    def inbox(self) -> InboxSender:
        """The team inbox's relay sender."""
        inbox = self.running.inbox if self.running else None
        if inbox is None:
            raise RuntimeError("the team inbox is not running yet (post_init has not run)")
        return inbox

    @property
    def owner_lang(self) -> str:
        """The language of everything owners read: OWNER_LANGUAGE, else DEFAULT_LANGUAGE."""
        return self.texts.lang_for(self.settings.owner_language or self.texts.default)

    def is_owner(self, user_id: int | None) -> bool:
        """Whether this Telegram user is one of the owners in the settings."""
        return user_id is not None and user_id in self.settings.owner_ids


class _Unread:
    """The lead of an update not read yet (None means read, and there is none)."""


_UNREAD = _Unread()


class Ctx(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    """The callback context: the services, and this update's person, language and lead.

    PTB builds one per update (`from_update`), so what is computed here is computed once.
    """

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self._person: User | None = None
        self._lang: str | None = None
        self._lead: Lead | _Unread | None = _UNREAD

    @classmethod
    def from_update(
        cls, update: object, application: Application[Any, Any, Any, Any, Any, Any]
    ) -> Ctx:
        """PTB's context for this update, which also keeps the person it comes from."""
        context = cast(Ctx, super().from_update(update, application))
        if isinstance(update, Update):
            context._person = update.effective_user
        return context

    @property
    def svc(self) -> Services:
        """The application's services."""
        return cast(Services, self.application.bot_data["svc"])

    @property
    def user_id(self) -> int:
        """The id of the person behind this update (handlers only get updates from people)."""
        assert self._person is not None
        return self._person.id

    @property
    def lang(self) -> str:
        """The person's language: their Telegram language if we have texts for it, else the
        default. Owners always read OWNER_LANGUAGE, so their console is in one language."""
        if self._lang is None:
            svc, person = self.svc, self._person
            if person is not None and svc.is_owner(person.id):
                self._lang = svc.owner_lang
            else:
                self._lang = svc.texts.lang_for(person.language_code if person else None)
        return self._lang

    async def lead(self, *, fresh: bool = False) -> Lead | None:
        """This person's lead (None if never seen), read once per update; `fresh` reads it
        again, for a caller reached after a write that changes it (an email, a code)."""
        if fresh or isinstance(self._lead, _Unread):
            self._lead = await self.svc.store.leads.get(self.user_id)
        return self._lead

    def saw_lead(self, lead: Lead) -> None:
        """A write returned this person's fresh lead (touch): later reads in this update use it."""
        self._lead = lead
