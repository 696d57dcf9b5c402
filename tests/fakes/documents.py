"""Small PDFs written for tests, byte by byte (no fixture files, no licence question).

make_pdf(["page one text", "page two text"], title="T", author="A")
make_pdf(["..."], scanned=True)     # one image per page, no text layer
encrypt_pdf(make_pdf([...]), "secret")
"""

from __future__ import annotations

import io


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(text: str) -> bytes:
    lines = ["BT", "/F1 11 Tf", "14 TL", "56 780 Td"]
    for line in text.splitlines() or [""]:
        # Latin-1 only: the standard Helvetica font's WinAnsi encoding.
        lines.append(f"({_escape(line)}) Tj T*")
    lines.append("ET")
    return "\n".join(lines).encode("latin-1")


# A 2x2 grey image drawn over the page: what a scanner makes, without any text.
_SCAN = b"q 500 0 0 700 50 50 cm\nBI /W 2 /H 2 /CS /G /BPC 8 ID \x20\x80\x80\x20 EI\nQ"


def make_pdf(
    pages: list[str],
    *,
    title: str | None = None,
    author: str | None = None,
    scanned: bool = False,
) -> bytes:
    """A valid PDF 1.4 with one page per item, its text drawn in Helvetica (or, `scanned`,
    only an image on each page), and an Info dictionary with the title and author."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for text in pages:
        stream = _SCAN if scanned else _content(text)
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 842] /Contents %d 0 R"
                b" /Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info_items = []
    if title:
        info_items.append(b"/Title (%s)" % _escape(title).encode("latin-1"))
    if author:
        info_items.append(b"/Author (%s)" % _escape(author).encode("latin-1"))
    info = add(b"<< %s >>" % b" ".join(info_items)) if info_items else None

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(b"trailer\n%s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref))
    return out.getvalue()


def encrypt_pdf(pdf: bytes, password: str) -> bytes:
    """The PDF encrypted (AES-128) with a user password: unreadable without it."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
