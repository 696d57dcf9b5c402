"""A saved page as one self-contained HTML file: its stylesheets, images and fonts inlined as
data URIs, everything that could run removed, and a Content-Security-Policy that lets it load
nothing from the network. It opens years later, offline, as it looked when saved.

What goes: scripts, frames, objects and embeds, `<base>`, refresh redirects, preloads, event
handler attributes, `javascript:` (and `vbscript:`, `data:text/html`) links, form targets,
`srcdoc`. What is fetched (through the worker's SSRF-safe fetcher, app.extraction.fetch):
stylesheets (and their `@import`s and `url()`s: fonts, background images), images (`src`,
else the largest `srcset` candidate, or the `data-src` a lazy-loading page keeps the real
one in), video posters and icons. Each asset has a size cap, the whole archive has one, and
what could not be fetched (too large, refused, missing, not the kind expected) is listed
with the reason: the archive says honestly what it lacks.

The images kept are also given back by the address the page named them by (its `src`, lazy
source and every `srcset` candidate), so the reader view can show them from the archive
(app/archives/images.py) instead of the live site.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from app.extraction.fetch import Asset, FetchError

# What the archive may load: only what it carries itself. Also sent as a header when served
# (app/archives/router.py), with `sandbox` on top.
ARCHIVE_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; font-src data:; "
    "media-src data:; form-action 'none'; base-uri 'none'"
)
REMOVED = (
    "script, noscript, iframe, frame, frameset, object, embed, applet, base, portal, "
    "meta[http-equiv], link[rel~='preload'], link[rel~='prefetch'], link[rel~='modulepreload'], "
    "link[rel~='preconnect'], link[rel~='dns-prefetch'], link[rel~='manifest'], "
    "link[rel~='import']"
)
URL_ATTRIBUTES = (
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "poster",
    "data",
    "background",
)
_UNSAFE_SCHEME = re.compile(r"^\s*(javascript|vbscript|data\s*:\s*text/html)", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+?)\1\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(
    r"""@import\s+(?:url\(\s*)?(['"]?)([^'")\s;]+)\1\s*\)?([^;]*);""", re.IGNORECASE
)
IMAGE_TYPES = ("image/",)


@dataclass
class Limits:
    asset_bytes: int = 5 * 1024 * 1024
    total_bytes: int = 20 * 1024 * 1024
    assets: int = 200
    concurrency: int = 6


@dataclass
class Built:
    html: bytes
    assets: int = 0  # inlined
    failed: list[dict[str, str]] = field(default_factory=list)  # {url, reason}
    # address in the page -> (media type, bytes): each image inlined, under every address
    # an <img> or <source> gave for it
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)


Fetcher = Callable[[str, int], Awaitable[Asset]]


class _Inliner:
    """Fetches each asset once, within the caps, and gives its data URI (or None)."""

    def __init__(self, get: Fetcher, limits: Limits) -> None:
        self.get = get
        self.limits = limits
        self.slots = asyncio.Semaphore(limits.concurrency)
        self.done: dict[str, asyncio.Task[str | None]] = {}
        self.total = 0
        self.inlined = 0
        self.failed: list[dict[str, str]] = []
        self.images: dict[str, tuple[str, bytes]] = {}

    def uri(self, url: str, kinds: tuple[str, ...]) -> Awaitable[str | None]:
        if url not in self.done:
            self.done[url] = asyncio.ensure_future(self._fetch(url, kinds))
        return self.done[url]

    def _fail(self, url: str, reason: str) -> None:
        self.failed.append({"url": url, "reason": reason})

    async def _get(self, url: str) -> Asset | None:
        """The file, within the caps on files and bytes (None, with the reason noted, if not)."""
        if len(self.done) > self.limits.assets:
            self._fail(url, f"more than {self.limits.assets} files on the page")
            return None
        room = min(self.limits.asset_bytes, self.limits.total_bytes - self.total)
        if room <= 0:
            self._fail(url, "the archive reached its size limit")
            return None
        async with self.slots:
            try:
                return await self.get(url, room)
            except FetchError as exc:
                self._fail(url, exc.message)
                return None

    def _keep(self, url: str, asset: Asset) -> bool:
        """Counts the file into the archive, unless that takes it past its size."""
        self.total += len(asset.body)
        if self.total > self.limits.total_bytes:
            self._fail(url, "the archive reached its size limit")
            return False
        self.inlined += 1
        return True

    async def _fetch(self, url: str, kinds: tuple[str, ...]) -> str | None:
        asset = await self._get(url)
        if asset is None:
            return None
        media_type = asset.media_type or _guess(url)
        if kinds and not media_type.startswith(kinds):
            self._fail(url, f"not the kind of file expected ({media_type or 'no type'})")
            return None
        if not self._keep(url, asset):
            return None
        if kinds == IMAGE_TYPES:
            self.images[url] = (media_type, asset.body)
        return f"data:{media_type};base64,{base64.b64encode(asset.body).decode('ascii')}"

    async def css(self, text: str, base: str, depth: int = 0) -> str:
        """A stylesheet with its imports inlined (two levels) and its url()s as data URIs."""
        imports: dict[str, str] = {}
        for match in _CSS_IMPORT.finditer(text):
            target = _absolute(match[2], base)
            if target and depth < 2 and target not in imports:
                imports[target] = await self._stylesheet(target, depth + 1) or ""
        text = _CSS_IMPORT.sub(
            lambda m: imports.get(_absolute(m[2], base) or "", "") if m[3].strip() == "" else "",
            text,
        )
        urls = {
            _absolute(m[2], base) for m in _CSS_URL.finditer(text) if not m[2].startswith("data:")
        }
        urls.discard(None)
        found = {u: await self.uri(u, ()) for u in urls if u is not None and not u.startswith("#")}

        def swap(m: re.Match[str]) -> str:
            if m[2].startswith("data:"):
                return m[0]
            data = found.get(_absolute(m[2], base) or "")
            return f'url("{data}")' if data else "url()"

        return _CSS_URL.sub(swap, text)

    async def _stylesheet(self, url: str, depth: int) -> str | None:
        asset = await self._get(url)
        if asset is None:
            return None
        if asset.media_type not in ("text/css", "", "text/plain"):
            self._fail(url, f"not a stylesheet ({asset.media_type})")
            return None
        if not self._keep(url, asset):
            return None
        return await self.css(asset.body.decode("utf-8", "replace"), asset.url, depth)


def _style_node(css: str) -> LexborNode:
    # "</style" inside the text would end the element early.
    css = re.sub(r"</(style)", r"<\\/\1", css, flags=re.IGNORECASE)
    node = LexborHTMLParser(f"<head><style>{css}</style></head>").head
    assert node is not None and node.child is not None
    return node.child


def _guess(url: str) -> str:
    path = urlsplit(url).path.lower()
    for suffix, media_type in (
        (".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"),
        (".gif", "image/gif"), (".webp", "image/webp"), (".svg", "image/svg+xml"),
        (".avif", "image/avif"), (".ico", "image/x-icon"), (".woff2", "font/woff2"),
        (".woff", "font/woff"), (".ttf", "font/ttf"), (".otf", "font/otf"),
    ):  # fmt: skip
        if path.endswith(suffix):
            return media_type
    return ""


def _absolute(url: str, base: str) -> str | None:
    url = url.strip()
    if not url or url.startswith(("data:", "#", "about:", "blob:")) or _UNSAFE_SCHEME.match(url):
        return None
    try:
        joined = urljoin(base, url)
    except ValueError:
        return None
    return joined if urlsplit(joined).scheme in ("http", "https") else None


# Where lazy-loading scripts keep an image's real address until it scrolls into view:
# data-src, data-lazy, data-lazy-src, data-original, data-fallback-src, data-srcset...
_LAZY_ATTRIBUTE = re.compile(r"^data-(?:[\w-]*src(?:set)?|lazy|original)$", re.IGNORECASE)


def _lazy_source(attrs: dict[str, str | None]) -> str | None:
    for name, value in attrs.items():
        if value and _LAZY_ATTRIBUTE.match(name) and not value.startswith("data:"):
            return _best_srcset(value) if name.lower().endswith("set") else value.strip()
    return None


def _srcset_urls(srcset: str | None) -> list[str]:
    return [c.split()[0] for c in (srcset or "").split(",") if c.strip()]


def _lazy_sets(attrs: dict[str, str | None]) -> list[str]:
    """Every address in the lazy-loading attributes (data-srcset's candidates included)."""
    out: list[str] = []
    for name, value in attrs.items():
        if value and _LAZY_ATTRIBUTE.match(name) and not value.startswith("data:"):
            out.extend(_srcset_urls(value) if name.lower().endswith("set") else [value.strip()])
    return out


def _best_srcset(srcset: str) -> str | None:
    """The widest (or densest) candidate of a srcset."""
    best: tuple[float, str] | None = None
    for candidate in srcset.split(","):
        parts = candidate.strip().split()
        if not parts:
            continue
        size = 1.0
        if len(parts) > 1 and parts[1][:-1].replace(".", "", 1).isdigit():
            size = float(parts[1][:-1])
        if best is None or size > best[0]:
            best = (size, parts[0])
    return best[1] if best else None


def _defuse(node: LexborNode, base: str) -> None:
    """No handler, no script URL, no frame document; links made absolute."""
    for name in list(node.attributes):
        lower = name.lower()
        value = node.attributes.get(name) or ""
        if (
            lower.startswith("on")
            or lower
            in (
                "srcdoc",
                "formaction",
                "ping",
                "integrity",
                "nonce",
            )
            or (lower in URL_ATTRIBUTES and _UNSAFE_SCHEME.match(value))
            or (lower == "target" and node.tag == "form")
        ):
            del node.attrs[name]
    if node.tag == "a" and node.attributes.get("href"):
        absolute = _absolute(node.attributes["href"] or "", base)
        if absolute:
            node.attrs["href"] = absolute
        node.attrs["rel"] = "noopener noreferrer nofollow"
    if node.tag == "form":
        node.attrs["action"] = "about:blank"


async def build_archive(
    page_html: str, base_url: str, get: Fetcher, limits: Limits | None = None
) -> Built:
    limits = limits or Limits()
    tree = LexborHTMLParser(page_html)
    for node in tree.css(REMOVED):
        node.decompose()
    inliner = _Inliner(get, limits)
    base = base_url
    jobs: list[Awaitable[None]] = []
    aliases: dict[str, set[str]] = {}  # the address fetched -> every address the page gave

    async def image(node: LexborNode, attribute: str, url: str | None) -> None:
        target = _absolute(url or "", base)
        data = await inliner.uri(target, IMAGE_TYPES) if target else None
        if data:
            node.attrs[attribute] = data
        elif attribute in node.attributes:
            node.attrs[attribute] = ""

    async def stylesheet(node: LexborNode, url: str) -> None:
        text = await inliner._stylesheet(url, 0)
        if text is None:
            node.decompose()
        else:
            node.replace_with(_style_node(text))

    async def inline_style(node: LexborNode) -> None:
        if node.tag == "style":
            node.replace_with(_style_node(await inliner.css(node.text(), base)))
        else:
            node.attrs["style"] = await inliner.css(node.attributes.get("style") or "", base)

    for node in list(tree.root.traverse()) if tree.root else []:
        if node.tag in ("-text", "-comment", None):
            continue
        _defuse(node, base)
        tag = node.tag
        attrs = node.attributes
        if tag == "link":
            rel = (attrs.get("rel") or "").lower().split()
            href = _absolute(attrs.get("href") or "", base)
            if "stylesheet" in rel and href:
                jobs.append(stylesheet(node, href))
            elif "icon" in rel and href:
                jobs.append(image(node, "href", href))
            elif href:
                node.decompose()
        elif tag in ("img", "source", "input") and (tag != "input" or attrs.get("type") == "image"):
            src = attrs.get("src")
            lazy = _lazy_source(attrs)
            srcset = attrs.get("srcset")
            chosen = src if src and not src.startswith("data:") else None
            chosen = chosen or lazy or (_best_srcset(srcset) if srcset else None)
            target = _absolute(chosen or "", base)
            if target:
                named = aliases.setdefault(target, set())
                for value in (src, lazy, *_srcset_urls(srcset), *_lazy_sets(attrs)):
                    if (address := _absolute(value or "", base)) is not None:
                        named.add(address)
            for name in attrs:
                if name in ("srcset", "sizes") or _LAZY_ATTRIBUTE.match(name):
                    del node.attrs[name]
            if tag == "source" and chosen:
                node.attrs["srcset"] = ""
                jobs.append(image(node, "srcset", chosen))
            elif chosen:
                jobs.append(image(node, "src", chosen))
        elif tag in ("video", "audio"):
            if attrs.get("poster"):
                jobs.append(image(node, "poster", attrs.get("poster")))
            node.attrs["preload"] = "none"
        elif tag == "style" or attrs.get("style"):
            jobs.append(inline_style(node))
    await asyncio.gather(*jobs)
    images = dict(inliner.images)
    for target, named in aliases.items():
        if target in inliner.images:
            for address in named:
                images.setdefault(address, inliner.images[target])

    head = tree.head
    if head is not None:
        saved = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        metas = LexborHTMLParser(
            "<head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{ARCHIVE_CSP}\">"
            f"<meta name='fuze-archive' content='{html.escape(base_url)} {saved}'></head>"
        ).head
        first = head.child
        for meta in list(metas.iter()) if metas is not None else []:
            if first is not None:
                first.insert_before(meta)
            else:
                head.insert_child(meta)
    out = tree.html or ""
    return Built(out.encode("utf-8"), inliner.inlined, inliner.failed, images)
