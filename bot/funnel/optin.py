"""Double opt-in rules, testable without Telegram or SMTP: codes, the mail, SMTP outcomes."""

from __future__ import annotations

import re
import secrets
import ssl
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from pathlib import Path

import aiosmtplib

from bot.store.optin import PendingCode

CODE_DIGITS = 6
MAX_CODES_PER_DAY = 10  # per person: "resend" cannot be used to flood an inbox
_CODE = re.compile(r"^\s*([0-9]{3})[\s-]?([0-9]{3})\s*$")


def new_code() -> str:
    """Six random digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_usable(
    pending: PendingCode | None, email: str | None, now: int, max_attempts: int
) -> bool:
    """Whether a waiting code can still work: not expired, not locked (and, given `email`,
    issued for that address)."""
    return (
        pending is not None
        and (email is None or pending.email == email)
        and pending.expires_at > now
        and pending.attempts < max_attempts
    )


def code_in(text: str) -> str | None:
    """In the code step: the one code in a short pasted text ("Your code: 123456."), else
    None (none, or more than one, or too long to be a reply with a code)."""
    if len(text) > 200:
        return None
    text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    found = re.findall(r"(?<![0-9])([0-9]{3})[ -]?([0-9]{3})(?![0-9])", text)
    return found[0][0] + found[0][1] if len(found) == 1 else None


def typed_code(text: str) -> str | None:
    """The code in what a person typed (`123456`, `123 456`, `123-456`, any script's digits),
    else None."""
    if len(text) > 24:  # a code with some spaces around it, not a message that starts with one
        return None
    text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    match = _CODE.match(text)
    return match.group(1) + match.group(2) if match else None


@dataclass(frozen=True)
class MailContent:
    """What a verification mail says, in the person's language."""

    sender: str
    to: str
    subject: str
    body: str
    attachment: Path | None = None


def build_mail(content: MailContent) -> EmailMessage:
    """The MIME message; header values with line breaks are refused (no header injection)."""
    for value in (content.sender, content.to, content.subject):
        if "\r" in value or "\n" in value:
            raise ValueError("a line break in a mail header")
    message = EmailMessage()
    message["From"] = content.sender
    message["To"] = content.to
    message["Subject"] = content.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="aimant.invalid")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    message.set_content(content.body)
    if content.attachment is not None:
        message.add_attachment(
            content.attachment.read_bytes(),
            maintype="application",
            subtype="pdf",
            filename=content.attachment.name,
        )
    return message


class Outcome(StrEnum):
    """What an SMTP error means for the mail."""

    RETRY = "retry"  # down, slow, busy (4xx), bad login: try again later
    REFUSED = "refused"  # the server refused this address or message for good (5xx)


def classify(error: Exception) -> tuple[Outcome, str]:
    """Sort an SMTP failure into retry or refused, with a short reason for people and logs."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        first = error.recipients[0]
        outcome = Outcome.REFUSED if first.code >= 500 else Outcome.RETRY
        return outcome, f"{first.code} {first.message}".strip()
    if isinstance(error, aiosmtplib.SMTPNotSupported):  # e.g. an address needing SMTPUTF8
        return Outcome.REFUSED, f"the mail server cannot take this address ({error})"
    if isinstance(error, FileNotFoundError):  # the guide to attach vanished from the disk
        return Outcome.RETRY, f"the file to attach is missing: {Path(error.filename or '').name}"
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):  # the owner's settings, not theirs
        return Outcome.RETRY, f"login refused ({error.code}): check SMTP_USER and SMTP_PASSWORD"
    if isinstance(error, aiosmtplib.SMTPResponseException):
        outcome = Outcome.REFUSED if 500 <= error.code < 600 else Outcome.RETRY
        return outcome, f"{error.code} {error.message}".strip()
    untrusted = certificate_error(error)
    if untrusted is not None:  # not "could not reach": the owner must act, retrying won't do
        return Outcome.RETRY, (
            f"the mail server's certificate is not trusted ({untrusted.verify_message}):"
            " fix the certificate, or set SMTP_CA_FILE to the CA that signed it"
        )
    if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return Outcome.RETRY, "the mail server did not answer in time"
    if isinstance(error, aiosmtplib.SMTPConnectError | ConnectionError | OSError):
        return Outcome.RETRY, "could not reach the mail server"
    if isinstance(error, ValueError):  # build_mail refused a header
        return Outcome.REFUSED, "not a valid address for a mail header"
    return Outcome.RETRY, f"{type(error).__name__}: {error}"[:300]


def certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The failed certificate check behind an SMTP error (aiosmtplib wraps it for implicit
    TLS, raises it bare for STARTTLS), or None."""
    seen: BaseException | None = error
    for _ in range(5):  # a short chain: the error, its cause, their cause...
        if seen is None or isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Certificate checks on, as for any client; `ca_file` (SMTP_CA_FILE) is trusted too, for
    the mail server only (SSL_CERT_FILE would replace the CAs Telegram is checked with)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context
