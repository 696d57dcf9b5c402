"""Streaming parsers for bookmark files from browsers and other tools, and format detection.

Every parser reads a binary file object a piece at a time and yields one `Entry` per item of
the file (a link, a CSV row, a JSON object, a line), so memory stays flat whatever the size.
An item that cannot become a bookmark (a Karakeep text note, a row without a URL) is still
yielded, with `error` set, so the import can account for it. A file that cannot be read at
all raises `MalformedFile`, which says where (line or entry) and what is wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, BinaryIO

import ijson

READ_SIZE = 64 * 1024

# What the detector can answer, with the name a person knows the format by.
FORMATS: dict[str, str] = {
    "netscape": "Netscape bookmark HTML (Chrome, Firefox, Edge, Safari, Fuze, linkding, Shaarli)",
    "pocket_html": "Pocket export (HTML)",
    "html": "HTML page of links",
    "pocket_csv": "Pocket export (CSV)",
    "raindrop_csv": "Raindrop.io export (CSV)",
    "instapaper_csv": "Instapaper export (CSV)",
    "fuze_csv": "Fuze export (CSV)",
    "csv": "CSV with a URL column",
    "karakeep": "Karakeep (Hoarder) export (JSON)",
    "linkwarden": "Linkwarden backup (JSON)",
    "omnivore": "Omnivore export (JSON)",
    "omnivore_zip": "Omnivore export (ZIP)",
    "fuze_zip": "Fuze export with archived copies (ZIP)",
    "pinboard": "Pinboard export (JSON)",
    "fuze_json": "Fuze export (JSON)",
    "chrome_json": "Chrome Bookmarks file (JSON)",
    "firefox_json": "Firefox bookmarks backup (JSON)",
    "json": "JSON list of links",
    "urls": "plain list of URLs",
}

MAX_TITLE = 1000
MAX_TAG = 64
MAX_TAGS = 50
# Folders that browsers make themselves: a bookmark in the toolbar is not "about" a toolbar.
ROOT_FOLDERS = {
    "bookmarks bar", "bookmarks toolbar", "bookmarks menu", "other bookmarks", "mobile bookmarks",
    "favorites bar", "favourites bar", "favorites", "favourites", "bookmarks", "menu", "toolbar",
    "unsorted", "unfiled", "unsorted bookmarks", "imported", "barre de favoris", "autres favoris",
    "favoris sur mobile", "barre personnelle", "autres marque-pages", "menu des marque-pages",
}  # fmt: skip


class MalformedFile(Exception):
    """The file cannot be read as the format it claims; `message` says where and why."""

    def __init__(self, message: str, *, line: int | None = None, entry: int | None = None):
        where = f"line {line}: " if line else f"entry {entry}: " if entry else ""
        super().__init__(where + message)
        self.message = where + message
        self.line = line
        self.entry = entry


@dataclass(slots=True)
class Highlight:
    """A passage the source kept as highlighted, with its note: its words find it again in
    the reader (app/highlights), without offsets."""

    quote: str
    note: str | None = None
    color: str = "yellow"
    created_at: datetime | None = None
    # Where it was in Fuze's reader (Fuze's own export keeps them: the W3C selectors).
    prefix: str = ""
    suffix: str = ""
    start: int | None = None
    end: int | None = None


@dataclass(slots=True)
class Entry:
    url: str | None
    title: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    saved_at: datetime | None = None
    line: int | None = None
    # Set when this item can never become a bookmark; the import records it as invalid.
    error: str | None = None
    # Reading states the source keeps. `read` and `archived` without a date (most formats
    # have none) are dated at the import; a date alone implies its state.
    read: bool = False
    read_at: datetime | None = None
    archived: bool = False
    archived_at: datetime | None = None
    favorite: bool = False
    progress: float = 0.0  # how far it was read, 0 to 1 (Omnivore's readingProgress)
    highlights: list[Highlight] = field(default_factory=list)
    # The folders it was in, each as the path of names from the top: they become lists
    # (app/lists), nested as the folders were.
    folders: list[list[str]] = field(default_factory=list)
    # Fuze's ZIP export: the page's archived copies, {file, created_at, size, source_url}
    # (`file` names the copy inside the ZIP).
    archives: list[dict[str, Any]] = field(default_factory=list)


# --- small helpers -------------------------------------------------------------------------


def clean_text(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    if limit is not None:
        text = text[:limit]
    return text or None


def clean_notes(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def clean_tags(names: Any) -> list[str]:
    """Whitespace collapsed, at most 64 characters, case-insensitively unique, at most 50."""
    out: dict[str, str] = {}
    for raw in names or ():
        name = clean_text(raw, MAX_TAG)
        if name:
            out.setdefault(name.lower(), name)
    return list(out.values())[:MAX_TAGS]


HIGHLIGHT_COLORS = ("yellow", "green", "blue", "pink", "purple")
MAX_HIGHLIGHTS = 500


def make_highlight(
    quote: Any, note: Any = None, color: Any = None, created: Any = None
) -> Highlight | None:
    text = str(quote or "").strip()[:5000]
    if not text:
        return None
    kept = str(note).strip()[:10000] if note else ""
    name = str(color or "").strip().lower()
    return Highlight(
        quote=text,
        note=kept or None,
        color=name if name in HIGHLIGHT_COLORS else "yellow",
        created_at=parse_date(created) if created else None,
    )


def highlights_from_list(items: Any) -> list[Highlight]:
    """Highlights as JSON objects: Fuze's export ({quote, note, color, created_at}) and
    Raindrop's API shape ({text, note, color, created})."""
    out: list[Highlight] = []
    if not isinstance(items, list):
        return out
    for item in items[:MAX_HIGHLIGHTS]:
        if isinstance(item, dict):
            h = make_highlight(
                item.get("quote") or item.get("text"),
                item.get("note") or item.get("annotation"),
                item.get("color"),
                item.get("created_at") or item.get("created"),
            )
            if h:
                h.prefix = str(item.get("prefix") or "")[:64]
                h.suffix = str(item.get("suffix") or "")[:64]
                start, end = item.get("start"), item.get("end")
                if type(start) is int and type(end) is int and 0 <= start < end < 2**31:
                    h.start, h.end = start, end
                out.append(h)
    return out


_QUOTE_LINK = re.compile(r"\s*\[[^\]]*\]\([^)]*\)\s*$")


def highlights_from_markdown(text: str) -> list[Highlight]:
    """Highlights written as Markdown block quotes, each followed by its note's paragraphs
    (Omnivore's highlights/<slug>.md, and Fuze's own Markdown export)."""
    out: list[Highlight] = []
    quote: list[str] = []
    note: list[str] = []

    def flush() -> None:
        if quote:
            last = _QUOTE_LINK.sub("", quote[-1])  # Omnivore's "[⤴️](link)" back to the page
            h = make_highlight("\n".join([*quote[:-1], last]), "\n".join(note).strip())
            if h and len(out) < MAX_HIGHLIGHTS:
                out.append(h)
        quote.clear()
        note.clear()

    for line in text.splitlines():
        if line.startswith(">"):
            if note:
                flush()
            quote.append(line[1:].removeprefix(" "))
        elif line.startswith("#"):  # a heading: Fuze's page title, not a note
            flush()
        elif quote:
            note.append(line)
    flush()
    return out


def highlights_from_text(value: Any) -> list[Highlight]:
    """Raindrop's CSV `highlights` column: "Highlight: ..." lines, each with an optional
    "Note: ..." line after it; without those labels, each paragraph is one highlight."""
    text = str(value or "").strip()
    if not text:
        return []
    out: list[Highlight] = []
    if re.search(r"(?im)^highlight:", text):
        for block in re.split(r"(?im)^(?=highlight:)", text):
            lines = re.sub(r"(?i)^highlight:\s*", "", block.strip()).splitlines()
            at = next((i for i, x in enumerate(lines) if re.match(r"(?i)note:", x)), len(lines))
            note = "\n".join(lines[at:])
            h = make_highlight("\n".join(lines[:at]), re.sub(r"(?i)^note:\s*", "", note))
            if h:
                out.append(h)
    else:
        for para in re.split(r"\n\s*\n", text):
            if h := make_highlight(para):
                out.append(h)
    return out[:MAX_HIGHLIGHTS]


def is_true(value: Any) -> bool:
    """JSON booleans and the spellings CSV exports use ("true", "1", "yes")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return str(value or "").strip().lower() in ("true", "1", "yes", "y")


def split_tags(value: Any, separators: str = ",|") -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        names: list[str] = []
        for item in value:
            if isinstance(item, dict):  # Linkwarden: [{"name": ...}]
                item = item.get("name")
            if item is not None:
                names.append(str(item))
        return names
    text = str(value).strip()
    if text.startswith("["):  # Instapaper's newer CSV: a JSON list in one cell
        try:
            loaded = json.loads(text)
            if isinstance(loaded, list):
                return [str(x) for x in loaded]
        except ValueError:
            pass
    return [p for p in re.split(f"[{re.escape(separators)}]", text) if p.strip()]


_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC).timestamp()


def parse_epoch(value: Any) -> datetime | None:
    """Seconds, milliseconds or microseconds since 1970 (exports use all three)."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    if number > 1e14:
        number /= 1_000_000
    elif number > 1e11:
        number /= 1000
    if number < _EARLIEST:
        return None
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(value)):
        return parse_epoch(value)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.timestamp() < _EARLIEST:
        return None
    return parsed.astimezone(UTC)


def _text_pieces(f: BinaryIO) -> Iterator[str]:
    """The file as UTF-8 text, a piece at a time; bad bytes or a NUL say on which line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line = 1
    while True:
        data = f.read(READ_SIZE)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            good = data[: max(exc.start, 0)]
            raise MalformedFile(
                "this is not UTF-8 text; save the file as UTF-8 and try again",
                line=line + good.count(b"\n"),
            ) from exc
        if "\x00" in text:
            raise MalformedFile(
                "the file contains NUL bytes; is it a binary file?",
                line=line + text[: text.index("\x00")].count("\n"),
            )
        if text:
            yield text
            line += text.count("\n")
        if not data:
            return


# --- detection -------------------------------------------------------------------------------


def _head(f: BinaryIO, size: int = 8192) -> str:
    f.seek(0)
    raw = f.read(size)
    f.seek(0)
    return raw.decode("utf-8-sig", errors="replace").lstrip("\ufeff")


_CSV_URL_COLUMNS = ("url", "href", "link", "uri", "address")


def _csv_format(header: list[str]) -> str | None:
    cols = [c.strip().lower() for c in header]
    if not any(c in _CSV_URL_COLUMNS for c in cols):
        return None
    if cols[:5] == ["title", "url", "time_added", "tags", "status"] or "time_added" in cols:
        return "pocket_csv"
    if {"id", "title", "note", "excerpt", "url", "folder", "tags", "created"} <= set(cols):
        return "raindrop_csv"
    if cols[:4] == ["url", "title", "selection", "folder"]:
        return "instapaper_csv"
    if cols[:5] == ["url", "title", "notes", "tags", "saved_at"]:
        return "fuze_csv"
    return "csv"


def _json_format(f: BinaryIO) -> str:
    """Looks at the first keys of the document to tell the JSON exports apart."""
    f.seek(0)
    top_keys: set[str] = set()
    first_item_keys: set[str] = set()
    kind = None
    try:
        for n, (prefix, event, value) in enumerate(ijson.parse(f, use_float=True)):
            if n == 0:
                kind = event
            if kind == "start_map" and prefix == "" and event == "map_key":
                top_keys.add(value)
                if value == "fuze_export":
                    return "fuze_json"
                if value == "collections":
                    return "linkwarden"
                if value == "roots":
                    return "chrome_json"
            if kind == "start_map" and prefix == "type" and value == "text/x-moz-place-container":
                return "firefox_json"
            if kind == "start_map" and prefix == "bookmarks.item" and event == "map_key":
                first_item_keys.add(value)
            if kind == "start_array" and prefix == "item" and event == "map_key":
                first_item_keys.add(value)
            if prefix in ("item", "bookmarks.item") and event == "end_map":
                break
            if n > 20000:
                break
    except ijson.JSONError as exc:
        raise _json_error(f, exc) from exc
    finally:
        f.seek(0)
    if kind == "start_map" and "bookmarks" in top_keys:
        return "karakeep" if first_item_keys & {"content", "createdAt"} else "fuze_json"
    if kind == "start_array":
        if "href" in first_item_keys:
            return "pinboard"
        if first_item_keys & {"slug", "savedAt", "labels"}:
            return "omnivore"
        return "json"
    raise MalformedFile(
        "this JSON is not an export Fuze knows: expected a list of links, "
        '{"bookmarks": [...]} (Karakeep, Fuze) or {"collections": [...]} (Linkwarden)'
    )


_OMNIVORE_MEMBER = re.compile(r"(^|/)metadata_(\d+)_to_\d+\.json$")


def _omnivore_members(f: BinaryIO) -> list[str]:
    names = _zip_names(f)
    found = [(int(m.group(2)), n) for n in names if (m := _OMNIVORE_MEMBER.search(n))]
    return [n for _, n in sorted(found)]


FUZE_ZIP_JSON = "fuze-export.json"  # app.imports.exports.ZIP_JSON


def _zip_names(f: BinaryIO) -> list[str]:
    try:
        return zipfile.ZipFile(f).namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise MalformedFile(f"this ZIP file is damaged ({exc})") from exc


def detect(f: BinaryIO, filename: str | None = None) -> str:
    f.seek(0)
    if f.read(4) == b"PK\x03\x04":
        if FUZE_ZIP_JSON in _zip_names(f):
            f.seek(0)
            return "fuze_zip"
        if not _omnivore_members(f):
            raise MalformedFile(
                "this ZIP file is not an Omnivore export (no metadata_*_to_*.json inside)"
            )
        f.seek(0)
        return "omnivore_zip"
    head = _head(f)
    stripped = head.lstrip()
    if not stripped:
        raise MalformedFile("the file is empty")
    if "\x00" in head:
        raise MalformedFile("the file contains NUL bytes; is it a binary file?", line=1)
    lower = stripped[:4096].lower()
    if stripped[0] in "[{":
        return _json_format(f)
    if stripped.startswith("<"):
        if "netscape-bookmark-file" in lower:
            return "netscape"
        if "pocket export" in lower:
            return "pocket_html"
        return "html"
    first_line = stripped.splitlines()[0]
    if first_line.strip().strip('"').lower() in _CSV_URL_COLUMNS:  # a one-column CSV
        return "csv"
    if "," in first_line and not re.match(r"https?://", first_line, re.I):
        try:
            header = next(csv.reader([first_line]))
        except csv.Error:
            header = []
        fmt = _csv_format(header)
        if fmt:
            return fmt
        raise MalformedFile(
            "this CSV has no URL column (its header is: "
            + ", ".join(h.strip() for h in header[:12])
            + "); name the column of addresses 'url'",
            line=1,
        )
    for raw in stripped.splitlines():
        candidate = raw.strip()
        if not candidate or candidate.startswith("#"):
            continue
        if re.match(r"(https?://|www\.)\S+", candidate, re.I):
            return "urls"
        break
    name = f" ({filename})" if filename else ""
    raise MalformedFile(
        f"Fuze does not recognise this file{name}: expected a bookmark HTML file, a CSV "
        "(Pocket, Raindrop, Instapaper), a JSON export (Karakeep, Linkwarden, Omnivore, Fuze) "
        "or a list of URLs, one per line",
        line=1,
    )


# --- HTML (Netscape bookmark files, Pocket's HTML export, any page of links) ----------------


class _LinkCollector(HTMLParser):
    """Netscape bookmark files: <DT><A> links, <DD> descriptions after them, and <H3> folders
    whose <DL> lists nest; the folder path becomes the link's list."""

    def __init__(self, *, pocket: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        # Pocket's export lists its links under <h1>Unread</h1> and <h1>Read Archive</h1>.
        self.pocket = pocket
        self.h1: list[str] | None = None
        self.in_archive = False
        self.ready: list[Entry] = []
        self.folders: list[str | None] = []
        self.pending_folder: str | None = None
        self.h3: list[str] | None = None
        self.h3_is_root = False
        self.link: Entry | None = None
        self.link_text: list[str] | None = None
        self.last: Entry | None = None
        self.dd: list[str] | None = None
        self.line_offset = 0

    def _flush(self) -> None:
        if self.dd is not None:
            if self.last is not None:
                self.last.notes = clean_notes("".join(self.dd))
            self.dd = None
        if self.last is not None:
            self.ready.append(self.last)
            self.last = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            values = {k.lower(): v for k, v in attrs}
            href = values.get("href")
            if href is None:
                return
            self._flush()
            path = [f for f in self.folders if f]
            self.link = Entry(
                url=href.strip(),
                tags=split_tags(values.get("tags"), ","),
                folders=[path] if path else [],
                saved_at=parse_epoch(values.get("add_date") or values.get("time_added")),
                line=self.getpos()[0],
                read=self.in_archive,
                archived=self.in_archive,
            )
            self.link_text = []
        elif tag == "dd":
            if self.last is not None and self.dd is None:
                self.dd = []
        elif tag == "h3":
            self._flush()
            self.h3 = []
            names = {k.lower() for k, _ in attrs}
            self.h3_is_root = bool(names & {"personal_toolbar_folder", "unfiled_bookmarks_folder"})
        elif tag == "dl":
            self._flush()
            self.folders.append(self.pending_folder)
            self.pending_folder = None
        elif tag == "h1" and self.pocket:
            self._flush()
            self.h1 = []
        elif tag in ("dt", "hr", "li", "h1", "h2", "ul", "p", "br"):
            if tag == "br" and self.dd is not None:
                self.dd.append("\n")
                return
            if tag != "p":
                self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.link is not None:
            text = clean_text("".join(self.link_text or []), MAX_TITLE)
            self.link.title = None if text == self.link.url else text
            self.last = self.link
            self.link = None
            self.link_text = None
        elif tag == "h3" and self.h3 is not None:
            name = clean_text("".join(self.h3), MAX_TAG)
            is_root = self.h3_is_root or (
                not any(self.folders) and (name or "").lower() in ROOT_FOLDERS
            )
            self.pending_folder = None if is_root else name
            self.h3 = None
        elif tag == "h1" and self.h1 is not None:
            self.in_archive = (clean_text("".join(self.h1)) or "").lower() == "read archive"
            self.h1 = None
        elif tag == "dl":
            self._flush()
            if self.folders:
                self.folders.pop()
        elif tag in ("ul", "body", "html", "dd"):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.link_text is not None:
            self.link_text.append(data)
        elif self.h3 is not None:
            self.h3.append(data)
        elif self.h1 is not None:
            self.h1.append(data)
        elif self.dd is not None:
            self.dd.append(data)


def parse_html(f: BinaryIO, *, pocket: bool = False) -> Iterator[Entry]:
    collector = _LinkCollector(pocket=pocket)
    for text in _text_pieces(f):
        collector.feed(text)
        if collector.ready:
            yield from collector.ready
            collector.ready.clear()
    collector.close()
    collector._flush()
    if collector.link is not None:  # an <A> never closed at the end of the file
        collector.link.title = clean_text("".join(collector.link_text or []), MAX_TITLE)
        collector.ready.append(collector.link)
    yield from collector.ready


# --- CSV --------------------------------------------------------------------------------------


def _first(row: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = row.get(name)
        if value is not None and value.strip():
            return value
    return None


def _csv_entry(fmt: str, row: dict[str, str], line: int) -> Entry:
    url = _first(row, *_CSV_URL_COLUMNS)
    # Fuze writes tags with commas; Pocket uses "|".
    tags = split_tags(row.get("tags"), "," if fmt == "fuze_csv" else ",|")
    folder = _first(row, "folder", "collection", "category")
    folders: list[list[str]] = []
    if folder:
        if fmt == "instapaper_csv":
            # Instapaper's own folders are states: Unread, Archive, and Starred (liked).
            if folder.strip().lower() not in ("unread", "archive", "starred"):
                folders.append([folder.strip()])
        else:
            path = [p.strip() for p in folder.split("/") if p.strip()]
            path = [p for p in path if p.lower() not in ROOT_FOLDERS]
            if path:
                folders.append(path)
    notes = _first(row, "notes", "note", "selection", "comment", "extended", "description")
    if fmt == "raindrop_csv":
        notes = _first(row, "note")
    saved = _first(
        row, "saved_at", "time_added", "created", "timestamp", "created_at", "date_added", "added"
    )
    entry = Entry(
        url=url.strip() if url else None,
        title=clean_text(_first(row, "title", "name"), MAX_TITLE),
        notes=clean_notes(notes),
        tags=tags,
        saved_at=parse_date(saved),
        line=line,
        error=None if url else "this row has no URL",
        folders=folders,
    )
    _csv_states(fmt, row, entry)
    return entry


def _csv_states(fmt: str, row: dict[str, str], entry: Entry) -> None:
    """The reading states of the CSV exports that have them."""
    if fmt == "pocket_csv":
        # Pocket's status is "unread" or "archive" (its archive is what has been read).
        entry.read = entry.archived = (row.get("status") or "").strip().lower() == "archive"
        entry.favorite = is_true(row.get("favorite"))
    elif fmt == "instapaper_csv":
        folder = (row.get("folder") or "").strip().lower()
        entry.archived = folder == "archive"
        entry.favorite = folder == "starred"
    elif fmt == "raindrop_csv":
        entry.favorite = is_true(row.get("favorite"))
        entry.highlights = highlights_from_text(row.get("highlights"))
    elif fmt == "fuze_csv":
        entry.read_at = parse_date(row.get("read_at"))
        entry.archived_at = parse_date(row.get("archived_at"))
        entry.favorite = is_true(row.get("favorite"))


def parse_csv(f: BinaryIO, fmt: str) -> Iterator[Entry]:
    text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")  # type: ignore[type-var]
    reader = csv.reader(text, strict=True)
    try:
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise MalformedFile("the file is empty") from None
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            if not any(cell.strip() for cell in row):
                continue
            yield _csv_entry(fmt, dict(zip(header, row, strict=False)), start)
    except csv.Error as exc:
        raise MalformedFile(f"this is not valid CSV ({exc})", line=reader.line_num) from exc
    except UnicodeDecodeError as exc:
        raise MalformedFile(
            "this is not UTF-8 text; save the file as UTF-8 and try again",
            line=reader.line_num + 1,
        ) from exc
    finally:
        text.detach()


# --- JSON -------------------------------------------------------------------------------------


def _json_error(f: BinaryIO, exc: Exception) -> MalformedFile:
    """ijson says what is wrong but not where; the standard parser says where (this only runs
    for a broken file, which the size cap bounds)."""
    f.seek(0)
    try:
        json.loads(f.read().decode("utf-8-sig", errors="replace"))
    except json.JSONDecodeError as err:
        return MalformedFile(
            f"this is not valid JSON ({err.msg}, column {err.colno})", line=err.lineno
        )
    except ValueError:
        pass
    return MalformedFile(f"this is not valid JSON ({exc})")


def _entry_from_object(fmt: str, item: Any, number: int, folder: str | None = None) -> Entry:
    if isinstance(item, str) and fmt == "json":  # a JSON list of addresses
        return Entry(url=item.strip())
    if not isinstance(item, dict):
        return Entry(url=None, error=f"entry {number} is not an object")
    if fmt == "karakeep":
        content = item.get("content") or {}
        url = content.get("url") if isinstance(content, dict) else None
        kind = content.get("type") if isinstance(content, dict) else None
        error = None
        if not url:
            error = (
                f"a Karakeep {kind} bookmark, not a link" if kind else "this bookmark has no URL"
            )
        return Entry(
            url=url,
            title=clean_text(item.get("title"), MAX_TITLE),
            notes=clean_notes(item.get("note")),
            tags=split_tags(item.get("tags")),
            saved_at=parse_date(item.get("createdAt")),
            error=error,
            archived=is_true(item.get("archived")),
            favorite=is_true(item.get("favourited")),
        )
    url = item.get("url") or item.get("href") or item.get("uri") or item.get("link")
    if fmt == "pinboard":
        title, notes, tags = item.get("description"), item.get("extended"), item.get("tags")
        tags = split_tags(tags, " ")
    elif fmt == "omnivore":
        title, notes = item.get("title"), item.get("note") or item.get("notes")
        tags = split_tags(item.get("labels"))
    elif fmt == "linkwarden":
        title, notes = item.get("name") or item.get("title"), item.get("description")
        tags = split_tags(item.get("tags"))
    else:  # Fuze's own export, or any list of link objects
        title = item.get("title") or item.get("name")
        notes = item.get("notes") or item.get("note")
        tags = split_tags(item.get("tags") or item.get("labels"), ",")
    saved = (
        item.get("saved_at")
        or item.get("savedAt")
        or item.get("createdAt")
        or item.get("created_at")
        or item.get("time")
        or item.get("dateAdded")
    )
    entry = Entry(
        url=str(url).strip() if url else None,
        title=clean_text(title, MAX_TITLE),
        notes=clean_notes(notes),
        tags=tags,
        saved_at=parse_date(saved),
        error=None if url else f"entry {number} has no URL",
    )
    if fmt == "linkwarden" and folder:
        entry.folders = [[folder]]
    if fmt == "pinboard":
        # "yes": still to read; "no": read (Pinboard keeps no date for it).
        toread = str(item.get("toread") or "").strip().lower()
        entry.read = toread == "no"
    elif fmt == "omnivore":
        # Its state is "Active" or "Archived"; readingProgress is a percentage.
        entry.archived = str(item.get("state") or "").lower() == "archived"
        try:
            percent = float(item.get("readingProgress") or 0)
        except (TypeError, ValueError):
            percent = 0
        entry.read = percent >= OMNIVORE_READ_PERCENT
        entry.progress = min(1.0, max(0.0, percent / 100)) if percent == percent else 0.0
    elif fmt == "fuze_json":
        entry.read_at = parse_date(item.get("read_at"))
        entry.archived_at = parse_date(item.get("archived_at"))
        entry.favorite = is_true(item.get("favorite"))
        entry.highlights = highlights_from_list(item.get("highlights"))
        entry.folders = _fuze_lists(item.get("lists"))
        archives = item.get("archives")
        if isinstance(archives, list):
            entry.archives = [
                a for a in archives if isinstance(a, dict) and isinstance(a.get("file"), str)
            ]
    return entry


# Omnivore's reading progress from which a page counts as read: the same end of a page as
# Fuze's own reader (app.bookmarks.service.READ_AT_PROGRESS, 0.97).
OMNIVORE_READ_PERCENT = 97


def _fuze_lists(value: Any) -> list[list[str]]:
    """Fuze's export names each list a bookmark is in by its path: ["Work", "Reading"]."""
    if not isinstance(value, list):
        return []
    out = []
    for path in value[:100]:
        if isinstance(path, list):
            names = [clean_text(p, MAX_TAG) for p in path[:20] if isinstance(p, str)]
            if all(names) and names:
                out.append([n for n in names if n])
    return out


def _linkwarden_pinned(f: BinaryIO) -> set[str]:
    """The addresses of the links pinned to the dashboard (Linkwarden's favourites): the
    backup lists them apart, in `pinnedLinks`, after the collections, so a first pass finds
    them."""
    pinned = {
        value.strip()
        for prefix, event, value in ijson.parse(f, use_float=True)
        if prefix == "pinnedLinks.item.url" and event == "string"
    }
    f.seek(0)
    return pinned


def _linkwarden(f: BinaryIO) -> Iterator[Entry]:
    pinned = _linkwarden_pinned(f)
    collection: str | None = None
    builder: Any = None
    number = 0
    for prefix, event, value in ijson.parse(f, use_float=True):
        if builder is not None:
            builder.event(event, value)
            if prefix == "collections.item.links.item" and event == "end_map":
                number += 1
                entry = _entry_from_object("linkwarden", builder.value, number, collection)
                entry.favorite = entry.url in pinned
                yield entry
                builder = None
            continue
        if prefix == "collections.item.name" and event == "string":
            collection = clean_text(value, MAX_TAG)
        elif prefix == "collections.item" and event == "start_map":
            collection = None
        elif prefix == "collections.item.links.item" and event == "start_map":
            builder = ijson.ObjectBuilder()
            builder.event(event, value)


def _tree(fmt: str, node: Any, path: list[str]) -> Iterator[Entry]:
    """Chrome's and Firefox's JSON: folders hold children; a link's folder path becomes its
    list."""
    if not isinstance(node, dict):
        return
    if fmt == "chrome_json":
        kind, title = node.get("type"), node.get("name")
        url, added = node.get("url"), node.get("date_added")
        # Chrome counts microseconds from 1601.
        saved = None
        if added and str(added).isdigit() and int(added) > 0:
            saved = parse_epoch(int(added) - 11_644_473_600_000_000)
        is_link = kind == "url"
        tags: list[str] = []
    else:
        kind, title = node.get("type"), node.get("title")
        url, saved = node.get("uri"), parse_epoch(node.get("dateAdded"))
        is_link = kind == "text/x-moz-place"
        tags = split_tags(node.get("tags"), ",")
    if is_link:
        yield Entry(
            url=url,
            title=clean_text(title, MAX_TITLE),
            tags=tags,
            folders=[folders] if (folders := [p for p in path if p]) else [],
            saved_at=saved,
            error=None if url else "this bookmark has no URL",
        )
        return
    name = clean_text(title, MAX_TAG)
    root = not path or (name or "").lower() in ROOT_FOLDERS or node.get("root")
    children = node.get("children") or []
    if fmt == "chrome_json" and "roots" in node:
        children = list(node["roots"].values())
    for child in children:
        yield from _tree(fmt, child, [*path, None if root else name])  # type: ignore[list-item]


def parse_json(f: BinaryIO, fmt: str) -> Iterator[Entry]:
    try:
        if fmt == "linkwarden":
            yield from _linkwarden(f)
            return
        if fmt in ("chrome_json", "firefox_json"):
            # Browsers' own files are small and put a folder's name after its children.
            document = next(ijson.items(f, "", use_float=True))
            yield from _tree(fmt, document, [])
            return
        prefix = "bookmarks.item" if fmt in ("karakeep", "fuze_json") else "item"
        for number, item in enumerate(ijson.items(f, prefix, use_float=True), 1):
            yield _entry_from_object(fmt, item, number)
    except ijson.JSONError as exc:
        raise _json_error(f, exc) from exc


def parse_omnivore_zip(f: BinaryIO) -> Iterator[Entry]:
    """Omnivore's export: metadata_0_to_20.json, metadata_20_to_40.json ... in a ZIP, each
    streamed from the archive in turn."""
    number = 0
    archive = zipfile.ZipFile(f)
    notes = {
        n.rsplit("/", 1)[-1][: -len(".md")]: n
        for n in archive.namelist()
        if re.search(r"(^|/)highlights/[^/]+\.md$", n)
    }
    for name in _omnivore_members(f):
        with archive.open(name) as member:
            try:
                for item in ijson.items(member, "item", use_float=True):
                    number += 1
                    entry = _entry_from_object("omnivore", item, number)
                    slug = item.get("slug") if isinstance(item, dict) else None
                    if isinstance(slug, str) and slug in notes:
                        # The highlights of each item, as Markdown, beside the metadata.
                        with archive.open(notes[slug]) as md:
                            text = md.read(2_000_000).decode("utf-8", "replace")
                        entry.highlights = highlights_from_markdown(text)
                    yield entry
            except ijson.JSONError as exc:
                raise MalformedFile(f"{name} is not valid JSON ({exc})", entry=number + 1) from exc


def parse_fuze_zip(f: BinaryIO) -> Iterator[Entry]:
    """Fuze's ZIP export: its JSON export, streamed from the archive, each entry with the
    archived copies the ZIP carries (read by app.imports.jobs as the entries are saved)."""
    try:
        archive = zipfile.ZipFile(f)
        archive.getinfo(FUZE_ZIP_JSON)
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise MalformedFile(f"this ZIP file is damaged ({exc})") from exc
    with archive.open(FUZE_ZIP_JSON) as member:
        yield from parse_json(member, "fuze_json")  # type: ignore[arg-type]


# --- a plain list of URLs ---------------------------------------------------------------------


def parse_urls(f: BinaryIO) -> Iterator[Entry]:
    line = 0
    rest = ""
    for text in _text_pieces(f):
        lines = (rest + text).split("\n")
        rest = lines.pop()
        for raw in lines:
            line += 1
            entry = _url_line(raw, line)
            if entry is not None:
                yield entry
    if rest:
        entry = _url_line(rest, line + 1)
        if entry is not None:
            yield entry


def _url_line(raw: str, line: int) -> Entry | None:
    text = raw.strip()
    if not text or text.startswith("#"):
        return None
    url, _, title = text.partition(" ")
    looks_like_url = re.match(r"(https?://|[\w-]+(\.[\w-]+)+(/|$))", url, re.I)
    return Entry(
        url=url,
        title=clean_text(title, MAX_TITLE),
        line=line,
        error=None if looks_like_url else "this line is not a web address",
    )


# --- entry points -----------------------------------------------------------------------------


def parse(f: BinaryIO, fmt: str) -> Iterator[Entry]:
    """Every entry of the file, in order; raises MalformedFile where it cannot go on."""
    f.seek(0)
    if fmt in ("netscape", "pocket_html", "html"):
        parser = parse_html(f, pocket=fmt == "pocket_html")
    elif fmt.endswith("csv"):
        parser = parse_csv(f, fmt)
    elif fmt == "urls":
        parser = parse_urls(f)
    elif fmt == "omnivore_zip":
        parser = parse_omnivore_zip(f)
    elif fmt == "fuze_zip":
        parser = parse_fuze_zip(f)
    elif fmt in FORMATS:
        parser = parse_json(f, fmt)
    else:
        raise MalformedFile(f"unknown format {fmt!r}")
    for entry in parser:
        entry.tags = clean_tags(entry.tags)
        yield entry


def inspect(f: BinaryIO, filename: str | None = None) -> tuple[str, int]:
    """(format, number of entries): reads the whole file once, so a malformed file is
    refused before anything is stored."""
    fmt = detect(f, filename)
    count = 0
    for _ in parse(f, fmt):
        count += 1
    f.seek(0)
    if count == 0:
        raise MalformedFile(f"no bookmarks found in this {FORMATS[fmt]}")
    return fmt, count
