"""User-facing texts, per language, read from content files owners can edit (TOML)."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

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

# Every key the code uses: the default language's file must define them all.
REQUIRED_KEYS: frozenset[str] = frozenset(
    {
        # Counts: one key per plural form, chosen by Texts.count.
        *(f"{key}_{form}" for key in PLURALS for form in ("one", "other")),
        "why_plan",
        "why_contact",
        "why_wrote",
        "why_tip",
        "why_tip_gone",
        "score_email",
        "score_plan",
        "score_contact",
        "score_nothing",
        "field_score",
        "colon",
        "language_name",
        "mydata_consent_old",
        "email_why_at",
        "email_why_space",
        "email_why_local",
        "email_why_domain",
        "email_why_long",
        "kpi_verified",
        "card_verified",
        "card_unverified",
        "owner_hook_failing",
        "owner_hook_recovered",
        "field_verified",
        "kpi_verification_rate",
        "stats_mails",
        "stats_hooks",
        "stats_hook_failing",
        "stats_hook_idle",
        "stats_hook_ok",
        "code_sent",
        "code_sent_nowait",
        "code_resent",
        "code_waiting",
        "code_verified",
        "code_wrong",
        "code_locked",
        "code_expired",
        "code_none",
        "code_already",
        "code_wait",
        "code_limit",
        "expect_code",
        "ask_new_email",
        "btn_resend_code",
        "btn_change_email",
        "mail_refused",
        "mail_gave_up",
        "mail_subject",
        "mail_body",
        "mail_attached",
        "mail_link",
        "owner_mail_retry",
        "owner_mail_failed",
        "after_delivery",
        "alert_contact",
        "alert_goal",
        "alert_plan",
        "already_answered",
        "answer_thanks",
        "ask_email",
        "bc_ask",
        "bc_bad_html",
        "bc_cancelled",
        "bc_done",
        "bc_dropped",
        "bc_empty",
        "bc_not_draft",
        "bc_pick",
        "bc_preview",
        "bc_progress",
        "bc_running",
        "bc_unknown_confirm",
        "bc_unknown_done",
        "bc_unknown_none",
        "bc_no_poll",
        "bc_not_copyable",
        "bc_no_album",
        "bc_caption_long",
        "bc_draft",
        "btn_bc_version",
        "btn_bc_link",
        "bc_ask_version",
        "bc_no_lang",
        "bc_version_of",
        "bc_ask_link",
        "bc_link_usage",
        "bc_link_scheme",
        "bc_link_host",
        "bc_link_label",
        "bc_link_full",
        "seg_lang",
        "seg_new",
        "btn_bc_later",
        "bc_ask_when",
        "btn_bc_tomorrow",
        "btn_bc_monday",
        "bc_when_bad",
        "bc_when_past",
        "bc_when_far",
        "btn_bc_reschedule",
        "bc_held",
        "btn_bc_send_now",
        "bc_due_empty",
        "bc_report_lang",
        "bc_report_links",
        "btn_bc_unknown",
        "bc_test_sent",
        "btn_bc_cancel",
        "btn_bc_go",
        "btn_bc_stop",
        "btn_bc_test",
        "btn_contacted",
        "btn_forget_no",
        "btn_forget_yes",
        "btn_optin_no",
        "btn_optin_yes",
        "btn_skip",
        "btn_stop_tips",
        "btn_suggest_no",
        "btn_suggest_yes",
        "btn_won",
        "button_expired",
        "cancelled",
        "card_contacted",
        "card_email",
        "card_erased",
        "card_profile",
        "card_score",
        "card_source",
        "card_stage",
        "card_title",
        "card_why",
        "card_won",
        "chart_funnel",
        "chart_months",
        "cmd_broadcast",
        "cmd_cancel",
        "cmd_contact",
        "cmd_export",
        "cmd_forget",
        "cmd_help",
        "cmd_leads",
        "cmd_links",
        "cmd_magnets",
        "cmd_mydata",
        "cmd_plan",
        "cmd_privacy",
        "cmd_start",
        "cmd_stats",
        "cmd_stop",
        "consent",
        "consent_version",
        "contact_ask",
        "contact_sent",
        "delivery_failed",
        "email_invalid",
        "email_saved",
        "email_suggest",
        "error",
        "expect_answer",
        "expect_contact",
        "expect_email",
        "fallback",
        "field_answer",
        "field_blocked",
        "field_consent",
        "field_contacted",
        "field_delivered",
        "field_email",
        "field_fit",
        "field_hot",
        "field_id",
        "field_language",
        "field_magnets",
        "field_messages",
        "field_name",
        "field_not_fit",
        "field_requested",
        "field_source",
        "field_stage",
        "field_started",
        "field_subscribed",
        "field_tips",
        "field_unsubscribed",
        "field_username",
        "field_won",
        "forget_confirm",
        "forget_done",
        "forget_kept",
        "forget_nothing",
        "help",
        "kpi_blocked",
        "kpi_by_source",
        "kpi_churn",
        "kpi_close_rate",
        "kpi_contact",
        "kpi_downloads",
        "kpi_lead_rate",
        "kpi_new_leads",
        "kpi_no_source",
        "kpi_plan",
        "kpi_qualified",
        "kpi_ready",
        "kpi_line",
        "kpi_starts",
        "kpi_tip_clicks",
        "kpi_tips_sent",
        "kpi_tips_unknown",
        "kpi_unsubscribed",
        "kpi_won",
        "leads_hot",
        "leads_none",
        "leads_recent",
        "leads_usage",
        "leads_won",
        "links_intro",
        "links_menu",
        "links_qr_direct",
        "links_qr_source",
        "links_source_long",
        "links_source_magnet",
        "links_usage",
        "magnet_unknown",
        "menu",
        "mydata_intro",
        "mydata_none",
        "no",
        "nothing_to_cancel",
        "optin_again",
        "optin_declined",
        "optin_back",
        "btn_send_again",
        "owner_marked",
        "plan_again",
        "plan_ask_goal",
        "plan_confirmed",
        "privacy",
        "relay_failed",
        "relay_not_lead",
        "inbox_ack",
        "inbox_header",
        "inbox_not_sent_blocked",
        "inbox_not_sent_erased",
        "inbox_not_sent_gone",
        "inbox_not_sent_missing",
        "inbox_topic_opened",
        "inbox_group_refuses",
        "inbox_title",
        "inbox_empty",
        "inbox_line",
        "inbox_topic_link",
        "inbox_private_hint",
        "btn_inbox_done",
        "inbox_marked_done",
        "kpi_conversations",
        "kpi_answered",
        "kpi_first_answer",
        "duration_m",
        "duration_h",
        "duration_d",
        "cmd_inbox",
        "mydata_inbox",
        "seg_all",
        "seg_magnet",
        "seg_source",
        "seg_stage",
        "stage_customer",
        "stage_gone",
        "stage_hot",
        "stage_lead",
        "stage_nurturing",
        "stage_visitor",
        "stats_all",
        "stats_this",
        "stats_title",
        "stats_usage",
        "stop_already",
        "stop_done",
        "unknown_command",
        "welcome",
        "yes",
    }
)

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


def limit_for(key: str) -> int:
    """How long a text may be: 200 for popups, 64 for buttons, 256 for commands, else 4096."""
    if key in POPUPS:
        return 150
    if key.startswith("btn_"):
        return 64
    if key.startswith("cmd_"):
        return 256
    return 3800


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def load_texts(directory: Path, default: str) -> Texts:
    """Read `<lang>.toml` files from `directory`; the default language must define every key."""
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
        reference = by_lang[default]
        missing = sorted(REQUIRED_KEYS - set(reference))
        if missing:
            errors.append(f"{directory / (default + '.toml')}: missing keys {', '.join(missing)}")
        for lang, table in by_lang.items():
            # `bc_lang_<code>`: a language's name as owners read it, for any texts file.
            extra = sorted(k for k in set(table) - REQUIRED_KEYS if not k.startswith("bc_lang_"))
            if extra:
                errors.append(f"{directory / (lang + '.toml')}: unknown keys {', '.join(extra)}")
    if errors:
        raise TextsError("Texts error:\n  " + "\n  ".join(errors))
    return Texts(by_lang=by_lang, default=default)
