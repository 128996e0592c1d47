"""Webhooks to other tools: posts queued events, signed (placeholder until written)."""

from __future__ import annotations

from telegram import Bot

from bot.pump import Pump
from bot.services import Services


class CrmSender(Pump):
    """Posts the webhook outbox to every CRM_WEBHOOK_URLS entry."""

    name = "webhooks"

    def __init__(self, svc: Services, bot: Bot) -> None:
        super().__init__()
        self.svc, self.bot = svc, bot

    async def pass_once(self) -> int:
        """Post what is due."""
        raise NotImplementedError
