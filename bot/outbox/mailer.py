"""Verification mails over SMTP (aiosmtplib): the mail outbox, sent in the background."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import ssl
import time

import aiosmtplib
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError
from telegram.helpers import create_deep_linked_url

from bot.content.catalogue import localized
from bot.funnel.optin import MailContent, Outcome, build_mail, classify, tls_context
from bot.nurture.schedule import backoff
from bot.outbox.pump import Pump
from bot.owner.alerts import notify_owners
from bot.services import Services
from bot.store.optin import Mail
from bot.telegram import names
from bot.telegram.callback_data import CodeButton
from bot.telegram.html import plain_text

log = logging.getLogger(__name__)

NOTICE_EVERY = 900  # seconds between two "mail server unreachable" notices to owners
PRUNE_EVERY = 3600  # seconds between two clean-ups of the daily counts
ADDRESS = re.compile(r"[^\s<>\"',;]+@[^\s<>\"',;]+")


def code_buttons(svc: Services, lang: str, resend: bool = True) -> InlineKeyboardMarkup:
    """Under code messages: "Send a new code" (unless the address was refused), "Change email"."""
    change = svc.texts.get(lang, "btn_change_email")
    rows = [[InlineKeyboardButton(change, callback_data=CodeButton("chg").pack())]]
    if resend:
        new = svc.texts.get(lang, "btn_resend_code")
        rows.insert(0, [InlineKeyboardButton(new, callback_data=CodeButton("new").pack())])
    return InlineKeyboardMarkup(rows)


class Mailer(Pump):
    """Sends due verification mails; retries with backoff, then tells the person and owners."""

    name = "mailer"

    def __init__(self, svc: Services, bot: Bot, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.svc, self.bot = svc, bot
        self.tls = tls or tls_context(svc.settings.smtp_ca_file)
        self._noticed_at = -float(NOTICE_EVERY)
        self._pruned_at = -float(PRUNE_EVERY)

    async def pass_once(self) -> int:
        """Send every due mail (a few connections at once), until none is due."""
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            await self.svc.store.optin.prune_quota()
        handled = 0
        while not self._stopped and (due := await self.svc.store.optin.due_mails(limit=8)):
            await asyncio.gather(*(self._deliver(mail) for mail in due))
            handled += len(due)
        return handled

    def content(self, mail: Mail) -> MailContent:
        """The mail for this outbox row, in the person's language."""
        svc, lang = self.svc, mail.language
        settings, default = svc.settings, svc.texts.default
        magnet = svc.catalogue.get(mail.magnet_id or "")
        title = plain_text(localized(magnet.title, lang, default)) if magnet else ""
        extra, attachment = "", None
        if magnet is not None and settings.optin_mail_magnet == "attach":
            extra = svc.texts.get(lang, "mail_attached", title=title)
            attachment = svc.catalogue.pdf(magnet, lang, default).path
        elif magnet is not None and settings.optin_mail_magnet == "link" and self.bot.username:
            link = create_deep_linked_url(self.bot.username, magnet.id)
            extra = svc.texts.get(lang, "mail_link", title=title, link=link)
        body = svc.texts.get(
            lang,
            "mail_body",
            code=mail.code,
            minutes=svc.texts.count(lang, "minutes", settings.optin_code_minutes),
            extra=extra,
        )
        return MailContent(
            sender=settings.smtp_sender or "",
            to=mail.to_addr,
            subject=plain_text(svc.texts.get(lang, "mail_subject", code=mail.code)),
            body=plain_text(body),
            attachment=attachment,
        )

    def deadline(self, mail: Mail) -> int:
        """After this a mail is no use (its code has expired) or has been retried long enough."""
        settings = self.svc.settings
        return (
            mail.created_at
            + min(settings.optin_mail_retry_minutes, settings.optin_code_minutes) * 60
        )

    async def _deliver(self, mail: Mail) -> None:
        settings = self.svc.settings
        if self.svc.store.now() >= self.deadline(mail):  # e.g. the bot was down meanwhile
            await self._give_up(mail, Outcome.RETRY, "the code expired before the mail could leave")
            return
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        await self.svc.store.optin.claim_mail(mail)  # counts for the daily limit while it leaves
        try:
            await aiosmtplib.send(
                build_mail(self.content(mail)),
                hostname=settings.smtp_host,
                port=settings.smtp_port_or_default,
                username=settings.smtp_user,
                password=password,
                use_tls=settings.smtp_security == "tls",
                start_tls=settings.smtp_security == "starttls",
                tls_context=self.tls,
                timeout=settings.smtp_timeout,
            )
        except Exception as exc:  # every failure is sorted: retry later, or refused for good
            await self.svc.store.optin.unclaim_mail(mail.id)
            await self._failed(mail, exc)
            return
        if await self.svc.store.optin.mail_sent(mail.id):
            log.info("verification mail %s sent to lead %s", mail.id, mail.user_id)

    async def _failed(self, mail: Mail, exc: Exception) -> None:
        store = self.svc.store
        outcome, reason = classify(exc)
        reason = ADDRESS.sub("<address>", reason)  # logs and the outbox keep no address
        log.warning("verification mail %s to lead %s: %s (%s)", mail.id, mail.user_id, reason,
                    outcome.value)  # fmt: skip
        # A mail that would arrive after its code expired is no use: never retry past that.
        retry_at = store.now() + backoff(mail.attempts + 1, base=15, cap=600)
        if outcome is Outcome.RETRY and retry_at < self.deadline(mail):
            await store.optin.mail_retry(mail.id, retry_at, reason)
            if time.monotonic() - self._noticed_at >= NOTICE_EVERY:  # once in a while, not per mail
                self._noticed_at = time.monotonic()
                lang = self.svc.owner_lang
                notice = self.svc.texts.get(lang, "owner_mail_retry", reason=html.escape(reason))
                await notify_owners(self.bot, self.svc, notice)
            return
        await self._give_up(mail, outcome, reason)

    async def _who(self, user_id: int) -> str:
        """The lead as owners know them: their name, linked to their profile."""
        lead = await self.svc.store.leads.get(user_id)
        first, last = (lead.first_name, lead.last_name) if lead else (None, None)
        return f'<a href="tg://user?id={user_id}">{names.person(first, last, user_id)}</a>'

    async def _give_up(self, mail: Mail, outcome: Outcome, reason: str) -> None:
        """No more tries: tell the person (with what they can do) and every owner."""
        refused = outcome is Outcome.REFUSED
        if not await self.svc.store.optin.mail_failed(mail.id, reason, refused=refused):
            return  # replaced by a new code, or the person erased their data meanwhile
        key = "mail_refused" if refused else "mail_gave_up"
        lang = mail.language
        text = self.svc.texts.get(
            lang, key, email=html.escape(mail.to_addr), reason=html.escape(reason[:200])
        )
        try:
            # A refused address would be refused again: only "Change email" then.
            buttons = code_buttons(self.svc, lang, resend=not refused)
            await self.bot.send_message(mail.user_id, text, reply_markup=buttons)
        except TelegramError as error:
            log.warning("could not tell lead %s about their mail: %s", mail.user_id, error)
        notice = self.svc.texts.get(
            self.svc.owner_lang,
            "owner_mail_failed",
            lead=await self._who(mail.user_id),
            reason=html.escape(reason[:300]),
        )
        await notify_owners(self.bot, self.svc, notice, about=mail.user_id)
