"""Telegram's HTML parse mode: what it accepts, and how long a text is once parsed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Tags Telegram accepts with parse_mode=HTML, and the attributes each may carry.
ALLOWED: dict[str, set[str]] = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "span": {"class"},
    "tg-spoiler": set(),
    "a": {"href"},
    "tg-emoji": {"emoji-id"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
}


class _Checker(HTMLParser):
    """Walks a text the way Telegram's parser would, collecting the first error and the plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None
        self.plain: list[str] = []

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self._fail(f"unsupported start tag \"{tag}\"")
            return
        for name, value in attrs:
            if name not in ALLOWED[tag]:
                self._fail(f"unsupported attribute \"{name}\" in tag \"{tag}\"")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self._fail("tag \"span\" must have class \"tg-spoiler\"")
        if tag == "a" and not dict(attrs).get("href"):
            self._fail("tag \"a\" needs an href")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f"unsupported self-closing tag \"{tag}\"")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self._fail(f"unmatched end tag \"{tag}\"")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.plain.append(data)

    def handle_comment(self, data: str) -> None:
        self._fail("comments are not supported")

    def handle_decl(self, decl: str) -> None:
        self._fail("declarations are not supported")

    def handle_pi(self, data: str) -> None:
        self._fail("processing instructions are not supported")

    def unknown_decl(self, data: str) -> None:
        self._fail("unknown declaration")


def _parse(text: str) -> _Checker:
    checker = _Checker()
    # A bare `<` or `&` that is not a tag or an entity is an error for Telegram; HTMLParser is
    # lenient, so look for them first.
    _raw_errors(text, checker)
    checker.feed(text)
    checker.close()
    if checker.stack and checker.error is None:
        checker.error = f"can't find end tag corresponding to start tag \"{checker.stack[-1]}\""
    return checker


def _raw_errors(text: str, checker: _Checker) -> None:
    for match in re.finditer(r"<(?!/?[a-zA-Z][a-zA-Z0-9-]*[\s>/])", text):
        checker._fail(f"unescaped \"<\" at byte offset {match.start()}")
    for match in re.finditer(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)", text):
        checker._fail(f"unescaped \"&\" at byte offset {match.start()}")
    for match in re.finditer(r">", text):
        before = text[: match.start()]
        if before.rfind("<") <= before.rfind(">"):
            checker._fail(f"unescaped \">\" at byte offset {match.start()}")
            break


def html_error(text: str) -> str | None:
    """Why Telegram would refuse this HTML text ("can't parse entities"), or None if it is fine."""
    return _parse(text).error


def plain_text(text: str) -> str:
    """The text as the user sees it (tags removed, entities decoded)."""
    return "".join(_parse(text).plain)


def visible_length(text: str) -> int:
    """Length counted the way Telegram counts its 4096/1024 limits (after entity parsing)."""
    return len(plain_text(text))
