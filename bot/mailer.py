"""Verification mails over SMTP (placeholder until written)."""

from __future__ import annotations

from telegram import Bot

from bot.pump import Pump
from bot.services import Services


class Mailer(Pump):
    """Sends the mail outbox."""

    name = "mailer"

    def __init__(self, svc: Services, bot: Bot) -> None:
        super().__init__()
        self.svc, self.bot = svc, bot

    async def pass_once(self) -> int:
        """Send what is due."""
        raise NotImplementedError
