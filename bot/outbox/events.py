"""The JSON events other tools receive (CRM, n8n, a spreadsheet script): built here, signed in
bot.outbox.crm.
One shape for every event: `{"id", "type", "created", "lead": {...}, "data": {...}}`."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class HookType(StrEnum):
    """The events Aimant sends to webhook URLs."""

    CAPTURED = "lead.captured"  # a valid email was given (or changed)
    VERIFIED = "lead.verified"  # the email was verified by code (double opt-in)
    READY = "lead.ready_to_talk"  # first plan or contact request
    WON = "lead.won"  # an owner marked the lead won
    UNSUBSCRIBED = "lead.unsubscribed"  # /stop or a stop button
    RESUBSCRIBED = "lead.resubscribed"  # opted in again after /stop
    ERASED = "lead.erased"  # /forget: only the lead id, nothing personal


# Lead columns an event carries (everything else in the store stays in the store).
LEAD_FIELDS = (
    "user_id, first_name, last_name, username, language, first_source, email, email_at,"
    " email_verified_at, stage, started_at"
)


def new_event_id() -> str:
    """A stable, unique event id: the same on every retry and for every URL."""
    return "evt_" + secrets.token_hex(12)


def lead_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The lead as other tools see it."""
    return {
        "id": row["user_id"],  # the Telegram user id: the key the erase event also carries
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "username": row["username"],
        "language": row["language"],
        "source": row["first_source"],
        "email": row["email"],
        "email_captured_at": row["email_at"],
        "email_verified": row["email_verified_at"] is not None,
        "email_verified_at": row["email_verified_at"],
        "stage": row["stage"],
        "started_at": row["started_at"],
    }


def event_body(
    event_id: str,
    kind: HookType,
    created: int,
    lead: dict[str, Any],
    data: Mapping[str, Any] | None = None,
) -> str:
    """The exact bytes (as text) that are signed and posted."""
    body = {"id": event_id, "type": kind.value, "created": created, "lead": lead}
    body["data"] = dict(data or {})
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
