"""Page metadata from a lexbor DOM: <meta> (OpenGraph, Twitter, Dublin Core, article:*),
<link> (canonical, icons), JSON-LD and a few microdata attributes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

ARTICLE_TYPES = frozenset(
    """Article NewsArticle BlogPosting Report ScholarlyArticle TechArticle ReportageNewsArticle
    AnalysisNewsArticle OpinionNewsArticle ReviewNewsArticle BackgroundNewsArticle
    LiveBlogPosting SocialMediaPosting DiscussionForumPosting Review Recipe HowTo
    MedicalWebPage Blog""".split()
)
RELEVANT_TYPES = ARTICLE_TYPES | frozenset(
    "WebPage ItemPage AboutPage FAQPage QAPage ProfilePage CollectionPage Product VideoObject"
    " Event Course Book Movie SoftwareApplication Question".split()
)
MAX_JSON_LD = 3
SPACES = re.compile(r"\s+")
LANG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]+)*$")
DATE_ONLY = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
TITLE_SEP = re.compile(r"\s+[|\-–—:·•»/]\s+")
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
    "og:updated_time",
    "article:modified_time",
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
    metadata: dict = field(default_factory=dict)


def clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
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
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            m = DATE_ONLY.match(value)
            if m:
                try:
                    dt = datetime(int(m[1]), int(m[2]), int(m[3]))
                except ValueError:
                    dt = None
    if dt is None or not 1990 <= dt.year <= 2100:
        return None
    return dt


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


def _load_json_ld(tree) -> list[dict]:
    objs: list[dict] = []
    for node in tree.css('script[type="application/ld+json"]')[:10]:
        raw = node.text() or ""
        if not raw.strip() or len(raw) > 2_000_000:
            continue
        raw = raw.strip()
        if raw.startswith("<!--"):
            raw = raw[4:].rsplit("-->", 1)[0]
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        _flatten(data, objs)
    return objs


def _author_from_dom(tree) -> str | None:
    for sel in ('[itemprop="author"] [itemprop="name"]', '[itemprop="author"]', 'a[rel="author"]'):
        node = tree.css_first(sel)
        if node is not None:
            value = clean(node.attributes.get("content") or node.text(separator=" "))
            if value and len(value) <= 100:
                return value
    return None


def _strip_by(value: str | None) -> str | None:
    if not value:
        return None
    value = re.sub(r"^(?:by|von|par|por|di|door)\s+", "", value, flags=re.I).strip()
    if not value or len(value) > 200 or value.startswith(("http://", "https://", "@")):
        return None
    return value


def _clean_title(title: str, site_name: str | None) -> str:
    parts = TITLE_SEP.split(title)
    if len(parts) < 2:
        return title
    if site_name:
        key = site_name.lower()
        kept = [p for p in parts if p.lower() != key]
        if len(kept) < len(parts):
            return " - ".join(kept) if kept else title
    # "Headline | Site": keep the longest part when the others are short
    longest = max(parts, key=len)
    if len(longest.split()) >= 4 and all(len(p.split()) <= 4 for p in parts if p is not longest):
        return longest
    return title


def parse_meta(tree, url: str) -> Meta:
    meta: dict[str, str] = {}
    opengraph: dict[str, str] = {}
    twitter: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        content = attrs.get("content")
        if content is None:
            continue
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        key = key or attrs.get("http-equiv")
        if not key:
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

    base = url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = absolute(url, base_node.attributes.get("href")) or url

    canonical = icon = apple_icon = image_src = None
    for node in tree.css("link[rel][href]"):
        attrs = node.attributes
        rels = (attrs.get("rel") or "").lower().split()
        href = attrs.get("href")
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

    objs = _load_json_ld(tree)
    article = next((o for o in objs if _types(o) & ARTICLE_TYPES), None)
    page = article or next((o for o in objs if _types(o) & RELEVANT_TYPES), None) or {}
    json_ld = [_trim(o) for o in objs if _types(o) & RELEVANT_TYPES][:MAX_JSON_LD]

    out = Meta()
    publisher = page.get("publisher")
    out.site_name = clean(meta.get("og:site_name")) or clean(meta.get("application-name"))
    if not out.site_name and isinstance(publisher, dict):
        out.site_name = clean(publisher.get("name"))

    title_node = tree.css_first("title")
    html_title = clean(title_node.text()) if title_node is not None else None
    title = clean(meta.get("og:title")) or clean(meta.get("twitter:title"))
    title = title or clean(page.get("headline")) or html_title
    if not title:
        h1 = tree.css_first("h1")
        title = clean(h1.text(separator=" ")) if h1 is not None else None
    out.title = _clean_title(title, out.site_name) if title else None

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
    out.author = _strip_by(author) or _author_from_dom(tree)

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

    html_node = tree.css_first("html")
    lang = html_node.attributes.get("lang") if html_node is not None else None
    out.language = (
        normalise_language(lang)
        or normalise_language(html_node.attributes.get("xml:lang") if html_node else None)
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
