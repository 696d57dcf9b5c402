"""The vocabulary of the main-text extractor: which tags are skipped, inline or boilerplate,
and which class/id words mean boilerplate or content. General web conventions only (HTML
semantics, ARIA roles, common CMS and CSS-framework class names), nothing for one site."""

from __future__ import annotations

import re
from functools import lru_cache


def _tags(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Elements whose content is never text a reader reads.
SKIP_TAGS = _tags(
    """script style noscript template svg math canvas iframe object embed video audio map area
    select option optgroup button input textarea datalist meter progress head title meta link
    base param track source dialog frameset frame noframes noembed applet"""
)
EMBED_TAGS = _tags("iframe object embed video audio")
INPUT_TAGS = _tags("input select textarea")
INLINE_TAGS = _tags(
    """a abbr acronym b bdi bdo big cite code data del dfn em font i ins kbd label mark nobr q
    rp rt ruby s samp small span strike strong sub sup time tt u var wbr img picture"""
)
# Structural boilerplate: soft-flagged, unless it holds most of the page's text.
JUNK_TAGS = _tags("nav aside footer header menu form fieldset figcaption")
JUNK_ROLES = _tags(
    """navigation banner contentinfo complementary search menu menubar dialog alert
    alertdialog tablist toolbar"""
)
HEADINGS = _tags("h1 h2 h3 h4 h5 h6")
PARAGRAPH_TAGS = _tags("p pre td blockquote dd")
# Sub-trees of the chosen container that may be dropped as a whole (conditional cleaning).
CLEAN_TAGS = _tags("div section ul ol table figure dl")
LIST_TAGS = _tags("ul ol dl")

# Context bits, inherited down the tree.
C_TABLE, C_HEAD, C_FIGURE, C_PRE, C_MAIN = 1, 2, 4, 8, 16
CTX_OF_TAG = {
    "main": C_MAIN,
    "pre": C_PRE,
    "table": C_TABLE,
    "figure": C_FIGURE,
    "figcaption": C_FIGURE,
    **{h: C_HEAD for h in HEADINGS},
}

# Readability's priors for a container by its tag.
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

# Class/id words, matched on the lower-cased "class id" of an element.
# Boilerplate unless the same class also says it holds the article ("main-sidebar" is junk,
# "main-content" is not: MAYBE wins).
UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumb|combx|community|cover-wrap|extra|footer|gdpr|header"
    r"|legends|menu|rss|shoutbox|sidebar|skyscraper|sponsor|supplemental|ad-break|agegate"
    r"|pagination|pager|yom-remote|signup|sign-up|masthead|toolbar|tags|tag-?list|topics"
    r"|read-?more|teaser|overlay"
)
MAYBE = re.compile(r"article|body|column|content|main|shadow|post|entry|story|text")
# Boilerplate whatever else the class says: these words anywhere, and STRONG_WORD's as words
# of their own (no letter before or after them). Two patterns, not one, because every branch
# of STRONG starts with a letter: `re` then skips to the places where one can start, and a
# class name is tested on most elements of every page.
STRONG = re.compile(
    r"comment(?!ary)|disqus|share(?!d)|sharing|social|newsletter|subscri|cookie|consent"
    r"|related|promo|advert|outbrain|taboola|recommend"
    r"|more-?stories|most-?popular|trending|breadcrumb|byline|author-?bio|about-?the-?author"
    r"|skip-?link|screen-?reader|sr-only|visually-?hidden|popup|modal|caption|nocontent"
    r"|noscript|userinfo|user-?info|user-?details|usercard|user-?card"
)
STRONG_WORD = re.compile(
    r"(?<![a-z])(?:ads?(?![a-z])|(?:photo-?|image-?)?credits?(?![a-z]|-card)"
    r"|(?:author|dateline|timestamp|entry-meta|post-meta|article-meta|postmeta)(?![a-z])"
    r"|(?:product-?|customer-?)?reviews(?![a-z]))"
    r"|(?<!\S)(?:post|user|author)?[-_]?profile(?:[-_](?:card|box|info|details))?(?!\S)"
)
# A box about a post's author (a forum's user panel, a comment's "author" line): boilerplate
# beside an article, but the author of each post of a thread is part of it (Doc.authors).
POSTER = re.compile(r"author|user|poster|member|profile|(?:^|[^a-z])(?:nick)?name(?:[^a-z]|$)")
# CSS-framework classes that hide an element (Bootstrap, Tailwind, Foundation), unless a
# responsive class shows it again on wider screens ("d-none d-md-block", "hidden lg:flex").
HIDDEN_CLASS = re.compile(
    r"(?:^|\s)(?:d-none|hidden|hide|is-hidden|invisible|print-only|visible-print(?:-block)?"
    r"|show-for-print)(?:\s|$)"
)
RESPONSIVE_SHOW = re.compile(
    r"(?:^|\s)(?:d-(?:sm|md|lg|xl|xxl)-|(?:sm|md|lg|xl|2xl):)"
    r"(?:block|flex|inline|inline-block|inline-flex|grid|table|contents)(?:\s|$)"
)
# Class weights (readability): +25 / -25.
POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|prose|markdown"
)
NEGATIVE = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|foot|gdpr"
    r"|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper"
    r"|sponsor|shopping|tags|tool|widget|caption|credit|byline|newsletter|subscri"
)
# An embedded post (a tweet, an Instagram post) quoted by the article is content.
# (The caption and credit line of an embedded image are not.)
EMBED = re.compile(r"embed(?![a-z-]*(?:credit|caption))|tweet")
# A documentation page's note, tip, warning or "see also" box (Sphinx, MkDocs, Docusaurus,
# AsciiDoc): part of the text, however many links it holds.
ADMONITION = re.compile(r"admonition")
# Inline boxes that are not part of the sentence around them.
INLINE_JUNK = re.compile(
    r"tooltip|popover|popup|hovercard|rollover|caption|credit|sr-only|screen-?reader"
    r"|visually-?hidden|share(?!d)|social|edit-?section"
)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")

# Whole short blocks that are labels, not prose.
BOILER_LINE = re.compile(
    r"^(?:advertisement|advertisment|sponsored(?: content)?|ad|story continues below"
    r"|continue reading(?: below)?|read more|read next|read also|see also|related(?: articles?"
    r"| stories| content)?|share(?: this)?(?: article| story)?|click to share.*|follow us.*"
    r"|sign up.*newsletter.*|subscribe.*|image|photo|video|loading|close|skip to .*"
    r"|comments?|\d+ comments?|leave a (?:comment|reply)|back to top|print|email)[.:!]?$",
    re.I,
)
# Short blocks that are bylines or datelines (not a line that introduces what follows: "By
# making a contribution, I certify that:").
BYLINE = re.compile(
    r"^(?:by|written by|posted by|words by|von|par|por)\s+[A-Z\u00c0-\u024f][^.!?]{0,80}(?<!:)$"
    r"|^(?:updated|published|posted|last updated|last modified|first published|modified)"
    r"\b[^.]{0,30}(?:\d|a\.m\.|p\.m\.|ago).{0,50}$",
    re.I,
)
# A cookie notice that no class gave away: the site says it uses cookies and asks for consent.
COOKIE_NOTICE = re.compile(
    r"\b(?:we use|uses|use of|this (?:site|website) uses) cookies\b"
    r"(?=.*\b(?:agree|accept|consent|cookie (?:policy|settings|preferences)|privacy policy)\b)",
    re.I | re.S,
)
# A short last paragraph that sells something rather than ending the article.
PROMO = re.compile(
    r"\bsubscribe (?:to|for) (?:our|the|my)\b|\bnewsletters?\b|\bsign up (?:for|to) (?:our|the)\b"
    r"|\bfollow (?:us|him|her|me|them) on\b"
    r"|\bclick here\b|\bget the latest\b|\bdownload (?:our|the) app\b|\u00a9|\bcopyright\b"
    r"|\ball rights reserved\b",
    re.I,
)
HEADING_MARKS = re.compile(r"^[\s\u00b6\u00a7#]+|[\s\u00b6\u00a7#]+$")  # permalink signs
WORDS = re.compile(r"\w+")
COMMAS = re.compile(r"[,\u060c\u3001\uff0c]")


@lru_cache(maxsize=8192)
def classify(cls: str) -> tuple[bool, int]:
    """(boilerplate?, class weight) of a lower-cased "class id" string."""
    junk = bool(STRONG.search(cls) or STRONG_WORD.search(cls)) or (
        bool(UNLIKELY.search(cls)) and not MAYBE.search(cls)
    )
    if not junk and HIDDEN_CLASS.search(cls) and not RESPONSIVE_SHOW.search(cls):
        junk = True
    weight = (25 if POSITIVE.search(cls) else 0) - (25 if NEGATIVE.search(cls) else 0)
    if EMBED.search(cls):
        junk, weight = False, max(weight, 0)
    return junk, weight


@lru_cache(maxsize=4096)
def inline_junk(cls: str) -> bool:
    """Whether an inline element's class marks a tooltip, caption, share button..."""
    return bool(INLINE_JUNK.search(cls.lower()))
