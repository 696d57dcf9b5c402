"""Saved files that are not web pages: PDF, Markdown and plain text.

The file itself is the bookmark's archive, kept under the data folder
(`archives/<user id>/<bookmark id>.pdf|.md|.txt`), never in the database. Its text is read
from there: Markdown and plain text in a thread, a PDF with PDFium (pypdfium2, Apache-2.0 /
BSD-3-Clause) in a child process (`python -m app.extraction.documents FILE`). PDFium is a C
library that must not be called from two threads at once, and a hostile file must not take
the worker down or hold it past its time: the child is killed at the deadline and its crash
is one failed bookmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.extraction.extract_html import markdown_html

__all__ = [
    "KINDS",
    "Document",
    "DocumentError",
    "archive_path",
    "find_archive",
    "kind_of",
    "read_document",
    "remove_archives",
    "write_archive",
]

PDF_MAGIC = b"%PDF-"
# kind -> (media type served back, file suffix)
KINDS: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", ".pdf"),
    "markdown": ("text/markdown; charset=utf-8", ".md"),
    "text": ("text/plain; charset=utf-8", ".txt"),
}
_SUFFIX_KIND = {".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}
# Fewer letters or digits than this over the pages read: the PDF has no text layer.
MIN_TEXT_CHARS = 20
MAX_TEXT_CHARS = 2_000_000
NO_TEXT_MESSAGE = "This PDF has no text layer (a scan?); Fuze does not read scans yet."


@dataclass
class Document:
    kind: str
    text: str
    title: str | None = None
    author: str | None = None
    pages: int | None = None  # a PDF's page count
    metadata: dict[str, Any] = field(default_factory=dict)
    html: str | None = None  # a Markdown file's structure for the reader view


class DocumentError(Exception):
    """A file whose text cannot be read; `code` goes in the bookmark's error_code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- what a file is -------------------------------------------------------------------------


def is_pdf(data: bytes | bytearray) -> bool:
    return bytes(data[:1024]).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(PDF_MAGIC)


def kind_of(data: bytes, filename: str | None) -> str | None:
    """ "pdf", "markdown" or "text" for an uploaded file, or None when it is none of them. The
    bytes decide a PDF (whatever its name); a text file must be UTF-8 text."""
    if is_pdf(data):
        return "pdf"
    suffix = Path(filename or "").suffix.lower()
    kind = _SUFFIX_KIND.get(suffix)
    if kind not in ("markdown", "text"):
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    return kind


# --- the archive ----------------------------------------------------------------------------


def archive_dir(data_dir: Path, user_id: uuid.UUID | str) -> Path:
    return Path(data_dir) / "archives" / str(uuid.UUID(str(user_id)))


def archive_path(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str, kind: str
) -> Path:
    suffix = KINDS[kind][1]
    return archive_dir(data_dir, user_id) / f"{uuid.UUID(str(bookmark_id))}{suffix}"


def find_archive(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str
) -> tuple[Path, str] | None:
    """(path, kind) of the bookmark's kept file, or None."""
    for kind in KINDS:
        path = archive_path(data_dir, user_id, bookmark_id, kind)
        if path.is_file():
            return path, kind
    return None


def write_archive(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str, kind: str, data: bytes
) -> Path:
    """Keeps the file (atomically: a reader never sees half of it), replacing any other kind
    kept for the bookmark before (a link that was a PDF and is now Markdown)."""
    path = archive_path(data_dir, user_id, bookmark_id, kind)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    remove_archives(data_dir, user_id, bookmark_id, keep=kind)
    return path


def remove_archives(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str, keep: str | None = None
) -> None:
    for kind in KINDS:
        if kind != keep:
            with contextlib.suppress(FileNotFoundError):
                archive_path(data_dir, user_id, bookmark_id, kind).unlink()


# --- reading --------------------------------------------------------------------------------


def _clean(value: str | None, limit: int = 500) -> str | None:
    if not value:
        return None
    value = " ".join(value.replace("\x00", "").split())
    return value[:limit] or None


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        line = _clean(line, 300) or ""
        if sum(c.isalnum() for c in line) >= 3:
            return line
    return None


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*\n", re.DOTALL)


def read_markdown(text: str) -> Document:
    """The text as written; the title from front matter's `title:`, else the first heading."""
    text = text.replace("\x00", "")[:MAX_TEXT_CHARS]
    title = author = None
    front = _FRONT_MATTER.match(text)
    body = text
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            value = value.strip().strip("\"'")
            if key.strip().lower() == "title" and value:
                title = _clean(value)
            elif key.strip().lower() == "author" and value:
                author = _clean(value)
        body = text[front.end() :]
    if title is None:
        lines = body.splitlines()
        for i, line in enumerate(lines):
            match = _HEADING.match(line)
            if match:
                title = _clean(match.group(1))
                break
            if line.strip() and i + 1 < len(lines) and _SETEXT.match(lines[i + 1]):
                title = _clean(line)
                break
    body = body.strip()
    return Document("markdown", body, title or _first_line(body), author, html=markdown_html(body))


def read_text(text: str) -> Document:
    text = text.replace("\x00", "")[:MAX_TEXT_CHARS]
    return Document("text", text.strip(), _first_line(text))


def read_pdf(path: Path | str, max_pages: int) -> Document:
    """The text of the first `max_pages` pages, the title and author from the document's
    metadata (else the first line), the page count. In-process: call it only in a process of
    its own (see read_document)."""
    import pypdfium2 as pdfium  # only the child process loads PDFium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise DocumentError(
                "pdf_encrypted", "This PDF is protected by a password; Fuze cannot read it."
            ) from None
        if exc.err_code == pdfium.raw.FPDF_ERR_SECURITY:
            raise DocumentError(
                "pdf_encrypted", "This PDF uses an encryption Fuze cannot read."
            ) from None
        raise DocumentError(
            "pdf_malformed", "This file is not a readable PDF (it is damaged or incomplete)."
        ) from None
    try:
        pages = len(pdf)
        if pages == 0:
            raise DocumentError("pdf_malformed", "This PDF has no pages.")
        meta = pdf.get_metadata_dict(skip_empty=True)
        texts: list[str] = []
        size = 0
        read = 0
        for index in range(min(pages, max_pages)):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    chunk = textpage.get_text_bounded()
                finally:
                    textpage.close()
            finally:
                page.close()
            read += 1
            chunk = chunk.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
            texts.append(chunk.strip())
            size += len(chunk)
            if size >= MAX_TEXT_CHARS:
                break
    finally:
        pdf.close()
    text = "\n\n".join(t for t in texts if t)[:MAX_TEXT_CHARS]
    if sum(c.isalnum() for c in text[:10_000]) < MIN_TEXT_CHARS:
        raise DocumentError("pdf_no_text", NO_TEXT_MESSAGE)
    metadata: dict[str, Any] = {"kind": "pdf", "pages": pages, "pages_read": read}
    for key in ("Subject", "Keywords", "Creator", "Producer", "CreationDate"):
        value = _clean(meta.get(key))
        if value:
            metadata[key.lower()] = value
    return Document(
        "pdf",
        text,
        _clean(meta.get("Title")) or _first_line(text),
        _clean(meta.get("Author"), 300),
        pages,
        metadata,
    )


async def read_document(path: Path, kind: str, *, max_pages: int, seconds: float) -> Document:
    """The document's text, or DocumentError. A PDF is read in a child process killed after
    `seconds`."""
    if kind in ("markdown", "text"):
        raw = await asyncio.to_thread(path.read_bytes)
        text = raw.decode("utf-8-sig", "replace")
        doc = read_markdown(text) if kind == "markdown" else read_text(text)
        doc.metadata = {"kind": kind}
        if not doc.text:
            raise DocumentError("empty_file", "The file has no text.")
        return doc
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.extraction.documents",
        str(path),
        str(max_pages),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        raise DocumentError(
            "pdf_timeout", f"Reading this PDF took longer than {seconds:g} seconds."
        ) from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):  # the child crashed (a signal, out of memory)
        raise DocumentError(
            "pdf_malformed", "This PDF could not be read (the reader stopped on it)."
        )
    if "error" in answer:
        raise DocumentError(answer["error"]["code"], answer["error"]["message"])
    return Document(**answer["document"])


def _main(argv: list[str]) -> int:
    path, max_pages = argv[0], int(argv[1])
    try:
        answer: dict[str, Any] = {"document": asdict(read_pdf(path, max_pages))}
    except DocumentError as exc:
        answer = {"error": {"code": exc.code, "message": exc.message}}
    except Exception:  # whatever PDFium or the file throws: one failed bookmark, said plainly
        answer = {
            "error": {
                "code": "pdf_malformed",
                "message": "This file is not a readable PDF (it is damaged or incomplete).",
            }
        }
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
