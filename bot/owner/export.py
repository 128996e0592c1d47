"""The CSV export of all leads: RFC 4180, UTF-8, safe to open in spreadsheet programs."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from bot.funnel.scoring import Facts, score
from bot.services import Services

COLUMNS = (
    "person",
    "first_name",
    "last_name",
    "username",
    "email",
    "email_verified",
    "email_verified_at",
    "language",
    "first_source",
    "magnets",
    "answers",
    "qualified",
    "score",
    "stage",
    "started",
    "lead",
    "tips_sent",
    "tips_unknown",
    "tip_clicks",
    "plan_requested",
    "contact_sent",
    "last_message",
    "waiting_since",
    "won",
    "unsubscribed",
    "blocked",
    "erased",
)
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Columns the bot itself fills with an integer: kept numbers (a guarded `'-5` would sort and
# sum as text); only text cells, which people and Telegram profiles fill, are guarded.
NUMERIC = frozenset({"person", "score", "tips_sent", "tips_unknown", "tip_clicks"})


def neutralise(value: str) -> str:
    """Prefix a would-be formula with an apostrophe so it is shown as text, never evaluated."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _row(svc: Services, raw: dict[str, Any]) -> list[str]:
    zone = svc.settings.zone

    def when(ts: int | None) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M") if ts else ""

    erased = raw["erased_at"] is not None or raw["person"] < 0
    facts = Facts(
        has_email=bool(raw["lead_at"]),
        fit_answers=raw["fit_answers"],
        not_fit_answers=raw["not_fit_answers"],
        tip_clicks=raw["tip_clicks"],
        plan_requested=bool(raw["plan_at"]),
        contacted_us=bool(raw["contact_at"]),
        magnets_delivered=len((raw["magnets"] or "").split(";")) if raw["magnets"] else 0,
    )
    qualified = "fit" if raw["fit_answers"] else "not fit" if raw["not_fit_answers"] else ""
    cells = [
        f"erased-{-raw['person']}" if raw["person"] < 0 else str(raw["person"]),
        raw["first_name"] or "",
        raw["last_name"] or "",
        raw["username"] or "",
        raw["email"] or "",
        "yes" if raw["email_verified_at"] else "no" if raw["email"] else "",
        when(raw["email_verified_at"]),
        raw["language"] or "",
        raw["first_source"] or "",
        raw["magnets"] or "",
        raw["answers"] or "",
        qualified,
        str(score(facts, svc.catalogue.scoring)[0]),
        "erased" if erased else (raw["stage"] or ""),
        when(raw["started_at"]),
        when(raw["lead_at"]),
        str(raw["tips_sent"]),
        str(raw["tips_unknown"]),
        str(raw["tip_clicks"]),
        when(raw["plan_at"]),
        when(raw["contact_at"]),
        when(raw["last_message_at"]),  # to the team inbox
        when(raw["waiting_since"]),  # for a team answer, if waiting now
        when(raw["won_at"]),
        when(raw["unsubscribed_at"]) if raw["still_unsubscribed"] or erased else "",
        when(raw["blocked_at"]) if raw["still_blocked"] or erased else "",
        when(raw["erased_at"]),
    ]
    return [
        cell if name in NUMERIC else neutralise(cell)
        for name, cell in zip(COLUMNS, cells, strict=True)
    ]


async def export_csv(svc: Services) -> tuple[bytes, int]:
    """The CSV (UTF-8 with a BOM so spreadsheet programs detect it) and its number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(COLUMNS)
    count = 0
    # On the reader (its own connection, a longer bound): a long export never holds the
    # store's connection, where handlers and the guard's ping take turns.
    reader = await svc.store.reader()
    async for raw in reader.owner.export_rows():
        writer.writerow(_row(svc, raw))
        count += 1
    return buffer.getvalue().encode("utf-8-sig"), count
