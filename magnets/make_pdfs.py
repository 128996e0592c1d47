"""Generate the sample lead-magnet PDFs: magnets/pdf/<id>.<lang>.pdf.

Run from the project root, with your bot's username (the one BotFather gave you):

    .venv/bin/python magnets/make_pdfs.py --bot your_bot

Each guide ends with a way back to the bot, since PDFs get forwarded: its t.me link (source
`pdf`) and a QR code. Without --bot the placeholder username PLACEHOLDER_BOT is used, as in the
shipped samples. The text lives in pdf_content.py; this file only does the layout. Output is
deterministic (fixed creation date), so re-running it without changes gives identical files.
Every colour pair (text on its background) has a WCAG AA contrast of at least 4.5:1
(tests/test_pdf_contrast.py checks the generated files).
"""

import argparse
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from fpdf.fonts import FontFace
from pdf_content import COLOURS, GUIDES, LABELS

OUT_DIR = Path(__file__).resolve().parent / "pdf"
CREATED = datetime(2025, 1, 1, tzinfo=UTC)
FONT = "Helvetica"
TEXT = (40, 40, 40)
GREY = (100, 100, 100)  # 5.9:1 on white; (120, 120, 120) was 4.4:1, under WCAG AA
WHITE = (255, 255, 255)
LINE = 5.6  # body line height, mm
PLACEHOLDER_BOT = "YourBusinessBot"
USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]")
# French wants a narrow no-break space (U+202F) before ; : ! ? and inside « »; the core
# Helvetica font is latin-1 only and has no U+202F, so a no-break space (U+00A0) stands in:
# it keeps "?" on the line of its word.
NO_BREAK = "\u00a0"
FRENCH_SPACES = ((re.compile(r" ([;:!?»])"), NO_BREAK + r"\1"), (re.compile(r"« "), "«" + NO_BREAK))


def typeset(value: Any, lang: str) -> Any:
    """The guide's texts with French spacing (no line break before ; : ! ? or inside « »)."""
    if lang != "fr":
        return value
    if isinstance(value, str):
        for pattern, replacement in FRENCH_SPACES:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {k: typeset(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(typeset(v, lang) for v in value)
    return value


def bot_link(username: str) -> str:
    """The deep link back to the bot's menu, with `pdf` as the source (forwarded guides)."""
    return f"https://t.me/{username}?start=pdf"


def qr_png(url: str) -> io.BytesIO:
    """A QR code of `url` as a PNG, with the standard 4-module quiet zone."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=10, border=4)
    out.seek(0)
    return out


class GuidePDF(FPDF):
    def __init__(self, guide: dict, lang: str, colour: tuple[int, int, int], bot: str) -> None:
        super().__init__(format="A4")
        self.guide, self.colour = typeset(guide, lang), colour
        self.labels, self.bot_url = typeset(LABELS[lang], lang), bot_link(bot)
        self.tint = tuple(c + (255 - c) * 0.88 for c in colour)
        self.set_margins(20, 22, 20)
        self.set_auto_page_break(True, margin=20)
        self.set_creation_date(CREATED)
        self.set_lang(lang)
        self.set_title(guide["title"])
        self.set_author(guide["business"])
        self.set_creator("Aimant - magnets/make_pdfs.py")

    # -- page furniture ------------------------------------------------------------------
    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FONT, "", 8)
        self.set_text_color(*GREY)
        self.set_xy(self.l_margin, 10)
        self.cell(0, 5, self.guide["title"])
        self.set_draw_color(*self.colour)
        self.set_line_width(0.4)
        self.line(self.l_margin, 16, self.w - self.r_margin, 16)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-14)
        self.set_font(FONT, "", 8)
        self.set_text_color(*GREY)
        self.cell(0, 6, self.guide["business"])
        self.set_x(self.l_margin)
        self.cell(0, 6, f"{self.labels['page']} {self.page_no()} / {{nb}}", align="R")

    # -- building blocks -----------------------------------------------------------------
    def text_style(self, size: float = 10.5, style: str = "", colour=TEXT) -> None:
        self.set_font(FONT, style, size)
        self.set_text_color(*colour)

    def keep(self, height: float) -> None:
        """Start a new page unless `height` mm are still free (avoids orphan headings)."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def heading(self, text: str) -> None:
        self.keep(40)
        self.ln(3)
        self.text_style(15, "B", self.colour)
        self.multi_cell(0, 8, text, align="L")
        self.ln(1.5)

    def subheading(self, text: str) -> None:
        self.keep(28)
        self.ln(1.5)
        self.text_style(11.5, "B")
        self.multi_cell(0, 6.5, text, align="L")
        self.ln(0.5)

    def paragraph(self, text: str) -> None:
        self.text_style()
        self.multi_cell(0, LINE, text, align="L", markdown=True)
        self.ln(2)

    def bullets(self, items: list[str], indent: float = 6) -> None:
        for item in items:
            self.keep(2 * LINE)
            self.set_fill_color(*self.colour)
            self.circle(self.l_margin + 2, self.get_y() + LINE / 2, 0.9, style="F")
            self.set_x(self.l_margin + indent)
            self.text_style()
            self.multi_cell(self.epw - indent, LINE, item, align="L", markdown=True)
            self.ln(1.2)
        self.ln(1.5)

    def grid(self, rows: list[list[str]]) -> None:
        self.keep(7 * len(rows) + 6)
        self.text_style(9.5)
        # fpdf2 fills the unshaded rows with the current fill colour (the accent colour left by
        # the bullets): set it to white, or every second row is dark text on the accent colour.
        self.set_fill_color(*WHITE)
        self.set_draw_color(215, 215, 215)
        self.set_line_width(0.2)
        with self.table(
            col_widths=(95, 45, 30),
            text_align=("LEFT", "CENTER", "CENTER"),
            line_height=5.2,
            padding=(1.4, 2),
            headings_style=FontFace(emphasis="BOLD", color=255, fill_color=self.colour),
            cell_fill_color=self.tint,
            cell_fill_mode="ROWS",
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            for row in rows:
                table.row(row)
        self.ln(4)

    # -- pages ---------------------------------------------------------------------------
    def title_page(self) -> None:
        g = self.guide
        self.add_page()
        self.set_fill_color(*self.colour)
        self.rect(0, 0, self.w, 118, style="F")
        self.set_xy(self.l_margin, 20)
        self.text_style(12, "B", (255, 255, 255))
        self.cell(0, 6, g["business"].upper(), new_x="LMARGIN", new_y="NEXT")
        self.text_style(10, "", (255, 255, 255))
        self.cell(0, 6, g["tagline"], new_x="LMARGIN", new_y="NEXT")
        self.set_y(50)
        self.text_style(28, "B", (255, 255, 255))
        self.multi_cell(0, 12, g["title"], align="L")
        self.ln(3)
        self.text_style(13, "", (255, 255, 255))
        self.multi_cell(0, 6.5, g["subtitle"], align="L")
        self.set_y(132)
        self.text_style(11)
        self.multi_cell(0, 6, g["intro"], align="L")
        self.ln(6)
        self.text_style(13, "B", self.colour)
        self.cell(0, 8, self.labels["inside"], new_x="LMARGIN", new_y="NEXT")
        self.ln(1)
        self.bullets(g["inside"])
        self.set_y(-32)
        self.set_draw_color(*self.colour)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(3)
        self.text_style(10, "", GREY)
        self.cell(0, 6, f"{self.labels['by']} {g['business']}", align="C")

    def body(self) -> None:
        self.add_page()
        render = {
            "h": self.heading,
            "h2": self.subheading,
            "p": self.paragraph,
            "ul": self.bullets,
            "table": self.grid,
        }
        for kind, content in self.guide["body"]:
            render[kind](content)

    def cta_page(self) -> None:
        cta = self.guide["cta"]
        self.add_page()
        self.set_y(45)
        self.text_style(22, "B", self.colour)
        self.multi_cell(0, 10, cta["title"], align="L")
        self.ln(4)
        self.text_style(11.5)
        self.multi_cell(0, 6.5, cta["text"], align="L")
        self.ln(5)
        self.text_style(11.5, "B")
        self.cell(0, 7, self.labels["you_get"], new_x="LMARGIN", new_y="NEXT")
        self.ln(1)
        self.bullets(cta["list"])
        self.ln(6)
        self.set_fill_color(*self.colour)
        self.text_style(14, "B", (255, 255, 255))
        self.multi_cell(0, 8, cta["action"], align="C", fill=True, padding=(8, 10))
        self.ln(10)
        self.text_style(10, "", GREY)
        self.multi_cell(0, 5.5, f"{self.guide['business']} - {self.guide['tagline']}", align="C")
        self.way_back()

    def way_back(self) -> None:
        """The bot's t.me link and its QR code, so a forwarded guide leads back to the chat."""
        size = 32  # mm: scans from a printed page or another phone's screen
        self.keep(size + 12)
        self.ln(8)
        top = self.get_y()
        self.image(qr_png(self.bot_url), x=self.l_margin, y=top, w=size, h=size, link=self.bot_url)
        self.set_xy(self.l_margin + size + 6, top + 6)
        self.text_style(12, "B", self.colour)
        self.cell(0, 7, self.labels["back"], new_x="LEFT", new_y="NEXT")
        self.text_style(10.5)
        self.multi_cell(0, LINE, self.labels["scan"], align="L", new_x="LEFT")
        self.text_style(10.5, "U", self.colour)
        self.cell(0, 7, self.bot_url, link=self.bot_url)

    def build(self) -> "GuidePDF":
        self.title_page()
        self.body()
        self.cta_page()
        return self


def bot_username(argv: list[str] | None = None) -> str:
    """The --bot argument (a Telegram bot username, with or without @), or the placeholder."""
    parser = argparse.ArgumentParser(description="Generate the sample PDFs in magnets/pdf/.")
    parser.add_argument(
        "--bot", default=PLACEHOLDER_BOT, help=f"your bot's username (default {PLACEHOLDER_BOT})"
    )
    username = parser.parse_args(argv).bot.removeprefix("@")
    if not USERNAME.fullmatch(username):
        parser.error(f"--bot {username!r} is not a Telegram username (5-32 of A-Za-z0-9_)")
    return username


def main() -> None:
    bot = bot_username()
    OUT_DIR.mkdir(exist_ok=True)
    for magnet_id, langs in GUIDES.items():
        for lang, guide in langs.items():
            pdf = GuidePDF(guide, lang, COLOURS[magnet_id], bot).build()
            path = OUT_DIR / f"{magnet_id}.{lang}.pdf"
            pdf.output(str(path))
            pages = len(pdf.pages)
            if not 3 <= pages <= 5:
                raise SystemExit(f"{path.name}: {pages} pages, expected 3 to 5")
            print(f"{path.relative_to(OUT_DIR.parent)}: {pages} pages, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
