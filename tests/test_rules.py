"""Funnel rules as plain functions: stages, deep links, emails, next steps, HTML limits."""

from __future__ import annotations

import pytest

from bot.content.summary import describe_delay
from bot.funnel.rules import (
    DeepLink,
    EmailProblem,
    Stage,
    Step,
    check_email,
    make_payload,
    next_step,
    parse_payload,
    stage_of,
)
from bot.telegram.html import html_error, visible_length

MAGNETS = {"what-to-wear", "gardening-basics"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("instagram", DeepLink("instagram", None)),
        ("Flyer-2026", DeepLink("flyer-2026", None)),
        ("instagram__what-to-wear", DeepLink("instagram", "what-to-wear")),
        ("what-to-wear", DeepLink(None, "what-to-wear")),
        ("market_stall__gardening-basics", DeepLink("market_stall", "gardening-basics")),
        ("flyer__no-such-magnet", DeepLink("flyer", None)),
        ("bad payload!", DeepLink(None, None)),
        ("<script>", DeepLink(None, None)),
        ("x" * 65, DeepLink(None, None)),
        # Not a real source name: the person gets the normal welcome, counted as direct.
        ("-", DeepLink(None, None)),
        ("flyer__", DeepLink(None, None)),
        ("___", DeepLink(None, None)),
        ("_flyer", DeepLink(None, None)),
        ("flyer-", DeepLink(None, None)),
        ("fly--er", DeepLink(None, None)),
        ("-__what-to-wear", DeepLink(None, "what-to-wear")),
        ("__what-to-wear", DeepLink(None, "what-to-wear")),
        ("2026", DeepLink("2026", None)),
        ("", DeepLink(None, None)),
        (None, DeepLink(None, None)),
    ],
)
def test_parse_payload(payload: str | None, expected: DeepLink) -> None:
    assert parse_payload(payload, MAGNETS) == expected


def test_make_payload_round_trips() -> None:
    for source, magnet in [("flyer", "what-to-wear"), ("flyer", None), (None, "what-to-wear")]:
        assert parse_payload(make_payload(source, magnet), MAGNETS) == DeepLink(source, magnet)


def test_email_valid_is_normalised() -> None:
    check = check_email("  Ada.Lovelace@Example.COM ")
    assert check.email == "Ada.Lovelace@example.com"
    assert check.error is None and check.suggestion is None


@pytest.mark.parametrize(
    ("typed", "suggested", "valid"),
    [
        ("ada@gmial.com", "ada@gmail.com", True),
        ("ada@gmail.con", "ada@gmail.com", True),
        ("ada@hotmial.fr", "ada@hotmail.fr", True),
        ("ada@gmailcom", "ada@gmail.com", False),
        ("ada@orange,fr", "ada@orange.fr", False),
    ],
)
def test_email_typos_get_a_suggestion(typed: str, suggested: str, valid: bool) -> None:
    check = check_email(typed)
    assert check.suggestion == suggested
    assert (check.email is not None) is valid


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("nope", EmailProblem.AT),
        ("ada@", EmailProblem.DOMAIN),
        ("@example.com", EmailProblem.LOCAL),
        ("ada@@example.com", EmailProblem.AT),
        ("a b@example.com", EmailProblem.SPACE),
        ("ada..x@example.com", EmailProblem.LOCAL),
        ("ada@example", EmailProblem.DOMAIN),
        ("x" * 5000, EmailProblem.LONG),
    ],
)
def test_email_invalid_has_our_own_reason(typed: str, problem: EmailProblem) -> None:
    check = check_email(typed)
    assert check.email is None
    assert check.error is problem


def test_stage_rules() -> None:
    assert stage_of(has_email=False, delivered=False) is Stage.VISITOR
    assert stage_of(has_email=True, delivered=False) is Stage.VISITOR
    assert stage_of(has_email=True, delivered=True) is Stage.LEAD
    assert stage_of(has_email=True, delivered=True, tips_received=True) is Stage.NURTURING
    assert stage_of(has_email=True, delivered=True, ready_to_talk=True) is Stage.HOT
    assert stage_of(has_email=True, delivered=True, ready_to_talk=True, won=True) is Stage.CUSTOMER
    assert stage_of(has_email=True, delivered=True, won=True, unsubscribed=True) is Stage.GONE
    assert stage_of(has_email=False, delivered=False, blocked=True) is Stage.GONE


def test_next_step() -> None:
    base = {"has_email": True, "unsubscribed": False, "has_question": True, "answered": False}
    assert next_step(**{**base, "has_email": False}) is Step.ASK_EMAIL
    assert next_step(**{**base, "unsubscribed": True}) is Step.CONFIRM_OPTIN
    assert next_step(**base) is Step.ASK_QUESTION
    assert next_step(**{**base, "answered": True}) is Step.DELIVER
    assert next_step(**{**base, "has_question": False}) is Step.DELIVER


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<b>bold</b> &amp; <i>it</i>", True),
        ('<a href="https://example.com">x</a>', True),
        ('<span class="tg-spoiler">s</span>', True),
        ("<blockquote expandable>q</blockquote>", True),
        ("<div>x</div>", False),
        ("<b>unclosed", False),
        ("<b><i>x</b></i>", False),
        ("1 < 2", False),
        ("fish & chips", False),
        ("<br/>", False),
        ('<span class="other">x</span>', False),
    ],
)
def test_html_rules(text: str, ok: bool) -> None:
    assert (html_error(text) is None) is ok


def test_visible_length_counts_after_parsing() -> None:
    assert visible_length("<b>abc</b> &amp;") == 5


def test_describe_delay() -> None:
    assert describe_delay(30) == "30s"
    assert describe_delay(2 * 86400 + 6 * 3600) == "2d 6h"
