"""Logging: one line per event that matters, and secrets never written."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "<token>"
# Libraries whose lower levels carry personal data or secrets, pinned at least here whatever
# LOG_LEVEL says: httpx logs request URLs (with the token, and webhook URLs' paths) at INFO;
# aiosqlite logs every SQL statement with its parameters (emails, names, codes) at DEBUG;
# telegram logs every call's parameters and answers (message texts) at DEBUG; aiosmtplib logs
# the SMTP conversation (the code mail) at DEBUG.
QUIET: dict[str, int] = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiosqlite": logging.INFO,
    "telegram": logging.INFO,
    "aiosmtplib": logging.INFO,
    "apscheduler": logging.WARNING,
    "matplotlib": logging.WARNING,
    "asyncio": logging.INFO,
    "hpack": logging.WARNING,
}


class RedactingFormatter(logging.Formatter):
    """Replaces every secret in the formatted line, tracebacks included."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact."""
        line = super().format(record)
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        return line


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at `level`, redacting `secrets`; libraries never log personal data."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
