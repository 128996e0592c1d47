"""User-facing texts, per language, read from content files owners can edit (TOML)."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from telegram.constants import BotCommandLimit, CallbackQueryLimit, MessageLimit

from bot.telegram.html import html_error, visible_length

# Texts with a count, as `<key>_one` and `<key>_other` (Texts.count), and what else they use.
PLURALS: dict[str, set[str]] = {
    "bc_started": {"id"},
    "bc_scheduled": {"id", "when", "zone", "segment"},
    "export_caption": set(),
    "score_fit": set(),
    "score_not_fit": set(),
    "score_click": set(),
    "score_guides": set(),
    "mydata_tips": set(),
    "minutes": set(),  # how long a code works, e.g. "30 minutes", filled into {minutes}
    "owner_hook_failed": {"host", "hours", "error"},
    "owner_hooks_retired": set(),
    "owner_updates_set_aside": set(),
    "inbox_messages": set(),
    "kpi_source_conversations": {"answered"},
}

# The English texts shipped beside the code: their keys are every key the bot knows (a test
# checks that the code's keys are all there, tests/test_text_keys.py).
REFERENCE = Path(__file__).resolve().parents[2] / "magnets" / "texts" / "en.toml"
# `bc_lang_<code>`: a language's name as owners read it; any texts file may add its own.
FREE_PREFIX = "bc_lang_"

# Placeholders each text may use; a text using another name is a content error at start-up.
PLACEHOLDERS: dict[str, set[str]] = {
    **{
        f"{key}_{form}": {"count", *names}
        for key, names in PLURALS.items()
        for form in ("one", "other")
    },
    "why_wrote": {"phrase"},
    "why_tip": {"button", "tip", "title"},
    "why_tip_gone": {"title"},
    "mydata_consent_old": {"version"},
    "stats_mails": {"sent", "pending", "failed"},
    "stats_hooks": {"sent", "pending", "failed"},
    "stats_hook_ok": {"host", "waiting"},
    "stats_hook_idle": {"host", "waiting"},
    "stats_hook_failing": {"host", "waiting", "since", "error"},
    "owner_hook_failing": {"host", "since", "hours", "error"},
    "owner_hook_recovered": {"host", "since", "hours", "error"},
    "code_sent": {"email", "minutes"},
    "code_sent_nowait": {"email", "minutes"},
    "code_resent": {"email", "minutes"},
    "code_waiting": {"email"},
    "code_verified": {"email"},
    "code_wrong": {"left"},
    "code_locked": {"left"},
    "code_expired": {"left"},
    "code_none": {"left"},
    "code_wait": {"seconds"},
    "mail_refused": {"email", "reason"},
    "mail_gave_up": {"email", "reason"},
    "mail_subject": {"code"},
    "mail_body": {"code", "minutes", "extra"},
    "mail_attached": {"title"},
    "mail_link": {"title", "link"},
    "owner_mail_retry": {"reason"},
    "owner_mail_failed": {"lead", "reason"},
    "welcome": {"name"},
    "ask_email": {"title", "description"},
    "email_invalid": {"reason"},
    "email_suggest": {"email"},
    "email_saved": {"email"},
    "already_answered": {"answer"},
    "optin_again": {"title"},
    "optin_back": {"title"},
    "alert_goal": {"name"},
    "owner_marked": {"status"},
    "relay_failed": {"name"},
    "inbox_header": {"name", "handle"},
    "inbox_group_refuses": {"reason"},
    "inbox_title": {"count"},
    "inbox_line": {"n", "name", "handle", "waited", "messages", "link"},
    "inbox_topic_link": {"url"},
    "btn_inbox_done": {"n"},
    "duration_m": {"m"},
    "duration_h": {"h", "m"},
    "duration_d": {"d", "h"},
    "mydata_inbox": {"count", "since"},
    "stats_title": {"zone"},
    "kpi_line": {"label", "values"},
    "chart_funnel": {"period"},
    "leads_hot": {"count"},
    "leads_recent": {"count"},
    "leads_won": {"count"},
    "links_intro": {"source"},
    "links_qr_source": {"source"},
    "links_source_magnet": {"name"},
    "links_source_long": {"name", "max"},
    "bc_bad_html": {"reason"},
    "bc_pick": {"id"},
    "seg_magnet": {"title"},
    "seg_stage": {"stage"},
    "seg_source": {"source"},
    "bc_preview": {"count", "segment"},
    "bc_empty": {"segment"},
    "btn_bc_go": {"count"},
    "btn_bc_stop": {"id"},
    "bc_progress": {"id", "sent", "blocked", "gone", "failed", "unknown", "remaining", "clicks"},
    "bc_done": {"id", "sent", "blocked", "gone", "failed", "unknown", "remaining", "clicks"},
    "bc_cancelled": {"id", "sent", "blocked", "gone", "failed", "unknown", "remaining", "clicks"},
    "bc_dropped": {"id"},
    "bc_running": {"id", "sent", "total"},
    "btn_bc_unknown": {"count"},
    "bc_unknown_confirm": {"id", "count"},
    "bc_unknown_done": {"id"},
    "bc_unknown_none": {"id"},
    "bc_caption_long": {"length"},
    "bc_draft": {"id", "versions", "links"},
    "btn_bc_version": {"language"},
    "bc_ask_version": {"language"},
    "bc_no_lang": {"languages"},
    "bc_version_of": {"language"},
    "seg_lang": {"language"},
    "seg_new": {"days"},
    "bc_ask_when": {"zone"},
    "bc_when_bad": {"zone"},
    "bc_when_past": {"zone"},
    "bc_when_far": {"zone"},
    "bc_held": {"id", "when"},
    "bc_due_empty": {"id", "when"},
    "bc_report_lang": {"language", "sent", "total", "clicks"},
    "bc_report_links": {"labels"},
}


class TextsError(Exception):
    """The texts cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Texts:
    """All texts by language, with a default language that has every key."""

    by_lang: dict[str, dict[str, str]]
    default: str

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with a texts file, default first."""
        return (self.default, *sorted(k for k in self.by_lang if k != self.default))

    def lang_for(self, code: str | None) -> str:
        """The supported language for a Telegram language_code like `fr-CA`, else the default."""
        base = (code or "").split("-")[0].lower()
        return base if base in self.by_lang else self.default

    def get(self, lang: str, key: str, **values: str) -> str:
        """The text for `key` in `lang` (falling back to the default), formatted with `values`."""
        table = self.by_lang.get(lang, {})
        template = table.get(key) or self.by_lang[self.default][key]
        return template.format(**values)  # always, so `{{` written in a text shows as `{`

    def count(self, lang: str, key: str, count: int, **values: str) -> str:
        """`key_one` or `key_other` for `count`, as `lang` says it ("1 person", "2 people")."""
        form = "one" if _is_one(lang, count) else "other"
        return self.get(lang, f"{key}_{form}", count=str(count), **values)


def english_count(count: int, one: str, other: str | None = None) -> str:
    """`1 magnet`, `3 magnets`: a count for operators' English output (aimant check, logs)."""
    return f"{count} {one if count == 1 else (other or one + 's')}"


def _is_one(lang: str, count: int) -> bool:
    """Whether `count` takes the singular: French says "0 personne", English "0 people"."""
    return count in (0, 1) if lang == "fr" else count == 1


# Telegram's limits for where each text goes (room is left for what fills the placeholders).
POPUPS = frozenset(
    {
        "button_expired",
        "already_answered",
        "answer_thanks",
        "owner_marked",
        "bc_test_sent",
        "bc_not_draft",
        "code_wait",
        "code_already",
    }
)


# Ours: Telegram documents no limit for a button's text.
BUTTON_MAX = 64
# Room kept under Telegram's limit for what fills a popup's or a message's placeholders.
POPUP_ROOM, MESSAGE_ROOM = 50, 296


def limit_for(key: str) -> int:
    """How long a text may be: under Telegram's limits (popups 200, commands' descriptions 256,
    messages 4096) with room for the placeholders, 64 for buttons."""
    if key in POPUPS:
        return CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH - POPUP_ROOM  # 150
    if key.startswith("btn_"):
        return BUTTON_MAX
    if key.startswith("cmd_"):
        return int(BotCommandLimit.MAX_DESCRIPTION)  # 256
    return MessageLimit.MAX_TEXT_LENGTH - MESSAGE_ROOM  # 3800


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def known_keys(fallback: dict[str, str]) -> frozenset[str]:
    """The keys of the reference file (REFERENCE), without the free `bc_lang_` ones.

    An install without the source tree beside it (a wheel) has no REFERENCE: the keys of
    `fallback` (the English, else the default language's texts being loaded) stand in.
    """
    try:
        keys = tomllib.loads(REFERENCE.read_text(encoding="utf-8")).keys()
    except FileNotFoundError:
        keys = fallback.keys()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TextsError(f"{REFERENCE}: cannot read texts: {exc}") from None
    return frozenset(k for k in keys if not k.startswith(FREE_PREFIX))


def load_texts(directory: Path, default: str) -> Texts:
    """Read `<lang>.toml` files from `directory`; the default language must define every key
    of the reference file, and no file a key outside it."""
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise TextsError(f"{directory}: no texts files (expected en.toml, fr.toml; TEXTS_DIR)")
    by_lang: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    for path in files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TextsError(f"{path}: cannot read texts: {exc}") from None
        table: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str) or not value.strip():
                errors.append(f"{path}, key {key}: must be a non-empty string")
                continue
            problem = html_error(value)
            if problem:
                errors.append(f"{path}, key {key}: not valid Telegram HTML: {problem}")
            elif visible_length(value) > limit_for(key):
                errors.append(
                    f"{path}, key {key}: {visible_length(value)} characters, the limit here is"
                    f" {limit_for(key)}"
                )
            try:
                unknown = _fields(value) - PLACEHOLDERS.get(key, set())
            except ValueError:
                errors.append(
                    f"{path}, key {key}: a lone {{ or }} (write {{{{ or }}}} for a brace)"
                )
                continue
            if unknown:
                errors.append(f"{path}, key {key}: unknown placeholder {{{', '.join(unknown)}}}")
            table[key] = value
        by_lang[path.stem] = table
    if default not in by_lang:
        errors.append(f"{directory}: no {default}.toml for the default language (DEFAULT_LANGUAGE)")
    else:
        known = known_keys(by_lang.get("en", by_lang[default]))
        missing = sorted(known - set(by_lang[default]))
        if missing:
            errors.append(f"{directory / (default + '.toml')}: missing keys {', '.join(missing)}")
        for lang, table in by_lang.items():
            extra = sorted(k for k in set(table) - known if not k.startswith(FREE_PREFIX))
            if extra:
                errors.append(f"{directory / (lang + '.toml')}: unknown keys {', '.join(extra)}")
    if errors:
        raise TextsError("Texts error:\n  " + "\n  ".join(errors))
    return Texts(by_lang=by_lang, default=default)
