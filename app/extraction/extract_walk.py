"""One walk over a lexbor body that turns it into element records and text blocks.

Every element that is not inline becomes an `Element` (in pre-order, with its class/id and a
boilerplate verdict); runs of inline text become `Block`s owned by their nearest block
element, with the length of their link text (a heading's permalink to itself, "#" and its
own slug, is no link). The blocks of a sub-tree are a contiguous range of the block list
(`Element.start`..`end`) and its elements a contiguous range of the element list
(`Element.idx`..`last`), so the text of any element is a slice.

An id that is the slug of a heading is a place in the document's outline, not a class word:
a heading's own, and a section's that starts with its heading beside (or inside) another
such section (Sphinx's <section id="respond-to-review-comments">). Such a section is marked
(`Element.anchor`) for the choice of the text.

Small boilerplate sub-trees (nav, footer, share bars...) are not walked at all: their text
is only measured by lexbor. That is most of a page's nodes, and most of the time saved. The
frame of a code sample (a <pre> holds most of its text) is never boilerplate by its class
(a "code-toolbar"), nor is a box whose class says "header" inside <main> (or role=main):
that is the page's own header (its title and introduction), not the site's.

Beside the text, the walk records the inline markup of every run in `Walker.parts` (the
text pieces, line breaks, links, emphasis, code and images, as markers that keep the lexbor
node), and each block the slice of it that made its text. Nothing is rendered during the
walk: extract_html.py renders only the blocks chosen as the main text, from those slices and
the block elements above each block. The choice of the text never reads them.
"""

from __future__ import annotations

import re

from app.extraction.extract_vocab import (
    C_HEAD,
    C_MAIN,
    COMMAS,
    CTX_OF_TAG,
    EMBED_TAGS,
    HEADINGS,
    HIDDEN_STYLE,
    INLINE_TAGS,
    INPUT_TAGS,
    JUNK_ROLES,
    JUNK_TAGS,
    POSTER,
    SKIP_TAGS,
    classify,
    inline_junk,
)

BR = "\x00"  # line-break marker inside a text run (NUL bytes are removed from the input)
NOT_WORD = re.compile(r"[\W_]+")
CHROME_SELECTOR = "header, nav, footer"
POSTER_CHARS = 300  # the most raw text of a user panel beside a post
OUTLINE_TAGS = frozenset(("section", "div", "article"))  # what a section of an outline is
# Inline markup kept for the reader view (see extract_html.py): a marker in `Walker.parts`
# is (kind, lexbor node) for a link or an image, (kind, tag) for emphasis and code.
M_IMG, M_OPEN, M_CLOSE = 1, 2, 3
MARK_OF_TAG = {
    **dict.fromkeys(("em", "i", "cite", "dfn", "var"), "em"),
    **dict.fromkeys(("strong", "b"), "strong"),
    **dict.fromkeys(("code", "kbd", "samp", "tt"), "code"),
    **dict.fromkeys(("del", "s", "strike"), "del"),
    "sub": "sub",
    "sup": "sup",
    "mark": "mark",
}
OPEN_OF_TAG = {tag: (M_OPEN, mark) for tag, mark in MARK_OF_TAG.items()}
CLOSE_OF_TAG = {tag: (M_CLOSE, mark) for tag, mark in MARK_OF_TAG.items()}
CLOSE_A = (M_CLOSE, "a")
HIDDEN_SELECTOR = '[hidden], [aria-hidden="true"], [style*="none" i], [style*="hidden" i]'


class Element:
    """A block-level element. Counters named own_* are its own; the others are sub-tree
    aggregates over non-boilerplate text, recomputed by `Doc.stats`."""

    __slots__ = (
        "anchor",
        "cjunk",
        "cls",
        "code",
        "ctx",
        "end",
        "good",
        "idx",
        "img",
        "in_run",
        "inputs",
        "junk",
        "kids",
        "klass",
        "last",
        "link",
        "n_embed",
        "n_li",
        "n_p",
        "own_blocks",
        "own_embed",
        "own_img",
        "own_inputs",
        "parent",
        "prose",
        "ptext",
        "score",
        "start",
        "tag",
        "text",
        "tjunk",
        "weight",
    )

    def __init__(self, tag: str, parent: Element | None, cls: str, ctx: int) -> None:
        self.tag = tag
        self.parent = parent
        self.cls = cls  # "class id", lower-cased
        self.klass = ""  # class only, lower-cased
        self.ctx = ctx
        self.kids: list[Element] = []
        self.start = self.end = self.idx = self.last = 0
        self.text = self.link = self.good = self.ptext = self.prose = self.code = 0
        self.img = self.inputs = self.n_embed = self.n_p = self.n_li = 0
        self.own_img = self.own_inputs = self.own_embed = self.own_blocks = 0
        self.tjunk = self.cjunk = self.junk = False  # by tag/role, by class, inherited
        self.in_run = False  # inside one of a run of posts (see Doc._runs)
        self.anchor = False  # a section of the outline: its id is its heading's slug
        self.score: float | None = None
        self.weight = 0


class Block:
    """A run of text (a paragraph, a list item, a cell...) and the element that owns it."""

    __slots__ = (
        "commas",
        "ctx",
        "el",
        "h0",
        "h1",
        "imgs",
        "length",
        "link",
        "nth",
        "parts",
        "tag",
        "text",
    )
    parts: list
    h0: int
    h1: int
    nth: int

    def __init__(self, text: str, el: Element, link: int) -> None:
        self.text = text
        self.el = el
        self.tag = el.tag
        self.ctx = el.ctx
        self.length = len(text)
        self.link = min(link, self.length)
        self.commas = len(COMMAS.findall(text))
        # its markup, for the reader view: `parts[h0:h1]` made this block's text (the
        # `nth` paragraph of it when <br><br> split the run), set by `Walker._flush` (unset
        # on a block made elsewhere); `imgs` are images that stood alone just before it
        self.imgs: list | None = None


class Walker:
    """Turns a body into `Element`s (pre-order) and `Block`s (document order)."""

    MAX_DEPTH = 200  # deeper, a sub-tree's text is kept without its structure
    MAX_ELEMENTS = 100_000  # a bigger page is cut short (it would take seconds)

    def __init__(self, skip_class: bool, page_len: int) -> None:
        self.els: list[Element] = []
        self.blocks: list[Block] = []
        self.buf: list[str] = []
        self.link = 0
        self.in_link = 0
        self.in_pre = 0
        self.skip_class = skip_class
        # boilerplate sub-trees with less raw text than this are not walked
        self.skip_below = 0.3 * page_len
        self.noscript_min = 0.3 * page_len
        self.skipped = 0  # raw characters in sub-trees not walked
        self.skipped_class = 0  # of which flagged by their class/id alone
        self.parts: list = []  # text pieces and inline markers of every run, in order
        self.hstart = 0  # where the current run starts in `parts`
        self.imgs: list = []  # images of runs without text, for the next block
        self.last_img = -1  # where the last image marker is in `parts`
        self.pre = False

    def run(self, body) -> Element:
        self.pre = body.css_first("pre") is not None  # a page with code samples
        root = Element("body", None, "", 0)
        self.els.append(root)
        self._walk(body, root, 0)
        self._flush(root)
        root.end = len(self.blocks)
        root.last = len(self.els) - 1
        return root

    def _flush(self, owner: Element) -> None:
        """Ends the current run: its blocks, and the slice of `parts` each was made from."""
        h0 = self.hstart
        h1 = self.hstart = len(self.parts)
        buf = self.buf
        if len(buf) == 1 and not self.in_pre and buf[0].isspace():
            # the spaces between two block elements, most runs of a page: no text (and no
            # link text, which is counted stripped), so no block
            buf.clear()
        elif buf:
            blocks = self.blocks
            n = len(blocks)
            self._flush_text(owner)
            if len(blocks) > n:
                parts = self.parts
                for nth in range(n, len(blocks)):
                    b = blocks[nth]
                    b.parts, b.h0, b.h1, b.nth = parts, h0, h1, nth - n
                if self.imgs:
                    blocks[n].imgs, self.imgs = self.imgs, []
                return
        # no text (or only spaces, as between most block elements): its images wait
        if self.last_img >= h0:
            self._keep_images(h0, h1)

    def _keep_images(self, h0: int, h1: int) -> None:
        for part in self.parts[h0:h1]:
            if type(part) is tuple and part[0] == M_IMG:
                self.imgs.append(part[1])

    def _flush_text(self, owner: Element) -> None:
        buf = self.buf
        if not buf:
            return
        raw = "".join(buf)
        buf.clear()
        link, self.link = self.link, 0
        if self.in_pre:
            text = raw.replace(BR, "\n").strip("\n\r").rstrip()
            if text.strip():
                self.blocks.append(Block(text, owner, link))
                owner.own_blocks += 1
            return
        if BR not in raw:
            text = " ".join(raw.split())
            if text:
                self.blocks.append(Block(text, owner, link))
                owner.own_blocks += 1
            return
        para: list[str] = []
        for line in [*(" ".join(x.split()) for x in raw.split(BR)), ""]:
            if line:
                para.append(line)
            elif para:  # an empty line (<br><br>) ends a paragraph
                self.blocks.append(Block("\n".join(para), owner, link))
                owner.own_blocks += 1
                para = []
                link = 0

    def _walk(self, node, owner: Element, depth: int) -> None:
        buf = self.buf
        parts = self.parts
        if depth > self.MAX_DEPTH:  # pathological nesting: keep the text, not the structure
            buf.append(" " + (node.text(separator=" ") or "") + " ")
            parts.append(buf[-1])
            return
        child = node.child
        while child is not None:
            tag = child.tag
            if tag == "-text":
                t = child.text_content
                if t:
                    buf.append(t)
                    parts.append(t)
                    if self.in_link:
                        self.link += len(t.strip())
            elif tag in INLINE_TAGS:
                if tag == "img":
                    owner.own_img += 1
                    self.last_img = len(parts)
                    parts.append((M_IMG, child))
                elif tag == "a":
                    # a heading that links to its own place in the page (a permalink) is a
                    # heading, not a link
                    anchor = owner.ctx & C_HEAD and _permalink(child)
                    self.in_link += not anchor
                    parts.append((M_OPEN, child))
                    self._walk(child, owner, depth + 1)
                    parts.append(CLOSE_A)
                    self.in_link -= not anchor
                elif child.child is not None:
                    cls = child.attributes.get("class") if tag == "span" else None
                    if not (cls and inline_junk(cls)):
                        mark = OPEN_OF_TAG.get(tag)
                        if mark is None:
                            self._walk(child, owner, depth + 1)
                        else:
                            parts.append(mark)
                            self._walk(child, owner, depth + 1)
                            parts.append(CLOSE_OF_TAG[tag])
            elif tag == "br":
                buf.append(BR)
                parts.append(BR)
            elif tag is None or tag[0] == "-":  # comments, doctype
                pass
            elif tag == "noscript" and self._big_noscript(child):
                self._element(child, "div", owner, depth)
            elif tag in SKIP_TAGS:
                if tag in EMBED_TAGS:
                    owner.own_embed += 1
                elif tag in INPUT_TAGS:
                    owner.own_inputs += 1
            elif tag == "hr":
                self._flush(owner)
            elif len(self.els) < self.MAX_ELEMENTS:
                self._element(child, tag, owner, depth)
            else:
                return
            child = child.next

    def _big_noscript(self, node) -> bool:
        """A <noscript> that holds much of the page's text is the page itself as served to
        crawlers and readers without scripts (a forum or shop rendered by a script app), not
        a "please enable JavaScript" line."""
        if node.child is None:
            return False
        n = len(node.text())
        return n >= 500 and n >= self.noscript_min

    def _element(self, node, tag: str, owner: Element, depth: int) -> None:
        if self.buf:
            self._flush(owner)
        attrs = node.attributes
        cls = klass = role = ""
        anchor = False
        if attrs:
            c = attrs.get("class")
            i = attrs.get("id")
            if i and (
                _heading_id(node, i)
                if tag in HEADINGS
                else tag in OUTLINE_TAGS and _outline(node, i, owner)
            ):
                # the id is the heading's slug (a documentation page's "respond-to-review-
                # comments" section): a place in the outline, not a class word
                anchor, i = tag not in HEADINGS, None
            if c or i:
                cls = f"{c or ''} {i or ''}".lower()
                klass = c.lower() if c else ""
            role = attrs.get("role") or ""
            if attrs.get("itemprop") == "articleBody":
                cls += " article-body"
        tjunk = tag in JUNK_TAGS or role in JUNK_ROLES
        cjunk, weight = classify(cls) if cls else (False, 0)
        if cjunk and owner.ctx & C_MAIN and "header" in cls:
            # a header inside <main> is the page's own (its title and introduction), not the
            # site's, unless its class says more than "header"
            cjunk = classify(cls.replace("header", "-"))[0]
        if cjunk and self.pre and not tjunk and _code_box(node):
            cjunk, weight = False, max(weight, 0)  # a code sample's frame (its toolbar)
        if tjunk or (cjunk and self.skip_class and not _repeated(node, klass)):
            # small boilerplate is skipped; a big one may be a layout wrapper around the
            # article: walk it and let `Doc.stats` decide. So is a post's small user panel,
            # whose name the post keeps (`Doc.authors`).
            n = len(node.text())
            if n < self.skip_below and (tjunk or n >= POSTER_CHARS or not POSTER.search(cls)):
                self.skipped += n
                if not tjunk:
                    self.skipped_class += n
                return
        ctx = owner.ctx | CTX_OF_TAG.get(tag, 0)
        if role == "main":
            ctx |= C_MAIN
        el = Element(tag, owner, cls, ctx)
        el.start = len(self.blocks)
        el.tjunk, el.cjunk, el.weight, el.klass = tjunk, cjunk, weight, klass
        if anchor:
            el.anchor = True
        el.idx = len(self.els)
        self.els.append(el)
        owner.kids.append(el)
        pre = tag == "pre"
        self.in_pre += pre
        self._walk(node, el, depth + 1)
        if self.buf or self.last_img >= self.hstart:
            self._flush(el)
        else:  # _flush with nothing to end (most elements): only the run's start moves
            self.hstart = len(self.parts)
        self.in_pre -= pre
        el.end = len(self.blocks)
        el.last = len(self.els) - 1


def _repeated(node, klass: str) -> bool:
    """Whether an element has a sibling element of the same class next to it: one of a run of
    posts, comments or cards, walked even when its class reads like boilerplate, because
    together they may be the page (the posts of a forum thread)."""
    if not klass:
        return False
    for forward in (False, True):
        sib = _sibling(node, forward)
        if sib is not None and (sib.attributes.get("class") or "").lower() == klass:
            return True
    return False


def _sibling(node, forward: bool):
    """The next (or previous) sibling element, past text and comments."""
    sib = node.next if forward else node.prev
    while sib is not None and (sib.tag or "-")[0] == "-":  # text, comments
        sib = sib.next if forward else sib.prev
    return sib


def _outline(node, id_: str, owner: Element) -> bool:
    """Whether an element is a section of a document's outline (Sphinx, MkDocs, rustdoc...):
    its id is the slug of the heading it starts with, and so is its parent's or a
    neighbour's (a lone "comments" section under its heading is no outline)."""
    if not _anchor(node, id_):
        return False
    if owner.anchor:
        return True
    for forward in (False, True):
        sib = _sibling(node, forward)
        if sib is not None:
            i = sib.attributes.get("id")
            if i and _anchor(sib, i):
                return True
    return False


def _anchor(node, id_: str) -> bool:
    """Whether an element's id is the slug of the heading it starts with."""
    child = node.child
    seen = 0
    while child is not None and seen < 3:
        tag = child.tag
        if tag in HEADINGS:
            return _heading_id(child, id_)
        if tag and tag[0] != "-":
            seen += 1
        child = child.next
    return False


def _heading_id(node, id_: str) -> bool:
    """Whether a heading's id is its slug ("h-" prefixed, cut short, numbered...)."""
    key = _slug(id_)
    head = _slug(node.text())
    return len(head) >= 4 and (head in key or (len(key) >= 8 and head.startswith(key)))


def _slug(text: str) -> str:
    return NOT_WORD.sub("", text.lower())


def _code_box(node) -> bool:
    """Whether an element is the frame of a code sample: a <pre> holds most of its text."""
    pre = node.css_first("pre")
    if pre is None:
        return False
    return len(pre.text()) * 2 >= len(node.text())


def _permalink(node) -> bool:
    """Whether a link points to its own place in the page: "#" and the slug of its text."""
    href = node.attributes.get("href")
    return bool(href) and href[0] == "#" and _heading_id(node, href[1:])


def visible_len(node) -> int:
    """Characters of a sub-tree's text outside inline scripts and styles (which are often
    most of a page's characters)."""
    return len(node.text()) - sum(len(n.text()) for n in node.css("script, style"))


def _content_len(body) -> tuple[int, set[int]]:
    """Visible characters outside the page's header, navigation and footer (a mega-menu can
    hold more text than the rest of the page together), and the ids of those."""
    total = visible_len(body)
    outer = body.css(CHROME_SELECTOR)
    ids = {n.mem_id for n in outer}
    for node in outer:
        if not _inside(node, ids):
            total -= visible_len(node)
    return max(total, 1), ids


def _inside(node, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None and parent.mem_id not in ids:
        parent = parent.parent
    return parent is not None


def remove_hidden(body) -> None:
    """Drop elements a browser would not show (hidden, aria-hidden, display:none), unless one
    holds most of the page's text outside its header, navigation and footer (content hidden
    until a script reveals it)."""
    nodes = body.css(HIDDEN_SELECTOR)
    if not nodes:
        return
    total = None
    chrome: set[int] = set()
    doomed = []
    for node in nodes:
        attrs = node.attributes
        if attrs.get("role") == "tabpanel" and node.css_first("pre, code") is not None:
            continue  # a code sample in another language, a click away
        if "hidden" not in attrs and attrs.get("aria-hidden") != "true":
            style = attrs.get("style") or ""
            if not HIDDEN_STYLE.search(style.lower()):
                continue
        if total is None:
            total, chrome = _content_len(body)
        n = len(node.text())
        if (
            n * 2 < total
            or visible_len(node) * 2 < total
            or node.mem_id in chrome
            or _inside(node, chrome)
        ):
            doomed.append(node)
    # decompose only the outermost: a node inside a decomposed one is freed with it
    ids = {node.mem_id for node in doomed}
    outermost = [node for node in doomed if not _inside(node, ids)]
    for node in outermost:
        node.decompose()
