"""Sending a magnet's PDF: upload once, then resend by Telegram's cached file_id."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest

from bot.content.catalogue import PdfFile
from bot.store import Store
from bot.telegram.answers import unread
from bot.telegram.sending import chat_gone

log = logging.getLogger(__name__)


async def send_pdf(bot: Bot, store: Store, pdf: PdfFile, chat_id: int, caption: str) -> None:
    """Send the PDF as a document with a caption; re-upload if Telegram rejects the cached id."""
    cached = await store.sessions.file_id(pdf.sha256)
    if cached:
        try:
            with unread():  # the file id is known: nothing in the answer is read
                await bot.send_document(chat_id, cached, caption=caption)
            return
        except BadRequest as exc:
            if chat_gone(exc):  # the person's chat, not the file: uploading would fail too
                raise
            # File ids can go stale (another bot token, a purge on Telegram's side): upload again.
            log.warning("cached file_id for %s refused (%s); uploading again", pdf.name, exc)
            await store.sessions.set_file_id(pdf.sha256, None)
    with pdf.path.open("rb") as handle:
        message = await bot.send_document(chat_id, handle, filename=pdf.name, caption=caption)
    if message.document:
        await store.sessions.set_file_id(pdf.sha256, message.document.file_id)
