"""Funnel rules as plain functions: stages, deep-link payloads, email checks."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from telegram.constants import MessageLimit

# A /start payload as Telegram allows it (what helpers.create_deep_linked_url accepts).
PAYLOAD = re.compile(rf"^[A-Za-z0-9_-]{{1,{MessageLimit.DEEP_LINK_LENGTH:d}}}$")
# A real source name: letters and digits, parts joined by single `-` or `_` (not `-`, `flyer__`).
SOURCE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
MAGNET_SEPARATOR = "__"
# Domains people mistype most; a close miss gets a "did you mean ...?" button.
COMMON_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.fr",
    "hotmail.com",
    "hotmail.fr",
    "outlook.com",
    "outlook.fr",
    "live.com",
    "live.fr",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "sfr.fr",
    "laposte.net",
    "bbox.fr",
    "gmx.fr",
    "gmx.com",
)


class Stage(StrEnum):
    """Where a person is in the funnel (DESIGN.md)."""

    VISITOR = "visitor"
    LEAD = "lead"
    NURTURING = "nurturing"
    HOT = "hot"
    CUSTOMER = "customer"
    GONE = "gone"


def stage_of(
    *,
    has_email: bool,
    delivered: bool,
    tips_received: bool = False,
    ready_to_talk: bool = False,
    won: bool = False,
    unsubscribed: bool = False,
    blocked: bool = False,
) -> Stage:
    """The furthest stage a person has reached; leaving (stop, block) trumps everything."""
    if unsubscribed or blocked:
        return Stage.GONE
    if won:
        return Stage.CUSTOMER
    if ready_to_talk:
        return Stage.HOT
    if has_email and delivered:
        return Stage.NURTURING if tips_received else Stage.LEAD
    return Stage.VISITOR


@dataclass(frozen=True)
class DeepLink:
    """What a /start payload says: the campaign source and, optionally, a magnet."""

    source: str | None
    magnet_id: str | None


def is_source(name: str) -> bool:
    """True for a real source name (lower-case): `flyer`, `market-stall`, not `-` or `___`."""
    return len(name) <= MessageLimit.DEEP_LINK_LENGTH and SOURCE.match(name) is not None


def parse_payload(payload: str | None, magnet_ids: set[str]) -> DeepLink:
    """`<source>`, `<source>__<magnet>` or `<magnet>`; a malformed source counts as none."""
    if not payload or not PAYLOAD.match(payload):
        return DeepLink(None, None)
    payload = payload.lower()
    source: str | None = payload
    magnet = None
    if payload in magnet_ids:
        source, magnet = None, payload
    elif MAGNET_SEPARATOR in payload:
        head, _, tail = payload.rpartition(MAGNET_SEPARATOR)
        if tail:  # a magnet since removed from the catalogue still counts the campaign
            source, magnet = head or None, tail if tail in magnet_ids else None
    if source is not None and not is_source(source):
        source = None  # `-`, `flyer__`, `___`: no campaign to count; the link still works
    return DeepLink(source, magnet)


def make_payload(source: str | None, magnet_id: str | None) -> str:
    """The payload for a deep link (inverse of parse_payload)."""
    if magnet_id and source:
        return f"{source}{MAGNET_SEPARATOR}{magnet_id}"
    return magnet_id or source or ""


@dataclass(frozen=True)
class EmailCheck:
    """The outcome of checking what a person typed as their email."""

    email: str | None  # normalised address when the syntax is valid
    error: EmailProblem | None  # why it is not valid, when it is not
    suggestion: str | None  # a corrected address for a likely typo


class EmailProblem(StrEnum):
    """Why an address is refused, said in the bot's own words (texts `email_why_<value>`)."""

    AT = "at"  # no @, or several
    SPACE = "space"
    LOCAL = "local"  # something wrong before the @
    DOMAIN = "domain"  # something wrong after the @
    LONG = "long"


def email_problem(candidate: str, library_message: str) -> EmailProblem:
    """Our reason for email-validator's refusal (its English wording is not shown to people)."""
    if candidate.count("@") != 1:
        return EmailProblem.AT
    if any(c.isspace() for c in candidate):
        return EmailProblem.SPACE
    local, _, domain = candidate.partition("@")
    if not local or "before the @" in library_message:
        return EmailProblem.LOCAL
    try:  # a sound domain with a simple name before it: the name was the problem
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return EmailProblem.DOMAIN
    return EmailProblem.LOCAL


@functools.lru_cache(maxsize=1024)
def suggest_domain(domain: str) -> str | None:
    """A common domain close to `domain` (a likely typo), or None (cached: difflib's search
    over COMMON_DOMAINS was ~0.1 ms, and people's domains repeat)."""
    domain = domain.lower()
    if domain in COMMON_DOMAINS:
        return None
    squashed = domain.replace(",", ".")
    if "." not in squashed:
        squashed = re.sub(r"(com|fr|net)$", r".\1", squashed)
    matches = difflib.get_close_matches(squashed, COMMON_DOMAINS, n=1, cutoff=0.8)
    return matches[0] if matches else None


def check_email(text: str) -> EmailCheck:
    """Validate syntax only (no DNS), normalise, and spot likely typos in the domain."""
    candidate = text.strip()
    if len(candidate) > 320:
        return EmailCheck(None, EmailProblem.LONG, None)
    suggestion = None
    if candidate.count("@") == 1:
        local, _, domain = candidate.partition("@")
        better = suggest_domain(domain)
        if better and local:
            suggestion = f"{local}@{better}"
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        if suggestion:
            try:
                suggestion = validate_email(suggestion, check_deliverability=False).normalized
            except EmailNotValidError:
                suggestion = None
        return EmailCheck(None, email_problem(candidate, str(exc)), suggestion)
    return EmailCheck(result.normalized, None, suggestion)


class Step(StrEnum):
    """What the bot does next when a person asks for a magnet."""

    ASK_EMAIL = "ask_email"
    CONFIRM_OPTIN = "confirm_optin"
    ASK_CODE = "ask_code"  # double opt-in, when the PDF waits for a verified email
    ASK_QUESTION = "ask_question"
    DELIVER = "deliver"


def next_step(
    *,
    has_email: bool,
    unsubscribed: bool,
    has_question: bool,
    answered: bool,
    must_verify: bool = False,
) -> Step:
    """Email first (once per person), an explicit opt-in after /stop, the code when the PDF
    waits for a verified email, the question, then the PDF."""
    if not has_email:
        return Step.ASK_EMAIL
    if unsubscribed:
        return Step.CONFIRM_OPTIN
    if must_verify:
        return Step.ASK_CODE
    if has_question and not answered:
        return Step.ASK_QUESTION
    return Step.DELIVER
