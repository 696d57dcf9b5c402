"""The chosen main text as a sanitised HTML fragment, for the reader view.

    html = render_html(blocks, base_url)  # None when there is nothing to render

It is built from the same walk as the plain text (extract_walk.py), for the blocks that
extract_text.py chose, so the two always hold the same content:

- Block structure comes from the elements above each block: headings, lists and their items
  (nested), block quotes, preformatted code (line breaks kept), data tables (rows, header
  and data cells), definition lists. Other containers (div, section, article...) become
  paragraphs. A table that holds headings, code, quotes or another table is a layout
  table, and its cells are not a table.
- Inline markup comes from the markers the walk kept for each block: links (absolute, from
  the page's address), emphasis, strong, inline code, sub/superscript, deletions and images
  (absolute src, also from lazy-loading attributes, and the alt text). An image that stands
  alone between paragraphs is rendered before the block that follows it.

The result is then sanitised by nh3 (ammonia, a maintained HTML sanitiser) with an
allow-list of the tags above; only http(s) and mailto links and http(s) images, every link
with rel="noopener noreferrer nofollow". Nothing of the page's own attributes survives but
href, src and alt, so no script, style or event handler can.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urljoin, urlsplit

import nh3

from app.extraction.extract_vocab import HEADING_MARKS, HEADINGS
from app.extraction.extract_walk import BR, M_CLOSE, M_IMG, M_OPEN, Block, Element

# Block elements kept as they are; any other container of a block is a paragraph.
STRUCTURE = frozenset(
    {"ul", "ol", "li", "blockquote", "pre", "table", "tr", "td", "th", "caption"}
    | {"dl", "dt", "dd"}
    | HEADINGS
)
TABLE_PARTS = frozenset({"table", "tr", "td", "th", "caption"})
# Block elements whose own text is not wrapped in a paragraph.
TEXT_HOLDERS = frozenset({"li", "td", "th", "caption", "dt", "dd", "pre"} | HEADINGS)
NOT_IN_DATA_TABLE = frozenset({"table", "pre", "blockquote"} | HEADINGS)
LAZY_SRC = ("src", "data-src", "data-original", "data-lazy-src")
MAX_HTML = 2_000_000  # characters; a longer rendering is not kept (the text still is)

ALLOWED_TAGS = {
    *STRUCTURE,
    *("p", "br", "a", "img", "em", "strong", "code", "del", "sub", "sup", "mark"),
    *("thead", "tbody", "tfoot"),  # the parser may add a tbody
}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"


def render_html(blocks: list[Block], base_url: str) -> str | None:
    """The blocks (in document order, as chosen) as sanitised HTML; None without blocks."""
    return render_content(blocks, base_url)[0]


def render_content(blocks: list[Block], base_url: str) -> tuple[str | None, str | None]:
    """render_html(), and the address of the content's first large image (lead_image)."""
    if not blocks:
        return None, None
    renderer = _Renderer(base_url)
    out = renderer.render(blocks)
    if not out or len(out) > MAX_HTML:
        return None, renderer.lead
    return sanitize(out) or None, renderer.lead


# The first image of the main content that can stand for the page on a card: not one that
# says it is small, nor what its address or class names as an icon, a logo, an avatar, a
# badge, an emoji, a spacer or a tracking pixel, nor a vector drawing (often a diagram's
# lines on nothing, or an icon).
MIN_LEAD_SIDE = 150
NOT_A_PICTURE = re.compile(
    r"icon|logo|avatar|gravatar|badge|emoji|sprite|spacer|pixel|blank|button|banner-ad|"
    r"/ads?/|\.svg(?:$|\?)|\.ico(?:$|\?)",
    re.IGNORECASE,
)


def _declared(value: str | None) -> int | None:
    digits = (value or "").strip().removesuffix("px")
    return int(digits) if digits.isdigit() else None


def lead_image(attrs: dict, url: str) -> bool:
    """Whether an image of the main content (its attributes and absolute address) is large
    enough, and picture enough, to stand for the page."""
    for side in (_declared(attrs.get("width")), _declared(attrs.get("height"))):
        if side is not None and side < MIN_LEAD_SIDE:
            return False
    names = " ".join((url, attrs.get("class") or "", attrs.get("id") or ""))
    return not NOT_A_PICTURE.search(names)


def sanitize(fragment: str) -> str:
    """An HTML fragment cut down to the reader view's allow-list."""
    cleaned = nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    # an image may only come from the web (a mailto: src is allowed by the shared schemes)
    return IMG_NOT_HTTP.sub("", cleaned)


IMG_NOT_HTTP = re.compile(r"<img(?![^>]*\ssrc=\"https?://)[^>]*>", re.I)


class _Renderer:
    def __init__(self, base_url: str) -> None:
        self.base = base_url or ""
        self.out: list[str] = []
        self.layout: dict[int, bool] = {}  # table element id -> is a layout table
        self.paths: dict[int, list[Element]] = {}  # element id -> its `_path`
        self.lead: str | None = None  # the first large image (lead_image)

    def render(self, blocks: list[Block]) -> str:
        out = self.out
        open_path: list[Element] = []
        last_holder: Element | None = None
        for b in blocks:
            path = self._path(b.el)
            same = 0
            while same < len(path) and same < len(open_path) and path[same] is open_path[same]:
                same += 1
            for el in reversed(open_path[same:]):
                out.append(f"</{el.tag}>")
            continued = same == len(path) == len(open_path)
            # images that stood alone before the block go in the container both share
            imgs = "".join(self._img(node) for node in b.imgs) if b.imgs else ""
            shared = path[same - 1] if same else None
            if imgs:
                continued = False
                if shared is None or shared.tag == "blockquote":
                    out.append(f"<p>{imgs}</p>")
                    imgs = ""
                elif shared.tag in TEXT_HOLDERS:
                    out.append(imgs)
                    imgs = ""
            for el in path[same:]:
                out.append(f"<{el.tag}>")
            out.append(imgs)  # inside a list item or a cell
            open_path = path
            inner = path[-1] if path else None
            if inner is not None and (inner.tag == "pre" or _in_pre(path)):
                if continued and last_holder is inner:
                    out.append("\n")
                out.append(escape(b.text, quote=False))
                last_holder = inner
                continue
            if inner is not None and inner.tag in HEADINGS:
                text = HEADING_MARKS.sub("", b.text) or b.text
                out.append(escape(" ".join(text.split()), quote=False))
                last_holder = inner
                continue
            content = self._inline(b)
            if inner is not None and b.el is inner and inner.tag in TEXT_HOLDERS:
                if continued and last_holder is inner:
                    out.append("<br>")
                out.append(content)
                last_holder = inner
            else:
                out.append(f"<p>{content}</p>")
                last_holder = None
        for el in reversed(open_path):
            out.append(f"</{el.tag}>")
        return "".join(out)

    # -- block structure ---------------------------------------------------------------------
    def _path(self, el: Element | None) -> list[Element]:
        """The structural elements above a block (its own element included), outermost
        first; built on the parent's, which the blocks before it have mostly made."""
        if el is None:
            return []
        key = id(el)
        path = self.paths.get(key)
        if path is None:
            path = self._path(el.parent)
            if el.tag in STRUCTURE and not (el.tag in TABLE_PARTS and self._in_layout(el)):
                path = [*path, el]
            self.paths[key] = path
        return path

    def _in_layout(self, el: Element) -> bool:
        table: Element | None = el
        while table is not None and table.tag != "table":
            table = table.parent
        if table is None:
            return True  # a cell outside a table: not a table
        key = id(table)
        verdict = self.layout.get(key)
        if verdict is None:
            verdict = self.layout[key] = _is_layout(table)
        return verdict

    # -- inline markup -----------------------------------------------------------------------
    def _inline(self, b: Block) -> str:
        parts = getattr(b, "parts", None)
        if parts is None:  # a block the walk did not make: its text
            return escape(b.text, quote=False)
        run = parts[b.h0 : b.h1]
        if BR in run:
            run = _paragraph(run, b.nth)
        out: list[str] = []
        stack: list[str] = []  # closing tags of what is open, innermost last
        for part in run:
            if type(part) is str:
                if part == BR:
                    out.append("<br>")
                else:
                    out.append(escape(part, quote=False))
                continue
            kind, what = part
            if kind == M_OPEN:
                if type(what) is str:
                    out.append(f"<{what}>")
                    stack.append(what)
                else:
                    href = self._url(what.attributes.get("href"), ("http", "https", "mailto"))
                    out.append(f'<a href="{escape(href)}">' if href else "")
                    stack.append("a" if href else "")
            elif kind == M_CLOSE:
                # a run may start inside an element: its closing has nothing to close
                if stack and (stack[-1] == what or (what == "a" and stack[-1] == "")):
                    tag = stack.pop()
                    if tag:
                        out.append(f"</{tag}>")
            elif kind == M_IMG:
                out.append(self._img(what))
        for tag in reversed(stack):
            if tag:
                out.append(f"</{tag}>")
        # runs of spaces and line breaks of the source read as one space (outside <pre>)
        return " ".join("".join(out).split())

    def _img(self, node) -> str:
        attrs = node.attributes
        if attrs.get("width") in ("0", "1") or attrs.get("height") in ("0", "1"):
            return ""  # a tracking pixel
        src = None
        for name in LAZY_SRC:
            value = attrs.get(name)
            if value and not value.startswith("data:"):
                src = value
                break
        if src is None:
            srcset = attrs.get("srcset") or attrs.get("data-srcset")
            if srcset:
                src = srcset.split(",")[0].split()[0] if srcset.strip() else None
        url = self._url(src, ("http", "https"))
        if not url:
            return ""
        if self.lead is None and lead_image(attrs, url):
            self.lead = url
        alt = " ".join((attrs.get("alt") or "").split())
        return f'<img src="{escape(url)}" alt="{escape(alt)}">'

    def _url(self, value: str | None, schemes: tuple[str, ...]) -> str | None:
        if not value:
            return None
        value = value.strip()
        if not value or value[0] == "#":
            return None  # an in-page anchor means nothing outside the page
        head = value[:8].lower()
        if head.startswith(("https://", "http://")) and " " not in value:
            return value  # absolute already (the common case); every caller allows http(s)
        try:
            url = urljoin(self.base, value)
            scheme = urlsplit(url).scheme.lower()
        except ValueError:
            return None
        return url if scheme in schemes else None


def _paragraph(run: list, nth: int) -> list:
    """The parts of the `nth` paragraph of a run split by blank lines (<br><br>), as the
    walk split its text: lines with text, ended by a line without."""
    lines: list[list] = [[]]
    for part in run:
        if type(part) is str and part == BR:
            lines.append([])
        else:
            lines[-1].append(part)
    paragraphs: list[list] = []
    current: list = []
    for line in [*lines, []]:
        if any(type(p) is str and p.strip() for p in line):
            if current:
                current.append(BR)
            current.extend(line)
        elif current:
            paragraphs.append(current)
            current = []
    return paragraphs[nth] if nth < len(paragraphs) else []


def _in_pre(path: list[Element]) -> bool:
    """Whether a block is inside a <pre> (its text keeps its lines, <br> included)."""
    return any(el.tag == "pre" for el in path)


def _is_layout(table: Element) -> bool:
    """A table used to lay out a page, not to hold data: it holds headings, code, quotes
    or another table."""
    todo = list(table.kids)
    while todo:
        el = todo.pop()
        if el.tag in NOT_IN_DATA_TABLE:
            return True
        todo.extend(el.kids)
    return False


# -- Markdown documents ----------------------------------------------------------------------
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
MD_FENCE = re.compile(r"^\s*(```|~~~)")
MD_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$")
MD_INLINE = re.compile(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")


def markdown_html(text: str) -> str | None:
    """A saved Markdown file's structure for the reader view: ATX headings, fenced code,
    flat lists, quotes and paragraphs, with inline code, links and emphasis (not all of
    CommonMark: what is not understood stays text). Sanitised like a page's."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    lines = text.splitlines()
    i = 0

    def end_blocks() -> None:
        nonlocal list_tag
        if para:
            out.append(f"<p>{'<br>'.join(para)}</p>")
            para.clear()
        if items:
            out.append(f"<{list_tag}>{''.join(items)}</{list_tag}>")
            items.clear()
            list_tag = ""

    while i < len(lines):
        line = lines[i]
        fence = MD_FENCE.match(line)
        if fence:
            end_blocks()
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence.group(1)):
                code.append(lines[i])
                i += 1
            out.append(f"<pre>{escape(chr(10).join(code), quote=False)}</pre>")
        elif not line.strip():
            end_blocks()
        elif heading := MD_HEADING.match(line):
            end_blocks()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_md_inline(heading.group(2))}</h{level}>")
        elif item := MD_ITEM.match(line):
            tag = "ul" if item.group(1) else "ol"
            if para or (items and tag != list_tag):
                end_blocks()
            list_tag = tag
            items.append(f"<li>{_md_inline(item.group(3))}</li>")
        elif line.lstrip().startswith(">"):
            end_blocks()
            out.append(f"<blockquote><p>{_md_inline(line.lstrip()[1:].strip())}</p></blockquote>")
        elif items:
            items[-1] = items[-1][: -len("</li>")] + " " + _md_inline(line.strip()) + "</li>"
        else:
            para.append(_md_inline(line.strip()))
        i += 1
    end_blocks()
    rendered = "".join(out)
    if not rendered or len(rendered) > MAX_HTML:
        return None
    return sanitize(rendered) or None


def _md_inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in MD_INLINE.finditer(text):
        out.append(escape(text[pos : m.start()], quote=False))
        code, label, href, strong, em = m.groups()
        if code is not None:
            out.append(f"<code>{escape(code, quote=False)}</code>")
        elif label is not None:
            out.append(f'<a href="{escape(href)}">{escape(label, quote=False)}</a>')
        elif strong is not None:
            out.append(f"<strong>{escape(strong, quote=False)}</strong>")
        else:
            out.append(f"<em>{escape(em, quote=False)}</em>")
        pos = m.end()
    out.append(escape(text[pos:], quote=False))
    return "".join(out)
