"""The content catalogue: magnets, PDFs, qualifying questions and nurture tips (TOML)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from telegram.constants import MessageLimit

from bot.funnel.scoring import Scoring
from bot.telegram.html import html_error, visible_length

SLUG = r"^[a-z0-9][a-z0-9-]*$"
DELAY = re.compile(r"^(\d{1,6})([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Callback data is `ans:<magnet>:<answer>`: 4 + 24 + 1 + 16 = 45 bytes, under Telegram's 64.
MagnetId = Annotated[str, StringConstraints(pattern=SLUG, min_length=1, max_length=24)]
ShortId = Annotated[str, StringConstraints(pattern=SLUG, min_length=1, max_length=16)]


class CatalogueError(Exception):
    """The catalogue cannot be used; the message names the file, the magnet and the field."""


def parse_delay(text: str) -> int:
    """`30s`, `6h`, `2d` -> seconds."""
    match = DELAY.match(text.strip())
    if not match:
        raise ValueError(f"bad delay {text!r}: use a number and s, m, h or d, like 30s, 6h, 2d")
    return int(match.group(1)) * UNITS[match.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def localized(texts: dict[str, str], lang: str, default: str) -> str:
    """A per-language text in `lang`, else the default language, else any language."""
    return texts.get(lang) or texts.get(default) or next(iter(texts.values()))


def _check_lang_texts(value: dict[str, str], limit: int, html: bool) -> dict[str, str]:
    """Every language text is non-empty, valid Telegram HTML and within Telegram's limit."""
    if not value:
        raise ValueError('needs at least one language, e.g. { en = "..." }')
    for lang, text in value.items():
        if not re.fullmatch(r"[a-z]{2}", lang):
            raise ValueError(f"{lang!r} is not a two-letter language code")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"[{lang}] is empty")
        if html:
            problem = html_error(text)
            if problem:
                raise ValueError(f"[{lang}] is not valid Telegram HTML: {problem}")
        length = visible_length(text) if html else len(text)
        if length > limit:
            raise ValueError(f"[{lang}] is {length} characters, the limit is {limit}")
    return value


def lang_texts(limit: int, *, html: bool) -> AfterValidator:
    """A validator for a per-language text table with Telegram's limit for that field."""
    return AfterValidator(lambda value: _check_lang_texts(value, limit, html))


Texts = dict[str, str]
Plain40 = Annotated[Texts, lang_texts(40, html=False)]
Plain60 = Annotated[Texts, lang_texts(60, html=False)]
PathTexts = Annotated[Texts, lang_texts(500, html=False)]
Html300 = Annotated[Texts, lang_texts(300, html=True)]
Html600 = Annotated[Texts, lang_texts(600, html=True)]
Caption = Annotated[Texts, lang_texts(MessageLimit.CAPTION_LENGTH, html=True)]  # 1024
Message = Annotated[Texts, lang_texts(MessageLimit.MAX_TEXT_LENGTH, html=True)]  # 4096


def _no_duplicates(ids: list[str], what: str) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate {what} id {', '.join(dupes)}")


class Answer(_Model):
    """One answer to a qualifying question."""

    id: ShortId
    label: Plain40
    fit: bool


class Question(_Model):
    """The optional qualifying question of a magnet."""

    text: Html300
    answers: list[Answer] = Field(min_length=2, max_length=6)

    @field_validator("answers")
    @classmethod
    def _unique(cls, v: list[Answer]) -> list[Answer]:
        _no_duplicates([a.id for a in v], "answer")
        return v

    def answer(self, answer_id: str) -> Answer | None:
        """The answer with that id, if any."""
        return next((a for a in self.answers if a.id == answer_id), None)


class Tip(_Model):
    """A nurture tip, sent `delay` after the capture (first tip) or after the previous tip."""

    id: ShortId
    delay: str
    text: Message
    cta: Plain40 | None = None
    after_hot: bool = False  # still sent once the person is ready to talk (sequences end there)

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: str) -> str:
        parse_delay(v)
        return v

    @property
    def delay_seconds(self) -> int:
        """The delay in seconds."""
        return parse_delay(self.delay)


class Magnet(_Model):
    """A free guide offered in exchange for an email."""

    id: MagnetId
    title: Plain60
    description: Html600
    pdf: PathTexts
    caption: Caption
    question: Question | None = None
    tips: list[Tip] = Field(default_factory=list)

    @field_validator("tips")
    @classmethod
    def _unique_tips(cls, v: list[Tip]) -> list[Tip]:
        _no_duplicates([t.id for t in v], "tip")
        return v


class _CatalogueFile(_Model):
    magnets: list[Magnet] = Field(min_length=1)
    scoring: Scoring = Field(default_factory=Scoring)


@dataclass(frozen=True)
class PdfFile:
    """A magnet's PDF in one language, with the digest that keys Telegram's file_id cache."""

    path: Path
    sha256: str

    @property
    def name(self) -> str:
        """The file name shown to the user."""
        return self.path.name


@dataclass(frozen=True)
class Catalogue:
    """The validated catalogue."""

    path: Path
    magnets: tuple[Magnet, ...]
    pdfs: dict[tuple[str, str], PdfFile]  # (magnet id, language) -> file
    scoring: Scoring = field(default_factory=Scoring)

    def get(self, magnet_id: str) -> Magnet | None:
        """The magnet with that id, if any."""
        return next((m for m in self.magnets if m.id == magnet_id), None)

    def tip(self, magnet_id: str, tip_id: str) -> Tip | None:
        """A magnet's tip by id, if both still exist."""
        magnet = self.get(magnet_id)
        return next((t for t in magnet.tips if t.id == tip_id), None) if magnet else None

    def pdf(self, magnet: Magnet, lang: str, default_lang: str) -> PdfFile:
        """The PDF in the user's language, else the default language, else any."""
        for code in (lang, default_lang, *sorted(magnet.pdf)):
            if (magnet.id, code) in self.pdfs:
                return self.pdfs[(magnet.id, code)]
        raise KeyError(magnet.id)  # unreachable: validation requires one PDF


def _where(path: Path, data: object, loc: tuple[int | str, ...]) -> str:
    """`file, magnet 'x', field a.b` for an error location."""
    magnet = ""
    if len(loc) >= 2 and loc[0] == "magnets" and isinstance(loc[1], int):
        try:
            raw_id = data["magnets"][loc[1]].get("id")  # type: ignore[index]
        except (KeyError, IndexError, TypeError, AttributeError):
            raw_id = None
        magnet = f", magnet {raw_id!r}" if raw_id else f", magnet #{loc[1] + 1}"
        loc = loc[2:]
    field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    return f"{path}{magnet}, field {field or '(top level)'}"


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate the catalogue, or raise CatalogueError naming file, magnet and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"{path}: catalogue file not found (setting CATALOGUE_PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _CatalogueFile.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{_where(path, data, tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise CatalogueError("Catalogue error:\n  " + "\n  ".join(lines)) from None
    errors: list[str] = []
    seen: set[str] = set()
    pdfs: dict[tuple[str, str], PdfFile] = {}
    for magnet in parsed.magnets:
        if magnet.id in seen:
            errors.append(f"{path}, magnet {magnet.id!r}, field id: duplicate magnet id")
        seen.add(magnet.id)
        for lang, rel in magnet.pdf.items():
            pdf_path = (path.parent / rel).resolve()
            where = f"{path}, magnet {magnet.id!r}, field pdf.{lang}"
            try:
                content = pdf_path.read_bytes()
            except OSError:
                errors.append(f"{where}: PDF file not found: {pdf_path}")
                continue
            if not content.startswith(b"%PDF-"):
                errors.append(f"{where}: {pdf_path} is not a PDF file")
                continue
            if len(content) > 50 * 1024 * 1024:
                errors.append(f"{where}: {pdf_path} is over Telegram's 50 MB limit for bots")
                continue
            pdfs[(magnet.id, lang)] = PdfFile(pdf_path, hashlib.sha256(content).hexdigest())
    if errors:
        raise CatalogueError("Catalogue error:\n  " + "\n  ".join(errors))
    return Catalogue(path=path, magnets=tuple(parsed.magnets), pdfs=pdfs, scoring=parsed.scoring)
