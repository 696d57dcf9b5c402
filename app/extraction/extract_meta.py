"""Page metadata from a lexbor DOM: <meta> (OpenGraph, Twitter, Dublin Core, article:*),
<link> (canonical, icons), JSON-LD and a few microdata attributes."""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

ARTICLE_TYPES = frozenset(
    [
        "Article",
        "NewsArticle",
        "BlogPosting",
        "Report",
        "ScholarlyArticle",
        "TechArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "ReviewNewsArticle",
        "BackgroundNewsArticle",
        "LiveBlogPosting",
        "SocialMediaPosting",
        "DiscussionForumPosting",
        "Review",
        "Recipe",
        "HowTo",
        "MedicalWebPage",
        "Blog",
    ]
)
RELEVANT_TYPES = ARTICLE_TYPES | frozenset(
    [
        "WebPage",
        "ItemPage",
        "AboutPage",
        "FAQPage",
        "QAPage",
        "ProfilePage",
        "CollectionPage",
        "Product",
        "VideoObject",
        "Event",
        "Course",
        "Book",
        "Movie",
        "SoftwareApplication",
        "Question",
    ]
)
MAX_JSON_LD = 3
SPACES = re.compile(r"\s+")
MARKUP = re.compile(r"</?[a-zA-Z][^>]*>")
LANG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]+)*$")
DATE_ONLY = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
TITLE_SEP = re.compile(r"\s+[|\-\u2013\u2014:\u00b7\u2022\u00bb/]\s+")
HEADING_MARKS = re.compile(r"^[\s\u00b6\u00a7#]+|[\s\u00b6\u00a7#]+$")
DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")
DATE_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "article:published",
    "datepublished",
    "published_time",
    "article.published",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "publication_date",
    "sailthru.date",
    "parsely-pub-date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "dcterms.created",
    "date",
)
AUTHOR_KEYS = (
    "author",
    "article:author",
    "parsely-author",
    "sailthru.author",
    "byl",
    "dc.creator",
    "dcterms.creator",
    "citation_author",
)


@dataclass
class Meta:
    title: str | None = None
    description: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    image: str | None = None
    favicon: str | None = None
    article_body: str | None = None  # JSON-LD articleBody: a hint, not an answer
    is_article: bool = False  # the page says it is one article (JSON-LD or og:type), no Product
    metadata: dict = field(default_factory=dict)


def clean(value: Any) -> str | None:
    """A one-line string: whitespace collapsed, markup that leaked into a value removed."""
    if not isinstance(value, str):
        return None
    if "<" in value and ">" in value:
        value = html_lib.unescape(MARKUP.sub(" ", value))
    value = SPACES.sub(" ", value).strip()
    return value or None


def absolute(base: str, href: str | None) -> str | None:
    href = clean(href)
    if not href or href.startswith(("data:", "javascript:", "mailto:", "#")):
        return None
    try:
        out = urljoin(base, href)
    except ValueError:
        return None
    return out if out.startswith(("http://", "https://")) else None


def parse_date(value: Any) -> datetime | None:
    value = clean(value)
    if not value or len(value) > 64:
        return None
    dt = None
    if value.isdigit() and len(value) in (10, 13):  # a Unix timestamp (s or ms)
        try:
            dt = datetime.fromtimestamp(int(value[:10]), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    else:
        dt = _parse_date_text(value)
    if dt is None or not 1990 <= dt.year <= 2100:
        return None
    return dt


def _parse_date_text(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    m = DATE_ONLY.match(value)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def normalise_language(value: Any) -> str | None:
    value = clean(value)
    if not value:
        return None
    value = value.split(",")[0].strip().lower()
    m = LANG.match(value)
    if not m or m[1] in ("und", "zxx", "mul"):
        return None
    return m[1]


def _types(obj: dict) -> set[str]:
    t = obj.get("@type")
    if isinstance(t, str):
        return {t.rsplit("/", 1)[-1]}
    if isinstance(t, list):
        return {x.rsplit("/", 1)[-1] for x in t if isinstance(x, str)}
    return set()


def _flatten(data: Any, out: list[dict], depth: int = 0) -> None:
    if depth > 3:
        return
    if isinstance(data, list):
        for item in data[:50]:
            _flatten(item, out, depth + 1)
    elif isinstance(data, dict):
        out.append(data)
        graph = data.get("@graph")
        if graph is not None:
            _flatten(graph, out, depth + 1)
        main = data.get("mainEntity")
        if isinstance(main, dict | list):
            _flatten(main, out, depth + 1)


def _trim(value: Any, depth: int = 0) -> Any:
    """A small JSON-serialisable copy: long strings cut, lists and nesting capped."""
    if isinstance(value, str):
        return value if len(value) <= 300 else value[:300] + "…"
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 3:
        return None
    if isinstance(value, list):
        return [_trim(v, depth + 1) for v in value[:5]]
    if isinstance(value, dict):
        return {
            str(k): _trim(v, depth + 1)
            for k, v in list(value.items())[:30]
            if k not in ("@context", "potentialAction", "breadcrumb", "hasPart", "comment")
        }
    return str(value)[:300]


def _name(value: Any) -> str | None:
    """Names from a JSON-LD person/organisation value (str, dict, or a list of them)."""
    if isinstance(value, str):
        return None if value.startswith(("http://", "https://")) else clean(value)
    if isinstance(value, dict):
        return clean(value.get("name"))
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value[:5]) if n]
        return ", ".join(dict.fromkeys(names)) or None
    return None


def _url_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("url") or value.get("contentUrl")
    if isinstance(value, list) and value:
        return _url_of(value[0])
    return None


def _load_json_ld(scripts: list) -> list[dict]:
    objs: list[dict] = []
    for node in scripts[:10]:
        raw = (node.text() or "").strip()
        if not raw or len(raw) > 2_000_000:
            continue
        if raw.startswith("<!--"):
            raw = raw[4:].rsplit("-->", 1)[0]
        try:
            data = json.loads(raw, strict=False)
        except (ValueError, RecursionError):
            continue
        _flatten(data, objs)
    return objs


def _text_of(node) -> str | None:
    if node is None:
        return None
    value = clean(node.attributes.get("content") or node.text(separator=" "))
    return value if value and len(value) <= 100 else None


def _heading(node) -> str | None:
    text = clean(node.text(separator=" "))
    return HEADING_MARKS.sub("", text) or None if text else None


def _strip_by(value: str | None) -> str | None:
    if not value:
        return None
    value = re.sub(r"^(?:by|von|par|por|di|door)\s+", "", value, flags=re.I).strip()
    if not value or len(value) > 200 or value.startswith(("http://", "https://", "@")):
        return None
    return value


def _clean_title(title: str, site_name: str | None, headings: list[str]) -> str:
    """ "Headline | Site" -> "Headline" when the page's top headings or its site name say
    which part is the headline (the first part when several match); otherwise the title as
    it is."""
    parts = [p for p in TITLE_SEP.split(title) if p]
    if len(parts) < 2:
        return title
    keys = {h.lower() for h in headings}
    matches = [p for p in parts if p.lower() in keys]
    if matches:
        return matches[0]
    for h in headings:  # "Headline: a subtitle | Site" with <h1>Headline: a subtitle</h1>
        if len(h) >= 10 and h.lower() in title.lower():
            return h
    if site_name:
        key = site_name.lower()
        kept = [p for p in parts if p.lower() != key]
        if 0 < len(kept) < len(parts):
            return " - ".join(kept)
    return title


# Everything the metadata needs, in one pass over the document (each css() call walks the
# whole tree; head elements can end up in <body> when a page has junk before them).
META_SELECTOR = "meta, link, base, title, script, h1, h2"


def parse_meta(tree, url: str) -> Meta:
    meta: dict[str, str] = {}
    opengraph: dict[str, str] = {}
    twitter: dict[str, str] = {}
    first: dict[str, Any] = {}  # first node of each other kind
    links: list = []
    scripts: list = []
    h1s: list = []
    h2s: list = []
    for node in tree.css(META_SELECTOR):
        tag = node.tag
        if tag == "meta":
            attrs = node.attributes
            content = attrs.get("content")
            key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
            key = key or attrs.get("http-equiv")
            if content is None or not key:
                continue
            key = key.strip().lower()
            content = content.strip()
            if not content:
                continue
            meta.setdefault(key, content)
            if key.startswith(("og:", "article:")):
                opengraph.setdefault(key.removeprefix("og:"), content[:1000])
            elif key.startswith("twitter:"):
                twitter.setdefault(key[8:], content[:1000])
        elif tag == "link":
            links.append(node)
        elif tag == "script":
            if node.attributes.get("type") == "application/ld+json":
                scripts.append(node)
        elif tag == "h1":
            h1s.append(node)
        elif tag == "h2":
            h2s.append(node)
        elif tag == "base":
            if "base" not in first and node.attributes.get("href"):
                first["base"] = node
        else:
            first.setdefault(tag, node)

    base = url
    if "base" in first:
        base = absolute(url, first["base"].attributes.get("href")) or url

    canonical = icon = apple_icon = image_src = None
    for node in links:
        attrs = node.attributes
        rels = (attrs.get("rel") or "").lower().split()
        href = attrs.get("href")
        if not rels or not href:
            continue
        if "canonical" in rels and canonical is None:
            canonical = absolute(base, href)
        elif "icon" in rels and icon is None:
            icon = absolute(base, href)
        elif ("apple-touch-icon" in rels or "apple-touch-icon-precomposed" in rels) and (
            apple_icon is None
        ):
            apple_icon = absolute(base, href)
        elif "image_src" in rels and image_src is None:
            image_src = absolute(base, href)

    objs = _load_json_ld(scripts)
    article = next((o for o in objs if _types(o) & ARTICLE_TYPES), None)
    page = article or next((o for o in objs if _types(o) & RELEVANT_TYPES), None) or {}
    json_ld = [_trim(o) for o in objs if _types(o) & RELEVANT_TYPES][:MAX_JSON_LD]

    out = Meta()
    publisher = page.get("publisher")
    out.site_name = clean(meta.get("og:site_name")) or clean(meta.get("application-name"))
    if not out.site_name and isinstance(publisher, dict):
        out.site_name = clean(publisher.get("name"))

    html_title = clean(first["title"].text()) if "title" in first else None
    # the first few <h1>s and <h2>s: one of them names the page
    headings = [h for h in (_heading(n) for n in h1s[:3] + h2s[:2]) if h]
    h1 = _heading(h1s[0]) if h1s else None
    og_title = clean(meta.get("og:title")) or clean(meta.get("twitter:title"))
    title = og_title or clean(page.get("headline")) or html_title or h1
    if og_title and html_title and og_title in TITLE_SEP.split(html_title)[1:]:
        title = html_title  # og:title is the site's name, <title> has the page's too
    out.title = _clean_title(title, out.site_name, headings) if title else None

    out.description = (
        clean(meta.get("description"))
        or clean(meta.get("og:description"))
        or clean(meta.get("twitter:description"))
        or clean(page.get("description"))
    )
    out.canonical_url = canonical or absolute(base, meta.get("og:url"))

    author = _name(page.get("author"))
    for key in AUTHOR_KEYS:
        if author:
            break
        author = _strip_by(clean(meta.get(key)))
    if not author:
        author_node = tree.css_first('[itemprop="author"]')
        if author_node is not None:  # microdata: the name inside the author, or its text
            author = _text_of(author_node.css_first('[itemprop="name"]')) or _text_of(author_node)
        author = author or _text_of(tree.css_first('a[rel="author"]'))
    out.author = _strip_by(author)

    published = parse_date(page.get("datePublished")) if page else None
    for key in DATE_KEYS:
        if published:
            break
        published = parse_date(meta.get(key))
    if not published:
        node = tree.css_first('[itemprop="datePublished"]') or tree.css_first("time[datetime]")
        if node is not None:
            attrs = node.attributes
            published = parse_date(attrs.get("datetime") or attrs.get("content"))
    out.published_at = published

    html_node = tree.root
    html_attrs = html_node.attributes if html_node is not None else {}
    out.language = (
        normalise_language(html_attrs.get("lang"))
        or normalise_language(html_attrs.get("xml:lang"))
        or normalise_language(meta.get("content-language"))
        or normalise_language(meta.get("language"))
        or normalise_language(meta.get("dc.language"))
        or normalise_language(meta.get("og:locale"))
        or normalise_language(page.get("inLanguage"))
    )

    out.image = (
        absolute(base, meta.get("og:image"))
        or absolute(base, meta.get("og:image:url"))
        or absolute(base, meta.get("og:image:secure_url"))
        or absolute(base, meta.get("twitter:image"))
        or absolute(base, meta.get("twitter:image:src"))
        or absolute(base, _url_of(page.get("image")))
        or image_src
    )
    out.favicon = icon or apple_icon or _default_favicon(url)
    body = page.get("articleBody")
    out.article_body = body if isinstance(body, str) else None
    og_type = opengraph.get("type", "").lower()
    # a shop's page says "Product" beside the "Article" a blog plugin adds to every page
    product = og_type.startswith("product") or any("Product" in _types(o) for o in objs)
    out.is_article = (article is not None or og_type == "article") and not product
    out.metadata = {"opengraph": opengraph, "json_ld": json_ld, "twitter": twitter}
    return out


def _default_favicon(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/favicon.ico"
