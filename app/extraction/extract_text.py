"""Main-text extraction over a lexbor DOM: one walk that turns the body into text blocks, then a
readability-style choice of the main container and a filter over its blocks.

1. `_Walker` walks the body once (skipping script/style/media/form controls and hidden
   elements). Every non-inline element becomes an `_El` record (pre-order, with its class/id
   string and a boilerplate verdict); inline runs of text become `_Block`s owned by their
   nearest block element, with their link-text length. A subtree's blocks are a contiguous
   range of the block list, so "the text of an element" is a slice.
2. Boilerplate (nav/aside/footer/header/forms, navigation/banner/complementary roles, and
   class/id words such as comment, share, related, newsletter, cookie, sidebar, breadcrumb)
   is a soft flag, inherited down the tree. An element flagged only by its class that still
   holds most of the page's paragraph text is a layout wrapper and is not flagged.
3. Paragraph-like blocks of 25+ characters score their ancestors (1 + commas + length/100,
   halved for the grandparent, divided further up), on top of a tag prior and a class weight;
   the score is scaled by (1 - link density). The best candidate is widened to a common
   ancestor of close runners-up, to a better-scoring parent, and to siblings that score well
   or read like paragraphs.
4. Inside the chosen elements, sub-trees that look like boilerplate (link lists, galleries,
   more list items than paragraphs) are dropped, then blocks that are link-heavy, the
   headline, or stock phrases ("Advertisement", "Read more") are dropped.
5. When the result is short (< 500 characters), the steps rerun with the class-based flags
   and then the conditional cleaning turned off, and the longest result wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Elements whose content is never text a reader reads.
SKIP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "canvas",
        "iframe",
        "object",
        "embed",
        "video",
        "audio",
        "map",
        "area",
        "select",
        "option",
        "optgroup",
        "button",
        "input",
        "textarea",
        "datalist",
        "meter",
        "progress",
        "head",
        "title",
        "meta",
        "link",
        "base",
        "param",
        "track",
        "source",
        "dialog",
        "frameset",
        "frame",
        "noframes",
        "noembed",
        "applet",
    ]
)
EMBED_TAGS = frozenset(["iframe", "object", "embed", "video", "audio"])
INPUT_TAGS = frozenset(["input", "select", "textarea", "button"])
INLINE_TAGS = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "bdi",
        "bdo",
        "big",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "ins",
        "kbd",
        "label",
        "mark",
        "nobr",
        "q",
        "rp",
        "rt",
        "ruby",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
        "img",
        "picture",
    ]
)
# Structural boilerplate: soft-flagged, unless it holds most of the page's text.
JUNK_TAGS = frozenset(["nav", "aside", "footer", "header", "menu", "form", "fieldset"])
JUNK_ROLES = frozenset(
    [
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "search",
        "menu",
        "menubar",
        "dialog",
        "alert",
        "alertdialog",
        "tablist",
        "toolbar",
    ]
)
HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])

# Context bits inherited down the tree.
C_LIST, C_TABLE, C_QUOTE, C_PRE, C_HEAD, C_FIGURE, C_LINK = 1, 2, 4, 8, 16, 32, 64
CTX_OF_TAG = {
    "ul": C_LIST,
    "ol": C_LIST,
    "dl": C_LIST,
    "table": C_TABLE,
    "blockquote": C_QUOTE,
    "pre": C_PRE,
    "figure": C_FIGURE,
    "figcaption": C_FIGURE,
    **{h: C_HEAD for h in HEADINGS},
}

TAG_PRIOR = {
    "div": 5,
    "pre": 3,
    "td": 3,
    "blockquote": 3,
    "article": 8,
    "main": 5,
    "section": 2,
    "address": -3,
    "ol": -3,
    "ul": -3,
    "dl": -3,
    "dd": -3,
    "dt": -3,
    "li": -3,
    "form": -3,
    "th": -5,
    **{h: -5 for h in HEADINGS},
}
PARAGRAPH_TAGS = frozenset(["p", "pre", "td", "blockquote", "dd"])

# Class/id vocabulary (matched on "class id" lower-cased).
UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumb|combx|comment|community|cover-wrap|disqus|extra|foot"
    r"|gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social"
    r"|sponsor|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote|newsletter"
    r"|subscri|signup|sign-up|cookie|consent|share|sharing|promo|(?:^|[^a-z])ads?(?:[^a-z]|$)"
    r"|advert|masthead|toolbar|byline|author-?bio|about-?the-?author|tags|tag-?list|topics"
    r"|recommend|more-?stories|read-?more|most-?popular|trending|outbrain|taboola|teaser"
    r"|skip-?link|screen-?reader|sr-only|visually-?hidden|modal|overlay|widget|print"
)
MAYBE = re.compile(r"and|article|body|column|content|main|shadow|post|entry|story|text")
# Words that no layout class makes harmless.
STRONG = re.compile(
    r"comment|disqus|share|sharing|social|newsletter|subscri|cookie|consent|related|promo"
    r"|advert|(?:^|[^a-z])ads?(?:[^a-z]|$)|outbrain|taboola|recommend|more-?stories"
    r"|most-?popular|trending|breadcrumb|byline|author-?bio|skip-?link|screen-?reader"
    r"|sr-only|visually-?hidden|popup|modal"
)
POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|prose|markdown"
)
NEGATIVE = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|foot|gdpr"
    r"|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper"
    r"|sponsor|shopping|tags|tool|widget|caption|credit|byline|newsletter|subscri"
)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
BOILER_LINE = re.compile(
    r"^(?:advertisement|advertisment|sponsored(?: content)?|ad|story continues below"
    r"|continue reading(?: below)?|read more|read next|read also|see also|related(?: articles?"
    r"| stories| content)?|share(?: this)?(?: article| story)?|click to share.*|follow us.*"
    r"|sign up.*newsletter.*|subscribe.*|image|photo|video|loading|close|skip to .*"
    r"|comments?|\d+ comments?|leave a (?:comment|reply)|back to top|print|email)[.:!]?$",
    re.I,
)
COMMAS = re.compile(r"[,،、，]")
SPACES = re.compile(r"\s+")


class _El:
    __slots__ = (
        "cjunk",
        "cls",
        "ctx",
        "end",
        "good",
        "img",
        "inputs",
        "junk",
        "kids",
        "link",
        "n_embed",
        "n_head",
        "n_li",
        "n_p",
        "own_blocks",
        "parent",
        "score",
        "start",
        "tag",
        "text",
        "tjunk",
        "weight",
    )

    def __init__(self, tag: str, parent: _El | None, cls: str, ctx: int) -> None:
        self.tag = tag
        self.parent = parent
        self.cls = cls
        self.ctx = ctx
        self.kids: list[_El] = []
        self.start = self.end = 0
        self.text = self.link = self.good = 0
        self.img = self.inputs = self.n_embed = self.n_p = self.n_li = self.n_head = 0
        self.own_img = self.own_inputs = self.own_embed = self.own_blocks = 0
        self.idx = self.last = 0
        self.tjunk = self.cjunk = self.junk = False
        self.score: float | None = None
        self.weight = 0


class _Block:
    __slots__ = ("commas", "ctx", "el", "length", "link", "pre", "tag", "text")

    def __init__(self, text: str, el: _El, link: int, pre: bool) -> None:
        self.text = text
        self.el = el
        self.tag = el.tag
        self.ctx = el.ctx
        self.length = len(text)
        self.link = min(link, self.length)
        self.pre = pre
        self.commas = len(COMMAS.findall(text))


class _Walker:
    """Turns a body into `_El` records (pre-order) and `_Block`s (document order)."""

    MAX_DEPTH = 250

    def __init__(self) -> None:
        self.els: list[_El] = []
        self.blocks: list[_Block] = []
        self.buf: list[str] = []
        self.link = 0
        self.in_link = 0
        self.in_pre = 0

    def run(self, body) -> _El:
        root = _El("body", None, "", 0)
        root.start = 0
        self.els.append(root)
        self._children(body, root, 0)
        self._flush(root)
        root.end = len(self.blocks)
        root.last = len(self.els) - 1
        return root

    def _flush(self, owner: _El) -> None:
        if not self.buf:
            return
        raw = "".join(self.buf)
        self.buf = []
        link, self.link = self.link, 0
        if self.in_pre:
            text = raw.strip("\n\r").rstrip()
            if text.strip():
                self.blocks.append(_Block(text, owner, link, True))
                owner.own_blocks += 1
            return
        for part in raw.split("\n\n"):
            lines = [" ".join(line.split()) for line in part.split("\n")]
            text = "\n".join(line for line in lines if line)
            if text:
                self.blocks.append(_Block(text, owner, link, False))
                owner.own_blocks += 1
                link = 0

    def _children(self, node, owner: _El, depth: int) -> None:
        child = node.child
        while child is not None:
            tag = child.tag
            if tag == "-text":
                t = child.text_content
                if t:
                    if not self.in_pre:
                        t = t.replace("\n", " ")
                    self.buf.append(t)
                    if self.in_link:
                        self.link += len(t.strip())
            elif tag is None or tag[0] == "-":
                pass
            elif tag in SKIP_TAGS:
                if tag in EMBED_TAGS:
                    owner.own_embed += 1
                elif tag in INPUT_TAGS:
                    owner.own_inputs += 1
            else:
                self._element(child, tag, owner, depth)
            child = child.next

    def _element(self, node, tag: str, owner: _El, depth: int) -> None:
        attrs = node.attributes
        if attrs:
            if "hidden" in attrs or attrs.get("aria-hidden") == "true":
                return
            style = attrs.get("style")
            if style and HIDDEN_STYLE.search(style):
                return
        if tag in INLINE_TAGS:
            if tag == "img":
                owner.own_img += 1
                return
            if tag == "a":
                self.in_link += 1
                self._children(node, owner, depth + 1)
                self.in_link -= 1
            else:
                self._children(node, owner, depth + 1)
            return
        if tag == "br":
            self.buf.append("\n")
            return
        if tag == "hr":
            self._flush(owner)
            return
        if depth > self.MAX_DEPTH:  # pathological nesting: keep the text, drop the structure
            self.buf.append(" " + (node.text(separator=" ") or "") + " ")
            return
        self._flush(owner)
        cls = ""
        role = ""
        if attrs:
            c = attrs.get("class")
            i = attrs.get("id")
            if c or i:
                cls = f"{c or ''} {i or ''}".lower()
            role = attrs.get("role") or ""
            if attrs.get("itemprop") == "articleBody":
                cls += " article-body"
        el = _El(tag, owner, cls, owner.ctx | CTX_OF_TAG.get(tag, 0))
        el.start = len(self.blocks)
        if tag in JUNK_TAGS or role in JUNK_ROLES:
            el.tjunk = True
        if cls and UNLIKELY.search(cls) and (STRONG.search(cls) or not MAYBE.search(cls)):
            el.cjunk = True
        el.idx = len(self.els)
        self.els.append(el)
        owner.kids.append(el)
        if tag == "pre":
            self.in_pre += 1
            self._children(node, el, depth + 1)
            self._flush(el)
            self.in_pre -= 1
        else:
            self._children(node, el, depth + 1)
            self._flush(el)
        el.end = len(self.blocks)
        el.last = len(self.els) - 1


@dataclass
class TextResult:
    text: str
    paragraphs: int
    text_chars: int  # characters of the chosen text
    page_chars: int  # characters of all visible body text
    link_chars: int  # characters inside links, whole page
    boilerplate_chars: int  # characters in flagged boilerplate, whole page


class _Doc:
    def __init__(self, body, title: str | None) -> None:
        walker = _Walker()
        self.root = walker.run(body)
        self.els = walker.els
        self.blocks = walker.blocks
        self.title_key = _key(title) if title else ""

    # -- stats -------------------------------------------------------------------------------
    def stats(self, use_class: bool) -> None:
        """Junk flags (pre-order), then subtree aggregates of non-junk text (reverse order)."""
        els, blocks = self.els, self.blocks
        for el in els:
            el.good = 0
        for b in blocks:
            if b.length >= 80 and b.link < b.length * 0.3:
                b.el.good += b.length
        for el in reversed(els):  # children before parents
            if el.parent is not None:
                el.parent.good += el.good
        total_good = self.root.good
        for el in els:
            flagged = el.tjunk or (use_class and el.cjunk)
            if flagged and total_good > 0 and el.good >= 0.6 * total_good:
                flagged = False  # a layout wrapper around the article
            el.junk = flagged or (el.parent is not None and el.parent.junk)
            el.score = None
            el.text = el.link = 0
            el.img, el.inputs, el.n_embed = el.own_img, el.own_inputs, el.own_embed
            el.n_p = 1 if el.tag == "p" else 0
            el.n_li = 1 if el.tag == "li" else 0
            el.n_head = 1 if el.tag in HEADINGS else 0
            w = 0
            if use_class and el.cls:
                if NEGATIVE.search(el.cls):
                    w -= 25
                if POSITIVE.search(el.cls):
                    w += 25
            el.weight = w
        for b in blocks:
            el = b.el
            if not el.junk:
                el.text += b.length
                el.link += b.link
        for el in reversed(els):
            p = el.parent
            if p is not None and not el.junk:
                p.text += el.text
                p.link += el.link
                p.n_p += el.n_p
                p.n_li += el.n_li
                p.n_head += el.n_head
                p.img += el.img
                p.inputs += el.inputs
                p.n_embed += el.n_embed

    # -- candidate choice --------------------------------------------------------------------
    def choose(self) -> list[_El | _Block]:
        cands: list[_El] = []
        for b in self.blocks:
            el = b.el
            if el.junk or b.length < 25 or b.ctx & C_HEAD:
                continue
            if el.tag not in PARAGRAPH_TAGS and el.kids and el.tag not in ("div", "section"):
                continue
            score = 1 + b.commas + min(b.length // 100, 3)
            # text directly in a container is a paragraph of it; a <p> scores its parent
            anc = el.parent if (el.tag in PARAGRAPH_TAGS or not el.kids) else el
            level = 0
            while anc is not None and level < 5:
                if anc.score is None:
                    anc.score = TAG_PRIOR.get(anc.tag, 0) + anc.weight
                    cands.append(anc)
                div = 1 if level == 0 else 2 if level == 1 else level * 3
                anc.score += score / div
                anc = anc.parent
                level += 1
        if not cands:
            return []
        for c in cands:
            c.score *= 1 - _ld(c)
        cands.sort(key=lambda c: c.score, reverse=True)
        top = cands[0]
        if top is self.root:
            return [top]
        # several close runners-up under one ancestor: take the ancestor
        close = [c for c in cands[1:5] if c.score >= 0.75 * top.score]
        if len(close) >= 2:
            lists = [set(map(id, _ancestors(c))) for c in close]
            for anc in _ancestors(top):
                if sum(id(anc) in s for s in lists) >= 2:
                    top = anc
                    break
        # a parent that scores better
        last = top.score or 0
        threshold = last / 3
        parent = top.parent
        while parent is not None and parent is not self.root:
            if parent.score is None:
                parent = parent.parent
                continue
            if parent.score < threshold:
                break
            if parent.score > last:
                top = parent
                break
            last = parent.score
            parent = parent.parent
        # an only child: take the parent
        while (
            top.parent is not None
            and top.parent is not self.root
            and len(top.parent.kids) == 1
            and top.parent.own_blocks == 0
        ):
            top = top.parent
        # siblings
        parent = top.parent
        if parent is None:
            return [top]
        top_score = top.score or 0
        threshold = max(10.0, top_score * 0.2)
        chosen: list[_El | _Block] = []
        for sib in parent.kids:
            if sib is top:
                chosen.append(sib)
                continue
            if sib.junk:
                continue
            bonus = top_score * 0.2 if sib.cls and sib.cls == top.cls else 0
            if sib.score is not None and sib.score + bonus >= threshold:
                chosen.append(sib)
            elif sib.tag == "p" and sib.text:
                ld = _ld(sib)
                if (sib.text > 80 and ld < 0.25) or (ld == 0 and sib.text > 0 and self._ends(sib)):
                    chosen.append(sib)
        # text directly in the parent, between the siblings
        if parent.own_blocks:
            for b in self.blocks[parent.start : parent.end]:
                if b.el is parent and b.length > 80 and b.link < 0.25 * b.length:
                    chosen.append(b)
        return chosen

    def _ends(self, el: _El) -> bool:
        for b in self.blocks[el.start : el.end]:
            if b.el is el:
                return b.text.rstrip().endswith(".")
        return False

    # -- output ------------------------------------------------------------------------------
    def collect(self, chosen: list[_El | _Block], clean: bool) -> list[_Block]:
        keep: set[int] = set()
        blocks = self.blocks
        for item in chosen:
            if isinstance(item, _Block):
                keep.add(id(item))
                continue
            dropped = self._drops(item) if clean else ()
            for i in range(item.start, item.end):
                b = blocks[i]
                if b.el.junk or i in dropped:
                    continue
                keep.add(id(b))
        out = []
        for b in blocks:
            if id(b) in keep and self._block_ok(b):
                out.append(b)
        return out

    def _drops(self, top: _El) -> set[int]:
        """Block indexes of sub-trees of `top` that look like boilerplate (readability's
        conditional cleaning)."""
        dropped: set[int] = set()
        els = self.els
        i = top.idx + 1
        while i <= top.last:
            el = els[i]
            if not el.junk and el.tag in CLEAN_TAGS and self._bad(el):
                dropped.update(range(el.start, el.end))
                i = el.last + 1
                continue
            i += 1
        return dropped

    def _bad(self, el: _El) -> bool:
        if el.text == 0:
            return False
        weight = el.weight
        if weight + (el.score or 0) < 0:
            return True
        commas = sum(b.commas for b in self.blocks[el.start : el.end] if not b.el.junk)
        if commas >= 10:
            return False
        is_list = el.tag in ("ul", "ol", "dl")
        ld = _ld(el)
        p = el.n_p
        if not is_list and el.n_li - 100 > p:
            return True
        if el.inputs > p / 3:
            return True
        if not is_list and weight < 25 and ld > 0.2:
            return True
        if weight >= 25 and ld > 0.5:
            return True
        if is_list and ld > 0.5:
            return True
        if (el.n_embed == 1 and el.text < 75) or el.n_embed > 1:
            return True
        return False

    def _block_ok(self, b: _Block) -> bool:
        if b.ctx & C_HEAD:
            if b.tag == "h1" or (self.title_key and _key(b.text) == self.title_key):
                return False
        if b.link and b.link > 0.5 * b.length and b.length < 300:
            return False
        if b.length < 60 and BOILER_LINE.match(b.text.strip()):
            return False
        return True

    def text_of(self, blocks: list[_Block]) -> str:
        parts: list[str] = []
        for b in blocks:
            parts.append(b.text)
        return "\n\n".join(parts)


def _ld(el: _El) -> float:
    return el.link / el.text if el.text else 0.0


def _ancestors(el: _El) -> list[_El]:
    out = []
    p = el.parent
    while p is not None:
        out.append(p)
        p = p.parent
    return out


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def main_text(body, title: str | None = None) -> TextResult:
    """The main text of a parsed document's body (a LexborNode)."""
    doc = _Doc(body, title)
    best: list[_Block] = []
    best_len = -1
    for use_class, clean in ((True, True), (False, True), (False, False)):
        doc.stats(use_class)
        chosen = doc.choose()
        blocks = doc.collect(chosen, clean)
        n = sum(b.length for b in blocks)
        if n > best_len:
            best, best_len = blocks, n
        if n >= 500:
            break
    doc.stats(True)
    page_chars = sum(b.length for b in doc.blocks)
    link_chars = sum(b.link for b in doc.blocks)
    junk_chars = sum(b.length for b in doc.blocks if b.el.junk)
    return TextResult(
        text=doc.text_of(best),
        paragraphs=len(best),
        text_chars=max(best_len, 0),
        page_chars=page_chars,
        link_chars=link_chars,
        boilerplate_chars=junk_chars,
    )
