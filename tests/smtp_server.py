"""A real local SMTP server for the tests (aiosmtpd), with switches for refusing and slowness."""

from __future__ import annotations

import asyncio
import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """aiosmtpd handler: keeps what it accepts; can refuse addresses, be busy, or be slow."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()  # addresses answered 550 at RCPT
        self.busy = False  # 451 at DATA (a temporary failure)
        self.delay = 0.0  # seconds before answering DATA

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:  # echoed in lower case, as some servers do
            return f"550 5.1.1 <{address.lower()}>: No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.busy:
            return "451 4.3.0 Busy, try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages received for this address."""
        return [m for m in self.messages if m["X-Envelope-To"] == address]

    def code_for(self, address: str) -> str:
        """The code in the latest message to this address, read as a person would."""
        body = self.to(address)[-1].get_body(preferencelist=("plain",))
        assert body is not None
        match = re.search(r"code is: (\d{6})", body.get_content())
        assert match, body.get_content()
        return match.group(1)


class SmtpServer:
    """An SMTP server on 127.0.0.1 that can be started, stopped and started again."""

    def __init__(self, **server_options: Any) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.options = server_options  # aiosmtpd's: tls_context, require_starttls, auth...
        self._controller: Controller | None = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Aimant settings pointing at this server (plain SMTP unless `extra` says otherwise)."""
        values: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": "none",
            "smtp_sender": "hello@example.com",
        }
        return {**values, **extra}

    def start(self) -> None:
        self._controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **self.options
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
