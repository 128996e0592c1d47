"""The generated sample PDFs: every text readable (WCAG AA contrast) and a way back to the bot."""

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

PDF_DIR = Path(__file__).resolve().parent.parent / "magnets" / "pdf"
PDFS = sorted(PDF_DIR.glob("*.pdf"))
WHITE = (1.0, 1.0, 1.0)
Colour = tuple[float, float, float]
TOKEN = re.compile(rb"\((?:\\.|[^\\)])*\)|\[|\]|/[^\s/\[\]()<>]+|[^\s/\[\]()<>]+")


@dataclass(frozen=True)
class Rect:
    """A filled rectangle on a page, in PDF points."""

    x0: float
    y0: float
    x1: float
    y1: float
    colour: Colour

    def holds(self, x: float, y: float) -> bool:
        """True when the point lies inside the rectangle."""
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


@dataclass(frozen=True)
class Text:
    """One text run as drawn: its colour and the fill behind its first glyph."""

    text: str
    colour: Colour
    background: Colour


def luminance(colour: Colour) -> float:
    """WCAG relative luminance of an sRGB colour given as 0-1 components."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Colour, b: Colour) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def page_streams(data: bytes) -> list[bytes]:
    """The decompressed content streams of a PDF made by fpdf2 (one per page, plus others)."""
    streams = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            streams.append(zlib.decompress(raw))
        except zlib.error:
            streams.append(raw)
    return [s for s in streams if b" Tj" in s or b" TJ" in s]


def texts(stream: bytes) -> list[Text]:
    """Interpret a content stream: each text run with its fill colour and what lies behind it."""
    fill: Colour = (0.0, 0.0, 0.0)
    saved: list[Colour] = []
    path: list[tuple[float, float, float, float]] = []
    rects: list[Rect] = []
    size, x, y = 0.0, 0.0, 0.0
    operands: list[bytes] = []
    found: list[Text] = []
    for token in TOKEN.findall(stream):
        if token[:1] in b"(/[]" or re.fullmatch(rb"-?[\d.]+", token):
            operands.append(token)
            continue
        nums = [float(t) for t in operands if re.fullmatch(rb"-?[\d.]+", t)]
        if token == b"q":
            saved.append(fill)
        elif token == b"Q":
            fill = saved.pop()
        elif token == b"rg":
            fill = (nums[-3], nums[-2], nums[-1])
        elif token == b"g":
            fill = (nums[-1],) * 3
        elif token == b"re":
            rx, ry, rw, rh = nums[-4:]
            path.append((min(rx, rx + rw), min(ry, ry + rh), max(rx, rx + rw), max(ry, ry + rh)))
        elif token in (b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*"):
            rects.extend(Rect(*box, fill) for box in path)
            path = []
        elif token in (b"S", b"s", b"n"):
            path = []
        elif token == b"Tf":
            size = nums[-1]
        elif token == b"Td":
            x, y = nums[-2], nums[-1]
        elif token in (b"Tj", b"TJ"):
            run = b"".join(t[1:-1] for t in operands if t.startswith(b"(")).decode("latin-1")
            if run.strip():
                behind = [r for r in rects if r.holds(x + 1, y + size * 0.35)]
                found.append(Text(run, fill, behind[-1].colour if behind else WHITE))
        operands = []
    return found


def test_every_sample_pdf_is_checked() -> None:
    assert len(PDFS) >= 6


@pytest.mark.parametrize("pdf", PDFS, ids=lambda p: p.name)
def test_every_text_has_aa_contrast(pdf: Path) -> None:
    runs = [t for s in page_streams(pdf.read_bytes()) for t in texts(s)]
    assert len(runs) > 50
    poor = {
        (t.text[:40], round(contrast(t.colour, t.background), 2))
        for t in runs
        if contrast(t.colour, t.background) < 4.5
    }
    assert not poor


@pytest.mark.parametrize("pdf", PDFS, ids=lambda p: p.name)
def test_every_guide_ends_with_the_way_back_to_the_bot(pdf: Path) -> None:
    data = pdf.read_bytes()
    last_page = page_streams(data)[-1].decode("latin-1")
    link = re.search(r"https://t\.me/[A-Za-z0-9_]{5,32}\?start=pdf", last_page)
    assert link, "the last page shows the bot's t.me link"
    assert f"/URI ({link.group(0)})".encode() in data, "the link can be clicked"
    assert b"/Subtype /Image" in data, "with a QR code"


def test_the_parser_sees_the_dark_cells_of_a_table() -> None:
    stream = (
        b"0.1098 0.3373 0.5882 rg\n56.69 711.50 269.29 22.68 re f\nBT /F2 9.50 Tf ET\n"
        b"q BT 62.36 719.98 Td 0.1569 0.1569 0.1569 rg (Chair dip) Tj ET Q\n"
        b"BT 62.36 600 Td (On white, in blue) Tj ET\n"
    )
    dark, blue = texts(stream)
    assert round(contrast(dark.colour, dark.background), 2) == 1.98
    assert dark.text == "Chair dip"
    assert blue.background == WHITE and blue.colour == (0.1098, 0.3373, 0.5882)


@pytest.mark.parametrize(
    "pdf", [p for p in PDFS if p.name.endswith(".fr.pdf")], ids=lambda p: p.name
)
def test_french_punctuation_never_starts_a_line(pdf: Path) -> None:
    lines = [t.text for s in page_streams(pdf.read_bytes()) for t in texts(s)]
    assert not [line for line in lines if line.lstrip()[:1] in set(";:!?»")]
