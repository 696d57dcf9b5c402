"""Main text of a lexbor body: the readability idea (score containers by the paragraphs in
them) on top of one walk of the tree, plus trafilatura-style cleaning of the result.

1. `Walker` (extract_walk.py) turns the body into element records and text blocks, skipping
   script/style/media/form controls, hidden elements and small boilerplate sub-trees.
2. Boilerplate is a soft flag inherited down the tree: nav/aside/footer/header/forms and
   figure captions, navigation/banner/complementary roles, and class/id words such as
   comment, share, related, (customer) reviews, newsletter, cookie, sidebar, breadcrumb,
   byline (see extract_vocab.py). A flagged element that holds most of the page's paragraph text is a
   layout wrapper, not boilerplate.
3. Paragraph-like blocks of 25+ characters score their ancestors (1 + commas + length/100,
   in full for the parent, halved for the grandparent, divided by 3 * level further up) on
   top of a tag prior and a class weight (+-25: "content"/"article" vs "comment"/"sidebar";
   a positive weight counts in full from 500 characters of text); each score is scaled by
   (1 - link density). The best candidate is widened to a common ancestor of close
   runners-up, to a parent that scores better, to siblings that score well (with a bonus
   for a similar class), read like paragraphs or are the next sections of a document's
   outline (ids that are their headings' slugs), and to "cousins" elsewhere in the tree
   with the class of the container that holds most of its paragraphs (an article split in
   two by a full-width figure).
4. Inside the chosen elements, sub-trees that look like boilerplate are dropped
   (readability's conditional cleaning: link-dense boxes without real paragraphs, more list
   items than paragraphs, galleries, embeds, forms; never a code sample, mostly <pre> text,
   whatever its frame's class or tabs say, a short box that holds a heading (a wiki's
   heading beside its "edit" link), a documentation page's note or "see also" box
   (class "admonition"), nor a whole section of the outline, only boxes inside it), then
   blocks that are mostly links (unless the text announced their list: "For more
   information, see:", or the link is a definition list's term), the headline, bylines/datelines or stock labels ("Advertisement",
   "Read more").
5. When the result is short (< 500 characters), the steps rerun without the class-based
   flags (walking those sub-trees too), then without the conditional cleaning, and the
   longest result wins; a JSON-LD articleBody, when the page has one, breaks the tie.
6. Pages that are not one article: the page's <main> landmark (or, without one, the highest
   ancestor of the choice that is neither boilerplate nor mostly links) is taken when it
   holds clearly more than the choice (1.3 times; twice on a page that declares itself an
   article): a landing page's stack of sections, a product's detail box. Any page adds the
   biggest run of same-tag, same-class siblings (a listing's items, product cards) when that
   run holds several times the chosen text. A run of posts whose class says "comment" is
   kept when it holds most of the page's paragraphs (a forum thread), each post with its
   author's name; a <noscript> that holds much of the page is walked (a page served to
   readers without scripts).
7. A second copy of a run of blocks (a section repeated for a mobile layout, a carousel's
   cloned slides, a quoted post) is dropped.

Cost: one parse and one walk in Python over the non-boilerplate part of the tree, typically
1-3 ms for a news page.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field

from app.extraction.extract_vocab import (
    ADMONITION,
    BOILER_LINE,
    BYLINE,
    C_FIGURE,
    C_HEAD,
    C_PRE,
    C_TABLE,
    CLEAN_TAGS,
    COOKIE_NOTICE,
    EMBED,
    HEADING_MARKS,
    LIST_TAGS,
    PARAGRAPH_TAGS,
    POSTER,
    PROMO,
    TAG_PRIOR,
    WORDS,
)
from app.extraction.extract_walk import Block, Element, Walker, remove_hidden, visible_len

SHORT = 500  # characters: a result shorter than this makes the next attempt run
LANDMARK = 1.3  # times the chosen text a non-article's <main> needs to be taken whole
LANDMARK_ARTICLE = 2.0  # the same for a page that declares itself an article
WIDE_LD = 0.4  # the most link text an ancestor taken instead of the choice may hold
COOKIE_CHARS = 500  # the longest cookie notice told by its words alone
REPEAT_CHARS = 60  # a block this long whose text was already kept is a repeat
REPEAT_RUN = 3  # consecutive repeated blocks that make a copy of a section
NAME_CHARS = 80  # the longest author line of a post
CARDS = 4  # siblings of one tag and class that make a listing
CARDS_ARTICLE = 5  # times the chosen text a page that says it is an article needs in cards
CARD_CHARS = 40  # the least mean text of a listing's item (a menu's are shorter)
TAGS = re.compile(r"<[^>]+>")
BREAKS = re.compile(r"<(?:/p|/div|/li|/h\d|br\s*/?)\s*>", re.I)


@dataclass
class TextResult:
    text: str
    paragraphs: int
    text_chars: int  # characters of the chosen text
    link_chars: int  # characters of the chosen text inside links
    page_chars: int  # characters of all visible body text (about)
    blocks: list[Block] = field(default_factory=list)  # the chosen blocks (for extract_html)


class Doc:
    """Element records and blocks of one walk, and the choice of the main text in them."""

    def __init__(self, body, title: str | None, skip_class: bool, page_len: int) -> None:
        walker = Walker(skip_class, page_len)
        self.root = walker.run(body)
        self.els = walker.els
        self.blocks = walker.blocks
        self.skipped = walker.skipped
        self.skipped_class = walker.skipped_class
        self.pre = walker.pre  # the page has code samples
        self.title_key = _key(title) if title else ""
        self.use_class = True
        self.stats_for: bool | None = None  # the `use_class` the aggregates were made with
        # per sub-tree: paragraph-like text (to tell a layout wrapper from boilerplate) and
        # the longest plain paragraph (to tell a post from a box of links)
        for b in self.blocks:
            if b.length >= 80 and b.link < b.length * 0.3:
                b.el.good += b.length
                if b.link < b.length * 0.1 and b.length > b.el.prose:
                    b.el.prose = b.length
        for el in reversed(self.els):  # children before parents
            p = el.parent
            if p is not None:
                p.good += el.good
                if el.prose > p.prose:
                    p.prose = el.prose

        self.runs = self._runs()

    def _runs(self) -> set[int]:
        """Indexes of the elements of a run of siblings of one class that holds most of the
        page's paragraph text: the posts of a thread, the comments that are the page. Their
        class flags (and those of boxes inside them) do not apply: they are not boilerplate
        beside an article."""
        out: set[int] = set()
        least = 0.6 * self.root.good
        if not least:
            return out
        for el in self.els:
            if len(el.kids) < 2 or el.good < least:  # its children cannot hold enough
                continue
            groups: dict[str, list[Element]] = {}
            for k in el.kids:
                words = k.klass.split(None, 1)
                if not k.tjunk and words:
                    groups.setdefault(words[0], []).append(k)
            for group in groups.values():
                if len(group) < 2 or sum(k.good for k in group) < least:
                    continue
                # similar classes: the thread's first post often has one more
                runs: list[list[Element]] = []
                for k in group:
                    run = next((r for r in runs if _similar(r[0].klass, k.klass)), None)
                    if run is None:
                        runs.append([k])
                    else:
                        run.append(k)
                for run in runs:
                    if len(run) >= 2 and sum(k.good for k in run) >= least:
                        out.update(k.idx for k in run)
        return out

    # -- stats -------------------------------------------------------------------------------
    def stats(self, use_class: bool) -> None:
        """Boilerplate flags (pre-order), then sub-tree aggregates of the rest (reverse).

        The choice of the text changes only the scores (`_score`): asked again for the same
        `use_class` (most pages: the first attempt, then the final pass), only those are
        reset."""
        els = self.els
        if use_class == self.stats_for:
            for el in els:
                el.score = None
                el.ptext = 0
            return
        self.use_class = self.stats_for = use_class
        wrapper = 0.6 * self.root.good
        for el in els:
            p = el.parent
            if p is not None and (p.idx in self.runs or p.in_run):
                el.in_run = True  # inside a post: its author line and date are the post's
            # inside a post, its user panel stays boilerplate (`authors` keeps the name)
            flagged = el.tjunk or (
                use_class
                and el.cjunk
                and el.idx not in self.runs
                and (not el.in_run or bool(POSTER.search(el.cls)))
            )
            if flagged and wrapper and el.good >= wrapper:
                flagged = False  # a layout wrapper around the article
            el.junk = flagged or (p is not None and p.junk)
            el.score = None
            el.text = el.link = el.ptext = el.code = 0
            el.img, el.inputs, el.n_embed = el.own_img, el.own_inputs, el.own_embed
            el.n_p = el.tag == "p"
            el.n_li = el.tag == "li"
        for b in self.blocks:
            el = b.el
            el.text += b.length
            el.link += b.link
        if self.pre:
            for b in self.blocks:
                if b.ctx & C_PRE:
                    b.el.code += b.length
        for el in reversed(els):
            p = el.parent
            if p is not None and not el.junk:
                p.text += el.text
                p.link += el.link
                p.code += el.code
                p.n_p += el.n_p
                p.n_li += el.n_li
                p.img += el.img
                p.inputs += el.inputs
                p.n_embed += el.n_embed

    def weight(self, el: Element) -> float:
        """The class weight; a positive one counts in full only for 500+ characters of text
        (a "content" class on a one-line box is no evidence of an article)."""
        if not self.use_class:
            return 0
        w = el.weight
        return w if w <= 0 or el.text >= 500 else w * el.text / 500

    # -- candidate choice --------------------------------------------------------------------
    def choose(self) -> list[Element | Block]:
        cands = self._score()
        if not cands:
            return []
        top = cands[0]
        if top is self.root:
            return [top]
        # several close runners-up under one ancestor: take the ancestor
        close = [c for c in cands[1:5] if c.score >= 0.75 * top.score]
        if len(close) >= 3:
            lists = [set(map(id, _ancestors(c))) for c in close]
            for anc in _ancestors(top):
                if anc is self.root:
                    break
                if sum(id(anc) in s for s in lists) >= 3:
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
        chosen = self._siblings(top)
        chosen.extend(self._cousins(chosen, cands))
        return chosen

    def _score(self) -> list[Element]:
        """Readability's content scores; the candidates, best first."""
        cands: list[Element] = []
        for b in self.blocks:
            el = b.el
            if el.junk or b.length < 25 or b.ctx & C_HEAD:
                continue
            if el.tag not in PARAGRAPH_TAGS and el.kids and el.tag not in ("div", "section"):
                continue
            score = 1 + b.commas + min(b.length // 100, 3)
            # text directly in a container is a paragraph of it; a <p> scores its parent
            anc = el.parent if (el.tag in PARAGRAPH_TAGS or not el.kids) else el
            if anc is not None:
                anc.ptext += b.length
            level = 0
            while anc is not None and level < 5:
                if anc.score is None:
                    anc.score = TAG_PRIOR.get(anc.tag, 0) + self.weight(anc)
                    cands.append(anc)
                anc.score += score / (1 if level == 0 else 2 if level == 1 else level * 3)
                anc = anc.parent
                level += 1
        for c in cands:
            c.score *= 1 - _ld(c)
        cands.sort(key=lambda c: c.score, reverse=True)
        return cands

    def _siblings(self, top: Element) -> list[Element | Block]:
        parent = top.parent
        if parent is None:
            return [top]
        top_score = top.score or 0
        threshold = max(10.0, top_score * 0.2)
        chosen: list[Element | Block] = []
        for sib in parent.kids:
            if sib is top:
                chosen.append(sib)
                continue
            if sib.junk:
                continue
            bonus = top_score * 0.2 if _similar(sib.klass, top.klass) else 0
            if sib.score is not None and sib.score + bonus >= threshold:
                chosen.append(sib)
            elif top.anchor and sib.anchor and sib.tag == top.tag and _ld(sib) < 0.5:
                chosen.append(sib)  # the next section of a document's outline, however short
            elif sib.tag == "p" and sib.text:
                ld = _ld(sib)
                if (sib.text > 80 and ld < 0.25) or (ld == 0 and self._ends(sib)):
                    chosen.append(sib)
        # text directly in the parent, between the siblings
        if parent.own_blocks:
            for b in self.blocks[parent.start : parent.end]:
                if b.el is parent and b.length > 80 and b.link < 0.25 * b.length:
                    chosen.append(b)
        return chosen

    def _cousins(self, chosen: list[Element | Block], cands: list[Element]) -> list[Element]:
        """Parts of an article split across the tree (the body interrupted by a full-width
        figure): containers elsewhere with the same class as the container that holds most
        of the chosen paragraphs."""
        els = [c for c in chosen if isinstance(c, Element)]
        main = None
        for el in els:
            for i in range(el.idx, el.last + 1):
                e = self.els[i]
                if e.klass and e.ptext and (main is None or e.ptext > main.ptext):
                    main = e
        if main is None or main.ptext < 200:
            return []
        spans = [(el.idx, el.last) for el in els]
        out: list[Element] = []
        for c in cands:
            if (
                c.klass == main.klass
                and c.ptext >= 200
                and not c.junk
                and _ld(c) < 0.3
                and not any(a <= c.idx <= b for a, b in spans)
            ):
                out.append(c)
                spans.append((c.idx, c.last))
        return out

    def _ends(self, el: Element) -> bool:
        for b in self.blocks[el.start : el.end]:
            if b.el is el:
                return b.text.rstrip().endswith(".")
        return False

    def landmark(self, best: list[Block], factor: float = LANDMARK) -> list[Block]:
        """A page that is not one article (a landing or service page, a product) is often a
        stack of sections of similar weight, of which the scores pick one: when the page's
        <main> holds clearly more (`factor` times) than the chosen text, its text is taken
        instead (without the conditional cleaning, which drops a section's short feature
        lists). Without a <main>, the highest ancestor of the choice that is neither
        boilerplate nor mostly links stands in for it."""
        chosen = sum(b.length for b in best)
        main = next((el for el in self.els if el.tag == "main" and not el.junk), None)
        if main is None and best:
            if self.cards(2 * chosen):
                return best  # a listing: its items join the choice (`cards`), not the page
            main = self._wider(best, chosen, factor)
        if main is None or main.text <= factor * chosen:
            return best
        kept = self.collect([main], clean=False)
        return kept if sum(b.length for b in kept) > factor * chosen else best

    def _wider(self, best: list[Block], chosen: int, factor: float) -> Element | None:
        """A page without a <main>: the highest ancestor of the chosen blocks that is not
        boilerplate and not mostly links and holds clearly more than them (a product page's
        description, key features and specifications in one detail box)."""
        anc: Element | None = best[0].el
        for b in best[1:]:
            anc = _common(anc, b.el)
        out = None
        el = anc
        while el is not None and not el.junk and _ld(el) <= WIDE_LD:
            if el.text > factor * chosen:
                out = el
            el = el.parent
        return out

    def cards(self, least: int) -> list[Block]:
        """The blocks of the biggest run of sibling elements of one tag and class (the items
        of a listing, product cards, search results), when it holds more than `least`
        characters and its items are more than one-line links (a menu's are not)."""
        best: list[Element] = []
        best_text = least
        for el in self.els:
            if el.junk or len(el.kids) < CARDS:
                continue
            groups: dict[tuple[str, str], list[Element]] = {}
            for k in el.kids:
                if not k.junk and k.text:
                    groups.setdefault((k.tag, k.klass), []).append(k)
            for run in groups.values():
                if len(run) < CARDS:
                    continue
                text = sum(k.text for k in run)
                if text > best_text and text >= CARD_CHARS * len(run):
                    best, best_text = run, text
        return [b for k in best for b in self.blocks[k.start : k.end] if not b.el.junk]

    def authors(self, best: list[Block]) -> list[Block]:
        """Every kept post of a thread with its author: the first short link before the
        post's text inside a box of the post about its author (a user panel, an "author"
        line), which the cleaning drops as a link, a byline or boilerplate."""
        if not self.runs:
            return best
        kept = {id(b) for b in best}
        add = set()
        for idx in self.runs:
            post = self.els[idx]
            for b in self.blocks[post.start : post.end]:
                if id(b) in kept:
                    break
                # the name links to the poster's profile ("Topic author" is a label)
                if b.length <= NAME_CHARS and b.link * 2 >= b.length and _named(b.el, post):
                    add.add(id(b))
                    break
        if len(add) < 2:  # one byline is an article's, which the cleaning drops on purpose
            return best
        kept |= add
        return [b for b in self.blocks if id(b) in kept]

    # -- output ------------------------------------------------------------------------------
    def collect(self, chosen: list[Element | Block], clean: bool) -> list[Block]:
        """The blocks of the chosen elements, in document order, cleaned."""
        keep: set[int] = set()
        blocks = self.blocks
        for item in chosen:
            if isinstance(item, Block):
                keep.add(id(item))
                continue
            dropped = self._drops(item) if clean else ()
            for i in range(item.start, item.end):
                b = blocks[i]
                if not b.el.junk and i not in dropped:
                    keep.add(id(b))
        return [b for b in blocks if id(b) in keep and self._block_ok(b)]

    def _drops(self, top: Element) -> set[int]:
        """Block indexes of sub-trees of `top` that look like boilerplate."""
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

    def _bad(self, el: Element) -> bool:
        """Readability's conditional cleaning, less eager to drop a box that holds a real
        paragraph (a short forum post under a link-dense header)."""
        if el.text == 0 or el.anchor or (el.cls and EMBED.search(el.cls)):
            return False  # (a section of the outline is cleaned inside, not dropped whole)
        if el.code * 2 >= el.text:
            return False  # a code sample (in its frame, its tabs, under its toolbar)
        if el.cls and ADMONITION.search(el.cls):
            return False  # a documentation page's note, tip or "see also" box
        weight = el.weight if self.use_class else 0
        if weight < 0 and weight + (el.score or 0) < 0:
            return True
        if sum(b.commas for b in self.blocks[el.start : el.end] if not b.el.junk) >= 10:
            return False
        is_list = el.tag in LIST_TAGS
        ld = _ld(el)
        if is_list and ld > 0.5 and self._announced(el):
            return False  # "For more information, see:" and its links
        p = el.n_p
        in_figure = el.ctx & C_FIGURE
        return (
            (not is_list and el.n_li - 100 > p)
            or el.inputs > p / 3
            or (not is_list and weight < 25 and ld > 0.2 and el.prose < 100)
            or (weight >= 25 and ld > 0.5)
            or (is_list and ld > 0.5)
            or (el.n_embed == 1 and el.text < 75)
            or el.n_embed > 1
            or (el.img > 1 and p / el.img < 0.5 and not in_figure and el.prose < 100)
            or (
                not is_list
                and el.text < 25
                and (el.img == 0 or el.img > 2)
                and not in_figure
                and not self._headed(el)
            )
        )

    def _headed(self, el: Element) -> bool:
        """Whether a sub-tree holds a heading (a wiki's heading in its frame, beside its "edit"
        link), which a short box of its own is not."""
        return any(b.ctx & C_HEAD and not b.el.junk for b in self.blocks[el.start : el.end])

    def _announced(self, el: Element) -> bool:
        """Whether a list follows a sentence of the text that announces it ("For more
        information, see:"): its previous sibling is a paragraph of 40+ characters, not
        mostly links, that ends with a colon."""
        if el.tag not in LIST_TAGS or el.idx < 1:
            return False
        prev = self.els[el.idx - 1]  # the element just before it in the tree
        while prev.parent is not el.parent and prev.parent is not None:
            prev = prev.parent  # up to the list's sibling that holds it
        if prev.tag != "p" or prev.parent is not el.parent or prev.end <= prev.start:
            return False
        b = self.blocks[prev.end - 1]
        return b.el is prev and b.length >= 40 and b.text.endswith(":") and b.link < b.length / 2

    def _block_ok(self, b: Block) -> bool:
        if b.ctx & C_HEAD and (
            b.tag == "h1" or (self.title_key and _key(b.text) == self.title_key)
        ):
            return False  # the headline: not part of the body
        if b.link and b.link > 0.5 * b.length and b.length - b.link < 80:
            # links with little text of their own, unless the text announced them
            if _up(b.el, "dt", 2) is not None:
                return True  # a term that links to its page, described by the <dd> after it
            li = _up(b.el, "li", 2)
            return li is not None and li.parent is not None and self._announced(li.parent)
        if b.length < 120 and BYLINE.match(b.text):
            return False
        if b.length < COOKIE_CHARS and COOKIE_NOTICE.search(b.text):
            return False
        return not (b.length < 60 and BOILER_LINE.match(b.text))


def text_of(blocks: list[Block]) -> str:
    """Blocks joined by blank lines; the cells of a table row on one line (" | "), the rows
    of a table on consecutive lines."""
    parts: list[str] = []
    row = table = None
    for b in blocks:
        text = b.text
        if b.ctx & C_HEAD:
            text = HEADING_MARKS.sub("", text) or text
        if b.ctx & C_TABLE:
            r = _up(b.el, "tr")
            t = _up(r, "table") if r is not None else None
            if r is not None and r is row:
                parts[-1] += " | " + text
                continue
            if t is not None and t is table and parts:
                parts[-1] += "\n" + text
                row = r
                continue
            row, table = r, t
        else:
            row = table = None
        parts.append(text)
    return "\n\n".join(parts)


def _unique(blocks: list[Block]) -> list[Block]:
    """The blocks without a second copy of a run of them (a section repeated for a mobile
    layout, a carousel's slides cloned for its loop, a quoted post): a run of REPEAT_RUN+
    consecutive long blocks that repeats, in order, a run seen before. Single repeats stay
    (a meal plan repeats a line on purpose)."""
    first: dict[str, int] = {}
    offset = [0] * len(blocks)  # how far back the first copy of a block is (0: none)
    for i, b in enumerate(blocks):
        if b.length >= REPEAT_CHARS and not b.ctx & C_TABLE:  # a table may repeat a cell
            j = first.setdefault(b.text, i)
            offset[i] = i - j
    drop: set[int] = set()
    i = 0
    while i < len(blocks):
        d = offset[i]
        k, long = i, 1
        # the run goes on while blocks repeat at the same distance back, short ones too (a
        # repeated section's headings and labels)
        while d and k + 1 < len(blocks) and blocks[k + 1 - d].text == blocks[k + 1].text:
            k += 1
            long += offset[k] == d
        if d and long >= REPEAT_RUN:
            drop.update(range(i, k + 1))
        i = k + 1
    return [b for i, b in enumerate(blocks) if i not in drop]


def _up(el: Element | None, tag: str, levels: int = 4) -> Element | None:
    while el is not None and levels:
        if el.tag == tag:
            return el
        el = el.parent
        levels -= 1
    return None


def _named(el: Element | None, post: Element) -> bool:
    """Whether an element inside a post, or a box around it in the post, holds the name of
    the post's author."""
    while el is not None and el is not post:
        if "avatar" in el.cls:  # the initials drawn in place of a picture
            return False
        if el.cls and POSTER.search(el.cls):
            return True
        el = el.parent
    return False


def _flagged(el: Element | None) -> bool:
    """Whether an element or an ancestor is boilerplate by its tag or class."""
    while el is not None:
        if el.tjunk or el.cjunk:
            return True
        el = el.parent
    return False


def _ld(el: Element) -> float:
    return el.link / el.text if el.text else 0.0


def _common(a: Element | None, b: Element) -> Element | None:
    """The nearest common ancestor (or self) of two elements."""
    if a is None:
        return None
    seen = {id(a), *map(id, _ancestors(a))}
    el: Element | None = b
    while el is not None and id(el) not in seen:
        el = el.parent
    return el


def _ancestors(el: Element) -> list[Element]:
    out = []
    p = el.parent
    while p is not None:
        out.append(p)
        p = p.parent
    return out


def _similar(a: str, b: str) -> bool:
    """Class attributes sharing at least half of their words ("post bg1" ~ "post bg2")."""
    if not a or not b:
        return False
    if a == b:
        return True
    ta, tb = set(a.split()), set(b.split())
    return len(ta & tb) * 2 >= len(ta | tb)


def _key(text: str) -> str:
    return " ".join(WORDS.findall(text.lower()))


def _words(blocks: list[Block]) -> set[str]:
    return set(WORDS.findall(" ".join(b.text for b in blocks).lower()))


def _overlap(words: set[str], hint: set[str]) -> float:
    """F1 of two word sets."""
    both = len(words & hint)
    return 2 * both / (len(words) + len(hint)) if both else 0.0


def _plain(text: str) -> str:
    """Paragraphs of a text that may hold HTML markup."""
    text = html_lib.unescape(TAGS.sub(" ", BREAKS.sub("\n", text)))
    return "\n\n".join(p for p in (" ".join(line.split()) for line in text.splitlines()) if p)


def main_text(
    body, title: str | None = None, hint: str | None = None, article: bool = False
) -> TextResult:
    """The main text of a parsed document's body (a LexborNode; hidden elements are removed
    from the tree). `title` is the page's title (a heading repeating it is dropped).

    `hint` is the page's own claim of its article body (JSON-LD articleBody). It is never
    taken as the answer while the page has text of its own: when the first attempt shares
    few words with it, the attempt that agrees with it best is kept. Only when the markup
    yields next to nothing (a page rendered by scripts) is the hint itself returned.

    A page that is not declared an `article` (JSON-LD or og:type) may be a listing: when a
    run of sibling items of one tag and class holds more than twice the chosen text, the
    items are kept too (`Doc.cards`)."""
    remove_hidden(body)
    # the text a reader could see: with inline scripts counted, every boilerplate box would
    # look small enough to skip unwalked
    page_len = visible_len(body)
    doc = Doc(body, title, True, page_len)
    page_chars = sum(b.length for b in doc.blocks) + doc.skipped
    hint_words = None
    if hint and len(hint) >= SHORT:
        hint = _plain(hint)
        hint_words = set(WORDS.findall(hint.lower()))
    attempts: list[list[Block]] = []
    for use_class, clean in ((True, True), (False, True), (False, False)):
        if not use_class and doc.skipped_class and clean:
            doc = Doc(body, title, False, page_len)  # walk the class-flagged parts too
        doc.stats(use_class)
        blocks = doc.collect(doc.choose(), clean)
        attempts.append(blocks)
        if sum(b.length for b in blocks) >= SHORT and (
            hint_words is None or _overlap(_words(blocks), hint_words) >= 0.5
        ):
            break
    if hint_words is not None and len(attempts) > 1:
        best = max(attempts, key=lambda bl: _overlap(_words(bl), hint_words))
    else:
        best = max(attempts, key=lambda bl: sum(b.length for b in bl))
    if not best:  # no article-like container: whatever is not boilerplate, else everything
        doc.stats(True)
        best = [b for b in doc.blocks if not b.el.junk] or list(doc.blocks)
    doc.stats(True)
    # a page that says it is an article needs more evidence (its comments are not its text)
    best = doc.landmark(best, LANDMARK_ARTICLE if article else LANDMARK)
    cards = doc.cards((CARDS_ARTICLE if article else 2) * sum(b.length for b in best))
    if cards:  # a listing: its items, not the one densest box among them
        # the class-flagged boxes a short first choice fell back on (a cookie notice) go
        ids = {id(b) for b in best if not _flagged(b.el)} | {id(b) for b in cards}
        best = [b for b in doc.blocks if id(b) in ids]
    while len(best) > 1 and best[-1].length < 250 and PROMO.search(best[-1].text):
        best = best[:-1]  # "Subscribe to our newsletter", "Follow us on..." after the end
    best = _unique(doc.authors(best))
    text = text_of(best)
    if hint and hint_words is not None and len(text) < 200:
        return TextResult(hint, hint.count("\n\n") + 1, len(hint), 0, max(page_chars, 1))
    return TextResult(
        text=text,
        paragraphs=len(best),
        text_chars=sum(b.length for b in best),
        link_chars=sum(b.link for b in best),
        page_chars=page_chars,
        blocks=best,
    )
