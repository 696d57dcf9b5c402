"""Main text and metadata of a web page: `extract(html, url) -> Extracted`.

    from app.extraction.extract import extract, Extracted, ExtractionError

1. Input: bytes are decoded (BOM, else <meta charset> / http-equiv / XML declaration in the
   first 8 KB, else UTF-8, or windows-1252 when the bytes are clearly not UTF-8); input past
   MAX_HTML is cut off, not refused. Empty input raises ExtractionError("empty"), a PDF,
   image, archive or other binary raises ExtractionError("binary"). Pathologically deep
   nesting, which makes any HTML tree builder quadratic, is flattened first.
2. lexbor (selectolax) parses the page once; metadata comes from <meta>, <link>, JSON-LD and
   microdata (extract_meta.py).
3. The main text comes from one walk over the body and a readability-style choice of the
   article container with trafilatura-style cleaning (extract_text.py, extract_walk.py,
   extract_vocab.py). A page with markup but no readable text raises
   ExtractionError("no_text"). The same chosen blocks are rendered as sanitised HTML with
   their structure (headings, lists, code, tables, links, images) for the reader view
   (extract_html.py).
4. Derived fields: word count, reading time (230 words a minute), a content hash of the
   whitespace-normalised lower-cased text, a 0-100 quality score (`quality_score`).

Pure and thread-safe: every call builds its own parser, nothing mutable is shared between
calls (the only module state is two bounded caches of class-name verdicts), no I/O. About
3 ms for a typical news page, single-threaded.
"""

from __future__ import annotations

import codecs
import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime

from selectolax.lexbor import LexborHTMLParser

from app.extraction.extract_html import render_content
from app.extraction.extract_meta import parse_meta
from app.extraction.extract_text import main_text

MAX_HTML = 5_000_000  # bytes (or characters) parsed; the rest of a bigger page is dropped
WORDS_PER_MINUTE = 230

BINARY_MAGIC = (
    b"%PDF-",
    b"\x89PNG",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"7z\xbc\xaf",
    b"Rar!",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"fLaC",
    b"wOFF",
    b"wOF2",
    b"\x7fELF",
    b"\xd0\xcf\x11\xe0",
    b"II*\x00",
    b"MM\x00*",
    b"\x1aE\xdf\xa3",
    b"SQLite format 3",
    b"\x00asm",
)
META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([\w.:\-]+)""", re.I)
XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:\-]+)""", re.I)
# WHATWG: these labels mean windows-125x / a superset in browsers.
CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "x-user-defined": "cp1252",
}
# Block elements whose unclosed nesting makes HTML tree building quadratic (each start tag
# scans the stack of open elements): 100,000 unclosed <div>s take lexbor (or a browser)
# tens of seconds. Nested deeper than MAX_UNCLOSED, they are dropped and their text kept.
NESTING_TAGS = re.compile(
    r"<(/?)(div|ul|ol|dl|blockquote|section|article|center|main|nav|aside|header|footer|figure"
    r"|figcaption|details|summary|fieldset|address|menu|dir|hgroup|dialog|search)\b",
    re.I,
)
MAX_UNCLOSED = 2000
# Encodings of non-Latin scripts: a guess of one of these is trusted (see _guess_legacy).
_NON_LATIN_NAMES = """cp1251 koi8_r koi8_u iso8859_5 mac_cyrillic cp866 cp855 cp1253 iso8859_7
cp1255 iso8859_8 cp1256 iso8859_6 cp874 tis_620 big5 big5hkscs gb2312 gbk gb18030 hz shift_jis
cp932 euc_jp euc_jis_2004 euc_jisx0213 shift_jis_2004 shift_jisx0213 iso2022_jp euc_kr cp949
johab iso2022_kr"""
NON_LATIN = frozenset(codecs.lookup(name).name for name in _NON_LATIN_NAMES.split())
CONTROL = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f]")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"[.!?\u2026:;\"'\u201d\u2019)\]\u3002\uff01\uff1f]$")

STOPWORDS = {
    "en": "the and of to in is that for it with was on as are be this by at from have not",
    "de": "der die und das ist nicht mit den von sich des auf für ein eine dem im auch es zu",
    "fr": "le la les et des est une dans que pour pas sur qui par au du avec il sont ce",
    "es": "el la los las de que y en del por con para una es se al lo como más pero",
    "it": "il di che la per non una sono del della le con si anche gli da nel è ma",
    "pt": "de que os as do da em para com uma não se por mais dos das ao ou é foi",
    "nl": "de het een en van is dat op te niet met voor zijn er aan ook die bij",
    "sv": "och att det som en är på för med av till inte den har om var jag ett",
    "pl": "i w na nie się z że do to jest jak po od przez są dla ale tak",
    "tr": "ve bir bu da de için ile çok daha olarak gibi ne ama olan var",
    "ru": "\u0438 \u0432 \u043d\u0435 \u043d\u0430 \u0447\u0442\u043e \u043f\u043e \u043a\u0430\u043a \u044d\u0442\u043e",  # и в не на что по как это
}
STOPWORD_SETS = {lang: frozenset(words.split()) for lang, words in STOPWORDS.items()}
SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)


class ExtractionError(Exception):
    """Raised when a page has nothing to extract. `code` is one of "empty", "binary",
    "no_text", "too_large"; `message` is a sentence for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Extracted:
    title: str | None
    description: str | None
    canonical_url: str | None
    site_name: str | None
    author: str | None
    published_at: datetime | None
    language: str | None
    image: str | None
    favicon: str | None
    text: str
    word_count: int
    reading_time_minutes: int
    content_hash: str
    quality: int
    metadata: dict
    # The main text's structure as sanitised HTML (extract_html.py), for the reader view;
    # None when there is none (the text came from the page's JSON-LD).
    html: str | None = None


# -- input -----------------------------------------------------------------------------------
def _is_binary(head: bytes) -> bool:
    stripped = head.lstrip()
    if stripped.startswith(BINARY_MAGIC) or head[4:8] == b"ftyp":
        return True
    if head.count(b"\x00") > 2 + len(head) // 100:  # a stray NUL is not enough
        return True
    sample = head[:4096].decode("latin-1")
    return len(CONTROL.findall(sample)) > max(8, len(sample) // 20)


def _charset(raw: bytes) -> str | None:
    head = raw[:8192]
    m = XML_ENCODING.match(head) or META_CHARSET.search(head)
    if not m:
        return None
    label = m.group(1).decode("ascii", "ignore").lower()
    label = CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # "base64", "rot13"...
        return None
    name = info.name
    if name.startswith("utf-16") or name.startswith("utf-32"):
        return "utf-8"  # an ASCII-readable declaration cannot be true for UTF-16 bytes
    return name


def decode(raw: bytes) -> str:
    """Bytes to text: a BOM, else a <meta charset> / http-equiv / XML declaration, else UTF-8
    (or windows-1252 when almost none of the non-ASCII bytes are valid UTF-8)."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", "replace")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", "replace")
    enc = _charset(raw)
    if enc and enc != "utf-8":
        try:
            return raw.decode(enc, "replace")
        except (LookupError, UnicodeError, ValueError):
            enc = None
    text = raw.decode("utf-8", "replace")
    if enc is None and "\ufffd" in text:
        bad = text.count("\ufffd")
        high = len(raw.translate(None, bytes(range(128))))
        if bad * 2 > high:  # not UTF-8 at all: a legacy 8-bit or CJK encoding
            return raw.decode(_guess_legacy(raw), "replace")
    return text


def _guess_legacy(raw: bytes) -> str:
    """The encoding of undeclared non-UTF-8 bytes (the charset was in an HTTP header we do not
    see): charset-normalizer when it is installed, else windows-1252 as browsers do."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - it comes with requests
        return "cp1252"
    try:
        best = from_bytes(raw[:65536]).best()
        name = codecs.lookup(best.encoding).name if best is not None else ""
    except Exception:  # a guess that fails is no worse than no guess
        return "cp1252"
    # trusted only for non-Latin scripts: between Latin code pages the guess is unreliable
    # (French in windows-1252 comes back as windows-1250), and windows-1252 is the default
    return name if name in NON_LATIN else "cp1252"


def _prepare(html: str | bytes) -> str:
    if html is None:
        raise ExtractionError("empty", "The page is empty.")
    if isinstance(html, bytes | bytearray | memoryview):
        raw = bytes(html[:MAX_HTML])
        if not raw.strip():
            raise ExtractionError("empty", "The page is empty.")
        if not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _is_binary(
            raw[:8192]
        ):
            raise ExtractionError("binary", "The page is a binary file, not HTML.")
        text = decode(raw)
        if not text.strip("\ufeff \t\r\n\f"):
            raise ExtractionError("empty", "The page is empty.")
    elif isinstance(html, str):
        text = html[:MAX_HTML]
        if not text.strip():
            raise ExtractionError("empty", "The page is empty.")
        head = text[:8192]
        if _is_binary(head.encode("utf-8", "replace")):
            raise ExtractionError("binary", "The page is a binary file, not HTML.")
    else:
        raise TypeError("html must be str or bytes")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _flatten_nesting(text.lstrip("\ufeff"))


def _flatten_nesting(text: str) -> str:
    """Drop the block tags of pathologically deep nesting (see NESTING_TAGS)."""
    if text.count("<") < 15_000:  # too few tags to nest deep enough to matter
        return text
    depth = deepest = 0
    opens: dict[str, int] = {}
    for m in NESTING_TAGS.finditer(text):
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            tag = m.group(2).lower()
            opens[tag] = opens.get(tag, 0) + 1
            deepest = max(deepest, depth)
    if deepest <= MAX_UNCLOSED:
        return text
    bad = [tag for tag, n in opens.items() if n >= 100]
    return re.sub(rf"</?(?:{'|'.join(bad)})\b[^>]*>", "\n", text, flags=re.I)


# -- derived fields --------------------------------------------------------------------------
def _words(text: str, split: list[str] | None = None) -> int:
    """Words of a text; `split` is text.split() when the caller has it already."""
    cjk = len(CJK.findall(text))
    if cjk > len(text) // 4:
        return len(CJK.sub(" ", text).split()) + cjk // 2  # ~2 characters a word
    return len(text.split() if split is None else split)


def content_hash(text: str, split: list[str] | None = None) -> str:
    """The text's hash, blind to case and spacing; `split` is text.split() when the caller
    has it already (lower-casing changes no spacing, so it may come after the split)."""
    words = text.split() if split is None else split
    return hashlib.sha256(" ".join(words).lower().encode("utf-8")).hexdigest()


def guess_language(text: str) -> str | None:
    sample = text[:3000]
    for lang, pattern in SCRIPTS:
        if len(pattern.findall(sample)) > len(sample) // 5:
            return lang
    words = WORD.findall(sample.lower())[:500]
    if len(words) < 10:
        return None
    best, best_hits = None, 0
    for lang, stop in STOPWORD_SETS.items():
        hits = sum(1 for w in words if w in stop)
        if hits > best_hits:
            best, best_hits = lang, hits
    return best if best_hits >= max(3, len(words) // 20) else None


def quality_score(
    *,
    words: int,
    paragraphs: list[str],
    text_link_chars: int,
    text_chars: int,
    page_chars: int,
    has_title: bool,
    has_description: bool,
    has_date: bool,
    has_author: bool,
) -> int:
    """0-100 from measurable signals, the sum of:

    - 30 * min(1, words * (1 - link density) / 300)  length of the text outside links
    - 15 * min(1, long paragraphs / 5)               paragraphs of 80+ characters
    - 15 * (1 - min(1, 2 * link density))            link density = characters inside links /
                                                     characters of the main text
    - 10 * min(1, 2 * text / page text)              share of the page's visible text kept
                                                     (low when the page is mostly boilerplate)
    - 10 * sentence share                            paragraphs of 80+ characters that end
                                                     like a sentence / all paragraphs
    - 10 if there is a title, 4 a description, 3 a published date, 3 an author.

    A long article with a title scores 85-100, a short news item 60-85, a list of links or
    a page of fragments under 40.
    """
    if not text_chars:
        return 0
    n = len(paragraphs)
    long = [p for p in paragraphs if len(p) >= 80]
    sentences = sum(1 for p in long if SENTENCE_END.search(p.rstrip())) / n if n else 0.0
    link_density = min(1.0, text_link_chars / text_chars)
    score = (
        30 * min(1.0, words * (1 - link_density) / 300)
        + 15 * min(1.0, len(long) / 5)
        + 15 * (1 - min(1.0, 2 * link_density))
        + 10 * min(1.0, 2 * text_chars / max(page_chars, 1))
        + 10 * sentences
        + 10 * has_title
        + 4 * has_description
        + 3 * has_date
        + 3 * has_author
    )
    return max(0, min(100, round(score)))


# -- entry point -----------------------------------------------------------------------------
def extract(html: str | bytes, url: str) -> Extracted:
    """Main text and metadata of one page. `url` is the page's address (for absolute links).

    Raises ExtractionError("empty" | "binary" | "no_text").
    """
    text_in = _prepare(html)
    tree = LexborHTMLParser(text_in)
    meta = parse_meta(tree, url or "")
    body = tree.body
    if body is None:
        raise ExtractionError("no_text", "The page has no readable text.")
    result = main_text(body, meta.title, meta.article_body, meta.is_article)
    if not result.text:
        raise ExtractionError("no_text", "The page has no readable text.")
    text = result.text
    split = text.split()  # for the word count and the hash alike
    words = _words(text, split)
    paragraphs = text.split("\n\n")
    language = meta.language or guess_language(text)
    content_html, lead = render_content(result.blocks, url or "")
    return Extracted(
        title=meta.title,
        description=meta.description,
        canonical_url=meta.canonical_url,
        site_name=meta.site_name,
        author=meta.author,
        published_at=meta.published_at,
        language=language,
        # The page's own picture (og:image, twitter:image), else its content's first large one.
        image=meta.image or lead,
        favicon=meta.favicon,
        text=text,
        word_count=words,
        reading_time_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)) if words else 0,
        content_hash=content_hash(text, split),
        quality=quality_score(
            words=words,
            paragraphs=paragraphs,
            text_link_chars=result.link_chars,
            text_chars=result.text_chars,
            page_chars=result.page_chars,
            has_title=bool(meta.title),
            has_description=bool(meta.description),
            has_date=meta.published_at is not None,
            has_author=bool(meta.author),
        ),
        metadata=meta.metadata,
        html=content_html,
    )
