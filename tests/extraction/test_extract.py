"""Main-text and metadata extraction: what a user of a saved page would notice."""

from __future__ import annotations

import gzip
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.extraction.extract import Extracted, ExtractionError, extract

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "extraction"
PAGES = Path(__file__).resolve().parent / "pages"


def real_page(prefix: str) -> tuple[bytes, str, str]:
    """(html bytes, url, true article body) of a page of the shared benchmark data."""
    if not (DATA / "ground-truth.json").exists():
        pytest.skip("shared extraction data not available")
    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    (pid,) = [k for k in truth if k.startswith(prefix)]
    with gzip.open(DATA / "html" / f"{pid}.html.gz") as fh:
        return fh.read(), truth[pid]["url"], truth[pid]["articleBody"]


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


ARTICLE = """<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>Otters return to the river Wey | The Riverside Gazette</title>
<meta name="description" content="Otters are breeding on the Wey for the first time in 40 years.">
<meta property="og:site_name" content="The Riverside Gazette">
<meta property="og:image" content="/img/otters.jpg">
<meta property="article:published_time" content="2024-05-02T08:30:00+01:00">
<meta name="author" content="Priya Natarajan">
<link rel="canonical" href="/nature/otters-return">
</head>
<body>
<header class="site-header"><nav><a href="/">Home</a> <a href="/news">News</a>
<a href="/nature">Nature</a></nav></header>
<div id="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<main>
<article>
<h1>Otters return to the river Wey</h1>
<p class="byline">By Priya Natarajan</p>
<p>Otters are breeding on the river Wey for the first time in forty years, volunteers who
monitor the river said on Thursday, after footage from a trail camera showed two cubs.</p>
<p>The animals vanished from most English rivers in the 1970s, when pesticides washed off
farmland poisoned the fish they eat. Cleaner water has let them spread back, slowly.</p>
<p>"We cried when we saw the cubs," said the group's coordinator, who has counted spraints,
the otters' droppings, along the same stretch of bank every month since 2009.</p>
<div class="share-tools"><a href="#">Share on Facebook</a> <a href="#">Share on X</a></div>
</article>
<aside class="related"><h3>Related stories</h3><ul>
<li><a href="/a">Beavers released in Dorset</a></li>
<li><a href="/b">Kingfisher numbers rise</a></li></ul></aside>
</main>
<footer><p>Copyright 2024 The Riverside Gazette. All rights reserved.</p></footer>
</body>
</html>"""


# -- main text of real pages -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("prefix", "present", "absent"),
    [
        (
            "374ac9a5",  # CNBC
            ["Emirates is the number one buyer of Airbus' iconic A380"],
            [
                "Got a confidential news tip?",
                "All Rights Reserved",
                "Sign up for free newsletters",
                "Orders for Boeing's embattled 737 Max pick up at Dubai Air Show",
            ],
        ),
        (
            "1f765c48",  # Sputnik, with a cookie notice
            [
                "The views and opinions expressed in the article do not necessarily reflect "
                "those of Sputnik."
            ],
            ["uses cookies", "Log in", "Get push notifications from Sputnik"],
        ),
        (
            "0d461229",  # Sportsnet, with a cookie notice and related links
            ["Colombia had lost to Belgium on Monday."],
            ["We use cookies", "Nadal keeps Spain alive against Russia in Davis Cup Finals"],
        ),
        (
            "686bb170",  # Space.com
            ["NASA's Hubble Space Telescope has spotted indirect evidence of such plumes"],
            ["Skip to main content", "Subscribe to 'All About Space'", "No comments yet"],
        ),
    ],
)
def test_main_text_of_real_pages(prefix: str, present: list[str], absent: list[str]) -> None:
    html, url, truth = real_page(prefix)
    result = extract(html, url)
    for sentence in present:
        assert sentence in truth  # the sentence really is article text
        assert sentence in result.text
    for junk in absent:
        assert junk not in result.text
    assert result.title and result.language == "en"
    assert result.word_count > 150
    assert result.quality >= 70


def test_forum_thread_keeps_every_post_and_drops_the_chrome() -> None:
    result = extract(page("forum.html"), "https://bread.example/viewtopic.php?t=4821")
    text = result.text
    assert "My starter is about ten days old" in text  # the question
    assert "It is not dead, it is hungry." in text  # the replies
    assert "Moving the jar to a cooler shelf" in text
    assert "Three days of bigger feeds and the smell is gone." in text
    for junk in ["Board index", "Register", "Skip to content", "Powered by phpBB", "Joined:"]:
        assert junk not in text
    assert text.index("ten days old") < text.index("not dead") < text.index("cooler shelf")
    assert result.canonical_url == "https://bread.example/viewtopic.php?t=4821"
    assert result.favicon == "https://bread.example/styles/breadforum/favicon.ico"
    assert result.language == "en"


def test_docs_page_keeps_headings_code_and_tables_not_the_sidebar() -> None:
    result = extract(page("docs.html"), "https://docs.ferrywheel.example/en/latest/retries.html")
    text = result.text
    assert "A retry policy decides whether a failed request is sent again" in text
    assert "Choosing a policy" in text.split("\n\n")  # a heading, permalink sign removed
    assert "client = Client(retry=ExponentialBackoff(attempts=5, base=0.2))" in text
    assert "Retrying a request that is not idempotent can apply it twice." in text
    assert "attempt | How many attempts have been made so far, starting at one." in text
    for junk in ["Table of Contents", "Quick search", "Show Source", "Created using Sphinx"]:
        assert junk not in text
    assert "previous" not in text and "Next topic" not in text
    assert result.title == "Retry policies"


def test_blog_post_without_comments_share_buttons_or_related_posts() -> None:
    result = extract(page("blog.html"), "https://muddyboots.example/2021/04/no-dig/")
    text = result.text
    assert text.startswith("For twelve years I dug over every bed each autumn")
    assert "What changed" in text.split("\n\n")
    assert text.endswith("I watered half as often as the year before.")
    for junk in [
        "Share this",
        "Making compost in a small garden",
        "Great post!",
        "Leave a Reply",
        "Recent Posts",
        "Proudly powered",
        "Posted in",
        "Chitting seed potatoes",
    ]:
        assert junk not in text
    assert result.title == "Why I switched my garden to no-dig beds"
    assert result.author == "Tom Aldous"
    assert result.published_at == datetime(2021, 4, 11, 9, 0, tzinfo=UTC)


def test_product_page_keeps_the_description() -> None:
    result = extract(page("product.html"), "https://northbound.example/products/trailhead-28")
    text = result.text
    assert "A suspended mesh back panel keeps air moving" in text
    assert "Integrated rain cover stowed in the base" in text
    for junk in ["Free shipping on orders", "Add to cart", "Summit 35L Pack", "Sign up for our"]:
        assert junk not in text
    assert result.title == "Trailhead 28L Daypack"
    assert result.site_name == "Northbound Outfitters"
    assert result.image == "https://cdn.northbound.example/p/trailhead-28-grey.jpg"
    assert result.metadata["json_ld"][0]["@type"] == "Product"


def test_question_and_answers_page() -> None:
    result = extract(page("qa.html"), "https://stackoverflow.com/questions/38987/merge")
    text = result.text
    assert "I want to merge two dictionaries into a new dictionary" in text  # the question
    assert "z = {**x, **y}" in text  # the code of the accepted answer
    assert "z = x.copy()\nz.update(y)" in text  # another answer, newlines kept
    for junk in [
        "asked Sep 2, 2008",
        "Aaron Hall",
        "Note that this is not a duplicate",
        "The Overflow Blog",
        "Stack Exchange Inc",
        "Sorted by",
    ]:
        assert junk not in text


# -- metadata --------------------------------------------------------------------------------
def test_metadata_from_meta_tags() -> None:
    result = extract(ARTICLE, "https://gazette.example/nature/otters-return?utm_source=x")
    assert isinstance(result, Extracted)
    assert result.title == "Otters return to the river Wey"
    assert result.description == "Otters are breeding on the Wey for the first time in 40 years."
    assert result.canonical_url == "https://gazette.example/nature/otters-return"
    assert result.site_name == "The Riverside Gazette"
    assert result.author == "Priya Natarajan"
    assert result.published_at == datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
    assert result.published_at.utcoffset() == timedelta(hours=1)
    assert result.language == "en"
    assert result.image == "https://gazette.example/img/otters.jpg"
    assert result.favicon == "https://gazette.example/favicon.ico"
    assert result.metadata["opengraph"]["site_name"] == "The Riverside Gazette"
    json.dumps(result.metadata)


def test_main_text_of_a_small_article() -> None:
    result = extract(ARTICLE, "https://gazette.example/nature/otters-return")
    paragraphs = result.text.split("\n\n")
    assert paragraphs[0].startswith("Otters are breeding on the river Wey")
    assert paragraphs[-1].endswith("every month since 2009.")
    assert len(paragraphs) == 3
    for junk in ["cookies", "Share on", "Related stories", "Beavers", "Copyright", "Home"]:
        assert junk not in result.text
    assert result.word_count == len(result.text.split())
    assert result.reading_time_minutes == 1


def test_metadata_from_json_ld() -> None:
    html = """<html><head><title>Launch day</title>
    <script type="application/ld+json">
    {"@context": "https://schema.org", "@graph": [
      {"@type": "WebSite", "name": "Orbit Weekly"},
      {"@type": "NewsArticle", "headline": "The rocket that almost did not fly",
       "datePublished": "2023-11-05T14:00:00Z", "description": "A launch, delayed.",
       "author": [{"@type": "Person", "name": "Ana Ruiz"}, {"@type": "Person", "name": "Li Wei"}],
       "publisher": {"@type": "Organization", "name": "Orbit Weekly"},
       "image": {"@type": "ImageObject", "url": "https://cdn.example/rocket.jpg"},
       "inLanguage": "es-ES",
       "articleBody": "A long body that should be trimmed in metadata ..."}
    ]}
    </script></head>
    <body><p>The countdown stopped at T-minus 31 seconds, twice, before the engines lit and
    the rocket finally lifted off its pad into a clear November sky.</p></body></html>"""
    result = extract(html, "https://orbit.example/2023/launch")
    assert result.title == "The rocket that almost did not fly"
    assert result.published_at == datetime(2023, 11, 5, 14, 0, tzinfo=UTC)
    assert result.author == "Ana Ruiz, Li Wei"
    assert result.site_name == "Orbit Weekly"
    assert result.image == "https://cdn.example/rocket.jpg"
    assert result.language == "es"
    assert result.description == "A launch, delayed."
    (article,) = result.metadata["json_ld"]
    assert article["@type"] == "NewsArticle"
    assert "countdown stopped" in result.text


def test_published_date_without_a_timezone_stays_naive() -> None:
    html = """<html><head><meta name="date" content="2022-02-03 10:11:12"></head>
    <body><p>Text of the page, long enough to be the main text of it all.</p></body></html>"""
    result = extract(html, "https://example.org/")
    assert result.published_at == datetime(2022, 2, 3, 10, 11, 12)
    assert result.published_at.tzinfo is None


def test_language_guess_and_defaults() -> None:
    html = (
        "<html><body><p>"
        + "Der Hund und die Katze sind nicht im Haus, aber sie sind auf dem Hof mit den Kindern. "
        * 5
        + "</p></body></html>"
    )
    result = extract(html, "http://example.de/a/b.html")
    assert result.language == "de"
    assert result.favicon == "http://example.de/favicon.ico"
    assert result.canonical_url is None
    assert result.title is None


# -- input -----------------------------------------------------------------------------------
def test_non_utf8_bytes_are_decoded_from_meta_charset() -> None:
    cyrillic = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        "<title>Новости</title></head><body><p>Привет, мир! Это страница в кодировке "
        "windows-1251, и буквы должны прочитаться правильно.</p></body></html>"
    ).encode("cp1251")
    result = extract(cyrillic, "https://example.ru/")
    assert "Привет, мир!" in result.text
    assert result.title == "Новости"

    latin = (
        '<html><head><meta charset="iso-8859-1"></head><body><p>Crème brûlée au café, '
        "une façade naïve et un garçon très âgé.</p></body></html>"
    ).encode("latin-1")
    assert "Crème brûlée au café" in extract(latin, "https://example.fr/").text


def test_undeclared_legacy_bytes_and_bom() -> None:
    cp1252 = "<p>Señor Muñoz paid 5 € for a crème brûlée and a jalapeño.</p>".encode("cp1252")
    assert "Señor Muñoz paid 5 €" in extract(cp1252, "https://example.org/").text
    utf16 = "<p>Grüße aus Köln, with a byte order mark.</p>".encode("utf-16")
    assert "Grüße aus Köln" in extract(utf16, "https://example.org/").text
    utf8_bom = b"\xef\xbb\xbf" + "<p>Zo\u00eb\u2019s caf\u00e9</p>".encode()
    assert extract(utf8_bom, "https://example.org/").text == "Zo\u00eb\u2019s caf\u00e9"


def test_undeclared_cyrillic_bytes() -> None:
    pytest.importorskip("charset_normalizer")
    sentence = "Москва, 9 января. Переговоры про транзит газа продолжились в пятницу вечером. "
    html = ("<html><body><p>" + sentence * 5 + "</p></body></html>").encode("cp1251")
    assert sentence.strip() in extract(html, "https://example.ru/").text


def test_malformed_html_still_gives_text() -> None:
    html = (
        "<html><body><div class=content><p>First paragraph, never closed, about the harbour"
        "<p>Second paragraph with <b>bold and <i>italic text that never ends"
        "<div><p>Third paragraph inside a stray div</table></span></body>"
    )
    text = extract(html, "https://example.org/").text
    assert "First paragraph, never closed" in text
    assert "italic text that never ends" in text
    assert "Third paragraph inside a stray div" in text


def test_empty_input() -> None:
    for empty in ["", b"", "   \n\t ", b"\n"]:
        with pytest.raises(ExtractionError) as err:
            extract(empty, "https://example.org/")
        assert err.value.code == "empty"
        assert err.value.message


@pytest.mark.parametrize(
    "blob",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
        b"PK\x03\x04\x14\x00\x06\x00",
        b"<html>\x00\x00\x00\x01\x02 not really html",
    ],
)
def test_binary_input(blob: bytes) -> None:
    with pytest.raises(ExtractionError) as err:
        extract(blob, "https://example.org/file")
    assert err.value.code == "binary"


def test_markup_without_text() -> None:
    html = "<html><head><title>x</title></head><body><div><img src=a.png></div></body></html>"
    with pytest.raises(ExtractionError) as err:
        extract(html, "https://example.org/")
    assert err.value.code == "no_text"


def test_huge_page_is_cut_not_fatal() -> None:
    paragraph = "<p>" + "A sentence of the long page, with a comma in it. " * 20 + "</p>\n"
    html = "<html><body><article>" + paragraph * (20_000_000 // len(paragraph)) + "</article>"
    assert len(html) >= 19_000_000
    start = time.perf_counter()
    result = extract(html.encode(), "https://example.org/huge")
    assert time.perf_counter() - start < 15
    assert result.word_count > 100_000


def test_pathological_nesting_is_fast() -> None:
    html = "<div>" * 200_000 + "deep text at the bottom"
    start = time.perf_counter()
    result = extract(html, "https://example.org/")
    assert time.perf_counter() - start < 5
    assert "deep text at the bottom" in result.text


def test_mangled_pages_never_crash() -> None:
    rng = random.Random(7)
    sources = [page(name) for name in ("forum.html", "docs.html", "blog.html", "qa.html")]
    pieces = [
        b"<",
        b">",
        b"</div>",
        b"<div>",
        b"<!--",
        b'"',
        b"<table><td>",
        b"<svg>",
        b"\x00",
        b'<meta charset="base64">',
        b'<script type="application/ld+json">[[[[{"a":',
        b'<a href="http://[::1">x</a>',
        b'<base href="::::">',
        b"<plaintext>",
        b"\xff\xfe",
    ]
    for _ in range(60):
        html = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 25)):
            at = rng.randrange(len(html) + 1)
            if rng.random() < 0.5:
                html[at:at] = rng.choice(pieces)
            else:
                del html[at : at + rng.randint(1, 1500)]
        data = bytes(html) if rng.random() < 0.5 else bytes(html).decode("utf-8", "replace")
        try:
            result = extract(data, rng.choice(["https://e.example/a", "", "http://[::1"]))
        except ExtractionError as err:
            assert err.code in {"empty", "binary", "no_text"}
        else:
            assert result.text and result.word_count > 0
            json.dumps(result.metadata)


# -- derived fields --------------------------------------------------------------------------
def test_quality_is_higher_for_an_article_than_for_a_link_list() -> None:
    links = "".join(
        f'<li><a href="/p/{i}">Product number {i} in the shop</a></li>' for i in range(60)
    )
    link_page = f"<html><head><title>Shop</title></head><body><ul>{links}</ul></body></html>"
    link_quality = extract(link_page, "https://shop.example/").quality
    article_quality = extract(ARTICLE, "https://gazette.example/").quality
    assert 0 <= link_quality < article_quality <= 100
    assert article_quality - link_quality >= 20


def test_content_hash_ignores_whitespace_and_case() -> None:
    a = extract("<p>The quick  brown fox\njumps over the lazy dog.</p>", "https://a.example/")
    b = extract("<div><p>The quick brown fox jumps\tover the LAZY dog.</p></div>", "https://b/")
    c = extract("<p>The quick brown fox jumps over the lazy cat.</p>", "https://a.example/")
    assert a.content_hash == b.content_hash != c.content_hash
    assert len(a.content_hash) == 64


def test_word_count_and_reading_time() -> None:
    body = "<p>" + "word " * 1000 + "</p>"
    result = extract(body, "https://example.org/")
    assert result.word_count == 1000
    assert result.reading_time_minutes == 5  # ceil(1000 / 230)


def test_thread_safe() -> None:
    inputs = [(ARTICLE, "https://gazette.example/"), (page("forum.html"), "https://f.example/")]
    inputs += [(page("docs.html"), "https://d.example/")]
    expected = [extract(html, url) for html, url in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: extract(*inputs[i % 3]), range(60)))
    for i, result in enumerate(results):
        assert result == expected[i % 3]


def test_timezone_offsets_are_kept() -> None:
    html = """<html><head><meta property="article:published_time"
    content="2019-11-19T10:00:00-0500"></head><body><p>Some text of the story here.</p></body>"""
    published = extract(html, "https://example.org/").published_at
    assert published == datetime(2019, 11, 19, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
