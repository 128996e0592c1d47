"""The English texts file is the list of keys: the code's keys are all in it, and it holds no
key the code never asks for."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content import texts as texts_module
from bot.content.texts import FREE_PREFIX, PLURALS, REFERENCE, TextsError, load_texts

ROOT = Path(__file__).resolve().parents[1]
CODE = [*sorted((ROOT / "bot").rglob("*.py")), *sorted((ROOT / "handlers").rglob("*.py"))]

# Where a text key is passed: the function's name and the position of its key argument.
KEY_ARGUMENT = {
    "t": 2,  # handlers.common.t(context, lang, "key")
    "label": 0,  # handlers.stats: label("key")
    "line": 0,  # bot.funnel.mydata: line("key", value)
    "_give_up": 1,  # bot.inbox.relay: self._give_up(relay, "key", why)
}

# Keys no code asks for any more, still in the shipped files: owners' own texts files that
# define them keep loading (an unknown key stops start-up).
KEPT_UNUSED = {"stats_this"}  # an older /stats label ("this month")


def _reference() -> dict[str, object]:
    return tomllib.loads(REFERENCE.read_text(encoding="utf-8"))


def _trees() -> Iterator[tuple[Path, ast.AST]]:
    for path in CODE:
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _key_at(call: ast.Call) -> tuple[str, str] | None:
    """("get" or "count", key) for `<...>texts.get(lang, "key")`, ("t", key) for the other
    helpers, None when the call passes no literal key."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("get", "count"):
        owner = func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        index, kind = (1, func.attr) if name == "texts" else (-1, "")
    else:
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        index, kind = KEY_ARGUMENT.get(name, -1), "get"
    if 0 <= index < len(call.args):
        arg = call.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return kind, arg.value
    return None


def _used() -> list[tuple[str, str, str]]:
    """(where, "get" or "count", key) for every literal text key in bot/ and handlers/."""
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (hit := _key_at(node)):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", *hit))
    return found


def test_every_key_the_code_asks_for_is_in_the_reference() -> None:
    keys = set(_reference())
    used = _used()
    assert len(used) > 200  # the scan sees the calls (a rename of `t` or `texts` would hide them)
    absent = [(where, key) for where, kind, key in used if kind == "get" and key not in keys]
    assert not absent, f"keys used but not in {REFERENCE.name}: {absent}"
    counted = [(where, key) for where, kind, key in used if kind == "count"]
    assert counted
    for where, key in counted:
        assert key in PLURALS, f"{where}: {key} is counted but not in PLURALS"
        assert {f"{key}_one", f"{key}_other"} <= keys, f"{where}: {key} lacks a plural form"


def test_every_plural_has_both_forms_in_the_reference() -> None:
    keys = set(_reference())
    assert {f"{key}_{form}" for key in PLURALS for form in ("one", "other")} <= keys


def test_every_key_in_the_reference_is_asked_for_somewhere() -> None:
    """Each key is a string in the code, or the stem of a plural, or starts with a prefix the
    code completes (f"stage_{stage}", "cmd_" + name, bc_lang_<code>...)."""
    strings: set[str] = set()
    prefixes = {FREE_PREFIX}
    for path, tree in _trees():
        if path.name == "texts.py" and path.parent.name == "content":
            continue  # its tables name keys (placeholders, limits): declaring is not asking
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    prefixes.add(first.value)
            elif isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant):
                prefixes.add(str(node.left.value))
    prefixes = {p for p in prefixes if re.fullmatch(r"[a-z_]+_", p)}
    unused = {
        key
        for key in _reference()
        if key not in strings
        and re.sub(r"_(one|other)$", "", key) not in strings
        and not any(key.startswith(p) for p in prefixes)
    }
    assert unused - KEPT_UNUSED == set(), f"keys in {REFERENCE.name} no code asks for"
    assert unused >= KEPT_UNUSED, "a kept key is asked for again: take it out of KEPT_UNUSED"


def test_every_shipped_language_has_exactly_the_reference_keys() -> None:
    reference = set(_reference())
    for path in sorted(REFERENCE.parent.glob("*.toml")):
        keys = set(tomllib.loads(path.read_text(encoding="utf-8")))
        assert keys == reference, (path.name, sorted(keys ^ reference))


def _copy(folder: Path, drop: str = "", **extra: str) -> None:
    """The reference texts as `folder/en.toml`, without the (one-line) key `drop`, with `extra`."""
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    body = "\n".join(line for line in lines if not (drop and line.startswith(f"{drop} =")))
    body += "".join(f'\n{key} = "{value}"' for key, value in extra.items())
    (folder / "en.toml").write_text(body + "\n", encoding="utf-8")


def test_a_missing_and_an_unknown_key_are_named(tmp_path: Path) -> None:
    _copy(tmp_path, drop="menu", colour="Blue", bc_lang_de="Deutsch")
    (tmp_path / "fr.toml").write_text('menu = "Menu"\nhelo = "Salut"\n', encoding="utf-8")
    with pytest.raises(TextsError) as info:
        load_texts(tmp_path, "en")
    message = str(info.value)
    assert f"{tmp_path / 'en.toml'}: missing keys menu" in message
    assert f"{tmp_path / 'en.toml'}: unknown keys colour" in message
    assert f"{tmp_path / 'fr.toml'}: unknown keys helo" in message
    assert "bc_lang_de" not in message  # a language's name: any file may add one
    (tmp_path / "fr.toml").write_text('menu = "Menu"\n', encoding="utf-8")
    _copy(tmp_path)
    assert load_texts(tmp_path, "en").get("fr", "yes") == load_texts(tmp_path, "en").get(
        "en", "yes"
    )  # a key missing in French falls back to the default language


def test_without_the_reference_the_english_texts_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(texts_module, "REFERENCE", tmp_path / "gone" / "en.toml")
    _copy(tmp_path)
    (tmp_path / "fr.toml").write_text('menu = "Menu"\nhelo = "Salut"\n', encoding="utf-8")
    with pytest.raises(TextsError, match=r"fr\.toml: unknown keys helo"):
        load_texts(tmp_path, "fr")
