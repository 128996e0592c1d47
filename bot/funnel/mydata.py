"""/mydata: everything stored about a person, in their language, with names instead of ids."""

from __future__ import annotations

from datetime import datetime

from bot.content.catalogue import localized
from bot.funnel.reasons import describe
from bot.funnel.scoring import explain, score
from bot.services import Services
from bot.store import LeadMagnet
from bot.telegram import names
from bot.telegram.html import clip as _clip
from bot.telegram.html import plain_text


def language_name(svc: Services, code: str | None) -> str | None:
    """`fr` -> `Français` (from that language's own texts file), else the code itself."""
    if not code:
        return None
    return svc.texts.by_lang.get(code, {}).get("language_name", code)


def consent_wording(svc: Services, version: str, lang: str) -> str:
    """What the person agreed to: the consent text of that version, else its version name."""
    for table in svc.texts.by_lang.values():
        if table.get("consent_version") == version and table.get("consent"):
            return _quote(lang, plain_text(table["consent"]))
    return svc.texts.get(lang, "mydata_consent_old", version=version)


def magnet_line(svc: Services, item: LeadMagnet, tips: int, lang: str, when: _When) -> str:
    """One guide: its title, when asked and sent, the answer's label, the tips received."""
    texts, default = svc.texts, svc.texts.default
    magnet = svc.catalogue.get(item.magnet_id)
    title = localized(magnet.title, lang, default) if magnet else item.magnet_id
    parts = [f"{texts.get(lang, 'field_requested')} {when(item.requested_at)}"]
    if item.answer_id:
        chosen = magnet.question.answer(item.answer_id) if magnet and magnet.question else None
        shown = localized(chosen.label, lang, default) if chosen else item.answer_id
        fit = texts.get(lang, "field_fit" if item.answer_fit else "field_not_fit")
        parts.append(f"{texts.get(lang, 'field_answer')} {_quote(lang, _clip(shown))} ({fit})")
    if item.delivered_at:
        parts.append(f"{texts.get(lang, 'field_delivered')} {when(item.delivered_at)}")
    if tips:
        parts.append(texts.count(lang, "mydata_tips", tips))
    return f"• {_clip(title)}{texts.get(lang, 'colon')} {', '.join(parts)}"


def _quote(lang: str, text: str) -> str:
    """Quotation marks as the language writes them."""
    return f"«\u202f{text}\u202f»" if lang == "fr" else f"“{text}”"


class _When:
    """Times as the business's clock shows them."""

    def __init__(self, svc: Services) -> None:
        self.zone = svc.settings.zone

    def __call__(self, ts: int | None) -> str:
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m-%d %H:%M") if ts else "-"


async def mydata_lines(svc: Services, person: int, lang: str) -> list[str] | None:
    """The lines of /mydata in `lang`, or None when nothing is stored about the person."""
    store, texts = svc.store, svc.texts
    lead = await store.leads.get(person)
    if lead is None:
        return None
    when = _When(svc)
    colon = texts.get(lang, "colon")

    def line(key: str, value: object, raw: bool = False) -> str:
        shown = "-" if value in (None, "") else (str(value) if raw else _clip(str(value)))
        return f"{texts.get(lang, key)}{colon} {shown}"

    def at(ts: int | None) -> str | None:
        return when(ts) if ts else None

    name = names.full_name(lead.first_name, lead.last_name)
    consent = None
    if lead.consent_at:
        wording = consent_wording(svc, lead.consent_version or "", lang)
        consent = f"{when(lead.consent_at)}, {_clip(wording, 600)}"
    hot = None
    if lead.hot_at:
        why = describe(lead.hot_reason, texts, lang, svc.catalogue) if lead.hot_reason else ""
        hot = f"{when(lead.hot_at)} ({_clip(why)})" if why else when(lead.hot_at)
    total, signals = score(await store.ready.score_facts(person), svc.catalogue.scoring)
    tips = await store.tips.received(person)
    lines = [
        texts.get(lang, "mydata_intro"),
        line("field_id", lead.user_id),
        line("field_name", name),
        line("field_username", f"@{lead.username}" if lead.username else None),
        line("field_language", language_name(svc, lead.language)),
        line("field_source", lead.first_source),
        line("field_email", lead.email),
        line("field_verified", at(lead.email_verified_at)),
        line("field_consent", consent, raw=True),
        line("field_subscribed", texts.get(lang, "yes" if lead.subscribed else "no")),
        line("field_stage", texts.get(lang, f"stage_{lead.stage.value}")),
        line("field_started", when(lead.started_at)),
        line("field_unsubscribed", at(lead.unsubscribed_at)),
        line("field_blocked", at(lead.blocked_at)),
        line("field_hot", hot, raw=True),
        line("field_contacted", at(lead.contacted_at)),
        line("field_won", at(lead.won_at)),
        line("field_tips", sum(tips.values())),
        line("field_score", explain(total, signals, texts, lang)),
    ]
    magnets = await store.leads.lead_magnets(person)
    if magnets:
        lines.append(f"{texts.get(lang, 'field_magnets')}{colon}")
    for item in magnets:
        lines.append(magnet_line(svc, item, tips.get(item.magnet_id, 0), lang, when))
    written = await store.ready.messages(person)
    if written:
        lines.append(f"{texts.get(lang, 'field_messages')}{colon}")
    for _kind, text, sent_at in written:
        lines.append(f"• {when(sent_at)}{colon} {_clip(text, 3500)}")
    relayed, since = await store.team.stored(person)
    if relayed:  # the bot keeps their ids; the copies live in the team's chats until /forget
        lines.append(texts.get(lang, "mydata_inbox", count=str(relayed), since=when(since)))
    return lines
