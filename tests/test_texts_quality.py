"""What people read is well made: French typography, spelling and wording; English plurals."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content.texts import PLURALS, load_texts

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "magnets" / "texts"
CATALOGUE = ROOT / "magnets" / "catalogue.toml"
NNBSP = "\u202f"  # NARROW NO-BREAK SPACE: French puts it before ; : ! ? » and after «

# Not prose: URLs, HTML tags and their attributes, {placeholders}, times such as 09:00.
_NOT_PROSE = re.compile(r"[a-z][a-z0-9+.-]*://\S+|<[^>]*>|\{[^{}]*\}|\d:\d")

# Words that must not come back, per language: misspellings, anglicisms, masculine-only forms.
BANNED: dict[str, list[str]] = {
    "fr": [
        r"\bbaille\b",  # bâille
        r"\boeil\b",  # œil
        r"\boeuf",  # œuf
        r"\bquoi (porter|planter)\b",  # que porter, que planter
        r"\bde \{name\}",  # "Objectif de Ada": no elision for a name that starts with a vowel
        r"\bclosing\b",  # taux de signature
        r"(?<![/{])\bleads?\b(?![.}])",  # prospects, contacts (not /leads, {lead}, lead.erased)
        r"\bvenu par\b",
        r"\bdevenu client\b",
        r"\bamené ici\b",
        r"\bprêt pour\b",
        r"\bpour chacun\b",
        r"\bs'est désinscrit\b",
        r"\bcontacté par nous\b",
    ],
    "en": [r"\(s\)", r"\bto 1 people\b", r"\bmore guide \+"],
}


def _strings(value: object, lang: str | None = None) -> Iterator[tuple[str, str]]:
    """(language, text) for every string in a TOML value, the language from the nearest key."""
    if isinstance(value, str):
        if lang is not None:
            yield lang, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, key if key in ("en", "fr") else lang)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, lang)


def texts_of(lang: str) -> list[tuple[str, str]]:
    """(where, text) for every text of `lang`: its texts file and the catalogue."""
    table = tomllib.loads((TEXTS / f"{lang}.toml").read_text(encoding="utf-8"))
    found = [(f"{lang}.toml {key}", value) for key, value in table.items()]
    catalogue = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    found += [("catalogue.toml", text) for of, text in _strings(catalogue) if of == lang]
    return found


def french_typography_errors(text: str) -> list[str]:
    """Each place where French wants a narrow no-break space and has none (or another space)."""
    prose = _NOT_PROSE.sub(lambda m: "x" * len(m.group()), text)
    errors = []
    for match in re.finditer(r"[;:!?»]", prose):
        at = match.start()
        before = prose[at - 1] if at else ""
        if before == NNBSP or (match.group() in "!?" and before in "!?"):
            continue
        errors.append(f"{text[max(at - 12, 0) : at + 2]!r}: {match.group()} needs U+202F before")
    for match in re.finditer("«", prose):
        if prose[match.end() : match.end() + 1] != NNBSP:
            errors.append(f"{text[match.start() : match.end() + 12]!r}: « needs U+202F after")
    return errors


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_texts_have_no_banned_words(lang: str) -> None:
    problems = [
        f"{where}: {pattern} in {text[:80]!r}"
        for where, text in texts_of(lang)
        for pattern in BANNED[lang]
        if re.search(pattern, text, re.IGNORECASE)
    ]
    assert not problems, "\n".join(problems)


def test_french_typography_uses_narrow_no_break_spaces() -> None:
    problems = [
        f"{where}: {error}"
        for where, text in texts_of("fr")
        for error in french_typography_errors(text)
    ]
    assert not problems, "\n".join(problems)


def test_the_checker_sees_what_it_must_and_spares_the_rest() -> None:
    n = NNBSP
    for bad in ("Bonjour !", "Nom :", "Quoi?", "« titre »", f"«{n}titre »", "a ; b", "</b> :"):
        assert french_typography_errors(bad), bad
    for good in (
        f"Bonjour{n}!",
        f"Nom{n}: {{email}}",
        f"«{n}titre{n}»",
        "https://example.com/a?b=c:d",
        '<a href="https://x.fr">lien</a>',
        "de 09:00 à 20:00",
        "{count}",
        f"Quoi{n}?!",
    ):
        assert not french_typography_errors(good), good


def test_every_count_has_both_plural_forms_in_each_language() -> None:
    for lang in ("en", "fr"):
        table = tomllib.loads((TEXTS / f"{lang}.toml").read_text(encoding="utf-8"))
        for key in PLURALS:
            assert f"{key}_one" in table and f"{key}_other" in table, (lang, key)
    texts = load_texts(TEXTS, "en")
    assert texts.count("en", "bc_started", 1, id="3") == "📣 Broadcast #3 to 1 person: sending…"
    assert texts.count("en", "bc_started", 2, id="3") == "📣 Broadcast #3 to 2 people: sending…"
    assert texts.count("en", "score_guides", 0) == "0 more guides"
    assert texts.count("fr", "score_guides", 0) == "0 guide de plus"  # French: 0 is singular
    assert texts.count("fr", "mydata_tips", 2) == "2 conseils reçus"
    one_minute = texts.count("en", "minutes", 1)
    assert "(valid for 1 minute)" in texts.get("en", "code_resent", email="a", minutes=one_minute)
    assert "(valable 30 minutes)" in texts.get(
        "fr", "code_resent", email="a", minutes=texts.count("fr", "minutes", 30)
    )


def test_the_stop_button_says_it_stops_everything() -> None:
    texts = load_texts(TEXTS, "en")
    assert texts.get("en", "btn_stop_tips") == "🔕 Stop messages from us"
    assert texts.get("fr", "btn_stop_tips") == "🔕 Ne plus rien recevoir"
