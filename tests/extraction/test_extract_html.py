"""The main content's structure as sanitised HTML (the reader view): what is kept, what is
never let through."""

from __future__ import annotations

import re
import time

from selectolax.lexbor import LexborHTMLParser

from app.extraction.extract import extract
from app.extraction.extract_html import sanitize

URL = "https://blog.example.org/2026/notes/structure.html"
FILLER = (
    "This sentence is here so that the article reads like prose, with commas, clauses, "
    "and enough words to be the main content of the page rather than its navigation."
)


def page(body: str) -> str:
    return f"""<!DOCTYPE html><html><head><title>Structure</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Structure</h1><p>{FILLER}</p>{body}<p>{FILLER}</p></article>
<footer><p>Copyright</p></footer></body></html>"""


def html_of(body: str) -> str:
    result = extract(page(body), URL)
    assert result.html is not None
    return result.html


def tree(fragment: str):  # type: ignore[no-untyped-def]
    return LexborHTMLParser(f"<body>{fragment}</body>").body


def test_headings_keep_their_levels_and_lose_permalink_signs() -> None:
    out = html_of(
        f'<h2>Getting started <a href="#start">#</a></h2><p>{FILLER}</p>'
        f"<h3>Installing</h3><p>{FILLER}</p><h4>On Debian</h4><p>{FILLER}</p>"
    )
    body = tree(out)
    assert [(h.tag, h.text()) for h in body.css("h2, h3, h4")] == [
        ("h2", "Getting started"),
        ("h3", "Installing"),
        ("h4", "On Debian"),
    ]
    assert "<h1>" not in out  # the headline is the page's title, shown apart


def test_nested_lists_and_ordered_lists() -> None:
    out = html_of(
        "<ul><li>Fruit<ul><li>Apple</li><li>Pear</li></ul></li><li>Bread</li></ul>"
        "<ol><li>Preheat the oven</li><li>Bake for an hour</li></ol>"
    )
    body = tree(out)
    outer = body.css_first("ul")
    assert [li.text(deep=False).strip() for li in outer.css("ul > li")][:1] == ["Fruit"]
    inner = outer.css_first("li > ul")
    assert inner is not None and [li.text() for li in inner.css("li")] == ["Apple", "Pear"]
    assert [li.text() for li in body.css("ol > li")] == ["Preheat the oven", "Bake for an hour"]


def test_code_blocks_keep_their_line_breaks_and_indentation() -> None:
    code = "def area(r):\n    return 3.14159 * r * r\n\nprint(area(2))"
    out = html_of(f'<pre><code class="language-python">{code}</code></pre>')
    pre = tree(out).css_first("pre")
    assert pre is not None and pre.text() == code


def test_inline_markup_and_absolute_links() -> None:
    out = html_of(
        '<p>Read <a href="../guide/?a=1&amp;b=2">the guide</a>, call <code>area()</code>, '
        "<em>carefully</em> and <strong>twice</strong>, or write to "
        f'<a href="mailto:me@example.org">me</a>. {FILLER}</p>'
    )
    body = tree(out)
    links = {a.text(): a.attributes for a in body.css("a")}
    assert links["the guide"]["href"] == "https://blog.example.org/2026/guide/?a=1&b=2"
    assert links["the guide"]["rel"] == "noopener noreferrer nofollow"
    assert links["me"]["href"] == "mailto:me@example.org"
    assert body.css_first("code").text() == "area()"
    assert body.css_first("em").text() == "carefully"
    assert body.css_first("strong").text() == "twice"


def test_tables_keep_rows_header_cells_and_data_cells() -> None:
    out = html_of(
        "<table><thead><tr><th>Planet</th><th>Moons</th></tr></thead>"
        "<tbody><tr><td>Mars</td><td>2</td></tr><tr><td>Jupiter</td><td>95</td></tr></tbody>"
        "</table>"
    )
    table = tree(out).css_first("table")
    assert table is not None
    rows = [[c.tag, c.text()] for r in table.css("tr") for c in r.css("th, td")]
    assert rows == [
        ["th", "Planet"],
        ["th", "Moons"],
        ["td", "Mars"],
        ["td", "2"],
        ["td", "Jupiter"],
        ["td", "95"],
    ]


def test_images_are_absolute_with_their_alt_text() -> None:
    out = html_of(
        f'<figure><img src="/media/orbit.png" alt="The orbit of the probe"></figure><p>{FILLER}</p>'
        f'<p>A lazy one <img data-src="img/lazy.jpg" src="data:image/gif;base64,R0lGOD" '
        f'alt="Lazy"> and a pixel <img src="/t.gif" width="1" height="1">. {FILLER}</p>'
    )
    imgs = [(i.attributes["src"], i.attributes["alt"]) for i in tree(out).css("img")]
    assert imgs == [
        ("https://blog.example.org/media/orbit.png", "The orbit of the probe"),
        ("https://blog.example.org/2026/notes/img/lazy.jpg", "Lazy"),
    ]


def test_quotes_and_line_breaks() -> None:
    out = html_of(f"<blockquote><p>{FILLER}</p></blockquote><p>First line<br>second line</p>")
    body = tree(out)
    assert body.css_first("blockquote > p").text() == FILLER
    assert "<p>First line<br>second line</p>" in out


def test_dangerous_markup_is_removed() -> None:
    out = html_of(
        f"<p>Click <a href=\"javascript:alert('x')\">here</a> or "
        f'<a href=" JaVaScRiPt:alert(1)">there</a>. {FILLER}</p>'
        '<p onclick="steal()" style="color:red">Painted <img src="/x.png" onerror="steal()" '
        f'alt="x"> {FILLER}</p>'
        "<script>window.stolen = 1</script><style>body{display:none}</style>"
        '<svg><script>window.stolen = 2</script><a href="javascript:x()">svg link</a></svg>'
        '<iframe src="https://evil.example/"></iframe>'
        '<form action="https://evil.example/"><input name="q"><button>Go</button></form>'
        f"<p>Escaped &lt;script&gt;alert(1)&lt;/script&gt; stays text. {FILLER}</p>"
    )
    lower = out.lower()
    for banned in ("<script", "javascript:", "onerror", "onclick", "style=", "<style", "<svg"):
        assert banned not in lower, banned
    assert "<iframe" not in lower and "<form" not in lower and "<input" not in lower
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out  # text, never markup
    assert 'src="https://blog.example.org/x.png"' in out


def test_the_sanitiser_is_an_allow_list() -> None:
    dirty = (
        '<p style="x" class="y" id="z">a<script>b()</script></p>'
        '<a href="data:text/html,<script>x</script>">d</a>'
        '<a href="https://ok.example/" target="_blank" onmouseover="x()">ok</a>'
        '<img src="javascript:x()"><img src="mailto:a@b.c"><img src="http://ok.example/i.png">'
        "<svg><script>x()</script></svg><math><mi>x</mi></math>"
        '<object data="x"></object><embed src="x"><video src="x"></video>'
        '<link rel="stylesheet" href="x"><meta http-equiv="refresh" content="0">'
        "<!-- comment --><h2>t</h2>"
    )
    out = sanitize(dirty)
    assert re.findall(r"<(\w+)", out) == ["p", "a", "a", "img", "h2"]
    assert '<a href="https://ok.example/" rel="noopener noreferrer nofollow">ok</a>' in out
    assert '<img src="http://ok.example/i.png">' in out
    assert "comment" not in out


def test_text_from_json_ld_alone_has_no_structure() -> None:
    body = "Long article body. " * 60
    doc = (
        "<html><head><title>T</title>"
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        f'"articleBody": "{body}"}}</script></head><body><div id="app"></div></body></html>'
    )
    result = extract(doc, URL)
    assert result.text.startswith("Long article body.")
    assert result.html is None


def test_structure_costs_little() -> None:
    """The structure is rendered for the chosen blocks only: a long page with much markup
    stays fast."""
    items = "".join(
        f'<li>Item {i} with <a href="/i/{i}">a link</a> and <em>emphasis</em></li>'
        for i in range(300)
    )
    rows = "".join(f"<tr><td>{i}</td><td>{i * i}</td></tr>" for i in range(300))
    doc = page(f"<p>{FILLER}</p>" * 100 + f"<ul>{items}</ul><table>{rows}</table>")
    extract(doc, URL)
    start = time.perf_counter()
    for _ in range(5):
        result = extract(doc, URL)
    assert result.html is not None and result.html.count("<p>") >= 100
    assert (time.perf_counter() - start) / 5 < 0.5  # generous: a busy 2-core CI machine
