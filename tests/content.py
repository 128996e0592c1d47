"""Small catalogues written to a temporary folder, for tests that need their own content."""

from __future__ import annotations

from pathlib import Path

TINY_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

MAGNET = """
[[magnets]]
id = "{id}"
title = {{ en = "Guide {id}", fr = "Guide {id} (fr)" }}
description = {{ en = "A <b>useful</b> guide.", fr = "Un guide <b>utile</b>." }}
pdf = {{ en = "{id}.en.pdf", fr = "{id}.fr.pdf" }}
caption = {{ en = "Your guide {id}", fr = "Votre guide {id}" }}
{question}
[[magnets.tips]]
id = "t1"
delay = "2s"
text = {{ en = "<b>Tip one</b> for {id}", fr = "<b>Conseil un</b> pour {id}" }}

[[magnets.tips]]
id = "t2"
delay = "3s"
text = {{ en = "Tip two for {id}", fr = "Conseil deux pour {id}" }}
cta = {{ en = "Get my plan", fr = "Mon plan" }}
"""

QUESTION = """
[magnets.question]
text = { en = "Dog or cat?", fr = "Chien ou chat ?" }
[[magnets.question.answers]]
id = "dog"
label = { en = "Dog", fr = "Chien" }
fit = true
[[magnets.question.answers]]
id = "cat"
label = { en = "Cat", fr = "Chat" }
fit = false
"""


def write_catalogue(folder: Path, body: str | None = None, pdfs: tuple[str, ...] = ()) -> Path:
    """Write `catalogue.toml` (two magnets by default, `alpha` with a question) and its PDFs."""
    folder.mkdir(parents=True, exist_ok=True)
    if body is None:
        body = MAGNET.format(id="alpha", question=QUESTION) + MAGNET.format(id="beta", question="")
        pdfs = ("alpha", "beta")
    for magnet_id in pdfs:
        for lang in ("en", "fr"):
            (folder / f"{magnet_id}.{lang}.pdf").write_bytes(TINY_PDF + magnet_id.encode())
    path = folder / "catalogue.toml"
    path.write_text(body, encoding="utf-8")
    return path
