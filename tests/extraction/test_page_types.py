"""Main text of pages that are not articles: a forum thread served inside <noscript>, a
documentation page of short sections beside a navigation tree, a product page hidden until a
script runs beside a recommendations carousel, a listing of cards. Each fixture is shaped like
the real pages of its kind in WCXB (bench/extraction.py) that the extractor used to miss."""

from __future__ import annotations

from pathlib import Path

from app.extraction.extract import extract

PAGES = Path(__file__).resolve().parent / "pages"


def text_of(name: str, url: str) -> str:
    return extract((PAGES / name).read_bytes(), url).text


def test_forum_thread_served_in_noscript_keeps_every_post() -> None:
    text = text_of("forum-noscript.html", "https://brewers.example/t/mead-stopped/8812")
    assert "went completely still" in text  # the question
    assert "classic sign of a starved ferment" in text  # the answer
    assert "bubbling again, slowly but steadily" in text  # the follow-up
    for chrome in ("Loading", "Terms of Service", "Powered by", "Log in"):
        assert chrome not in text


def test_documentation_keeps_every_section_and_its_code_not_the_nav_tree() -> None:
    text = text_of("docs-reference.html", "https://shopdb.example/api.html")
    for name in ("connect(url", "Connection.fetch", "Connection.transaction", "Connection.close"):
        assert name in text
    assert 'conn = connect("postgres://localhost/shop", timeout=5)' in text
    assert 'with conn.transaction():\n    conn.execute("DELETE FROM carts' in text  # code layout
    assert "TimeoutError | the server did not answer in time" in text  # the table
    for nav in ("Quickstart", "Middleware", "Internationalisation", "Copyright"):
        assert nav not in text


def test_product_page_hidden_until_a_script_runs_keeps_description_and_specs() -> None:
    text = text_of("product-locked.html", "https://northpath.example/products/ridgeline")
    assert "freestanding two-person tent" in text
    assert "aluminium hub pole" in text
    assert "Packed weight | 1.6 kg" in text
    for carousel in ("You may also like", "Titanium spork", "Collapsible kettle"):
        assert carousel not in text
    assert "Free returns" not in text


def test_listing_keeps_every_item_not_one() -> None:
    text = text_of("listing-cards.html", "https://goodtable.example/recipes/dinner")
    for title in (
        "Cast-iron skillet cornbread",
        "Weeknight chickpea curry",
        "Lemon ricotta pancakes",
        "Charred broccoli salad",
    ):
        assert title in text
    assert "tossed through pappardelle" in text
    assert "We use cookies" not in text


def test_forum_thread_keeps_every_post_with_its_author() -> None:
    text = text_of("forum-authors.html", "https://brewers.example/threads/cyser.77/")
    posts = [
        ("meadmaker_jo", "sitting at 1.020 for two weeks"),
        ("oldbrewer", "Check the pH before you do anything else"),
        ("meadmaker_jo", "the meter read 3.0"),
    ]
    at = 0
    for author, post in posts:  # each author right before their post, in order
        name = text.index(author, at)
        body = text.index(post, name)
        assert text[name:body].count("\n\n") == 1, "the author line directly precedes the post"
        at = body
    for chrome in ("Senior member", "Latest posts", "Terms and rules", "Reply"):
        assert chrome not in text  # the user panel's titles, sidebar and footer stay out


def test_product_page_without_main_keeps_features_and_spec_table_not_the_carousel() -> None:
    text = text_of("product-detail.html", "https://deskworks.example/products/loftstand")
    assert "machined from a single sheet of recycled aluminium" in text  # the description
    assert "A ratchet arm lifts the screen" in text  # the key features beside their pictures
    assert "Weight | 640 g" in text and "Fits | Laptops 10 to 17 inches" in text  # the specs
    for carousel in ("Customers also bought", "Cable tidy kit", "USB-C dock", "Warranty"):
        assert carousel not in text


def test_landing_page_keeps_the_sections_beside_their_screenshots() -> None:
    text = text_of("landing-sections.html", "https://pantrypal.example/")
    assert "a meal planner for busy households" in text
    for section in ("shopping list writes itself", "suggests dinners", "vote on meals"):
        assert section in text
    assert "Jobs" not in text


def test_product_hidden_until_a_script_runs_beside_a_mega_menu_is_the_page() -> None:
    text = text_of("product-behind-menu.html", "https://wholebasket.example/p/almond-crisps")
    assert "Thin, crunchy crisps baked in small batches" in text
    assert "Allergens | Wheat, eggs, almonds" in text
    assert "subcategory number" not in text  # the menu is the page's chrome, however long


def test_a_section_repeated_for_another_layout_is_kept_once() -> None:
    text = text_of("article-twice.html", "https://crumbnotes.example/first-loaf")
    assert text.count("Sourdough starts with a starter") == 1
    assert text.count("Fold the dough every half hour") == 1
    assert "slice it with a serrated knife" in text


def test_documentation_keeps_the_code_sample_of_every_language_tab() -> None:
    text = text_of("docs-tabs.html", "https://pingpost.example/docs/start")
    assert 'msg = client.messages.send(to="+15550100", body="Hello from Python")' in text
    assert 'body: "Hello from Node" });\nconsole.log(msg.id);' in text  # the hidden tab's code
    assert "arrives on your phone" in text
    for nav in ("Webhooks", "Rate limits", "Status"):
        assert nav not in text


def test_a_cookie_notice_without_a_telling_class_is_not_text() -> None:
    paras = "".join(
        f"<p>Paragraph {i} of a long walk along the coast path, past the lighthouse, the dunes "
        "and the old harbour wall, where the fishing boats come in at dawn.</p>"
        for i in range(6)
    )
    notice = (
        "<p>Coastwalks uses cookies to remember your settings and measure traffic. By using "
        "this site you agree to our cookie policy.</p>"
    )
    page = (
        f"<html><body><div class='post'><h1>The coast path</h1>{paras}{notice}</div></body></html>"
    )
    text = extract(page.encode(), "https://coastwalks.example/coast-path").text
    assert "Paragraph 5 of a long walk" in text
    assert "uses cookies" not in text


def test_product_page_keeps_the_description_not_the_customer_reviews() -> None:
    reviews = "".join(
        f"<div class='review'><p class='review-author'>Buyer {i}</p><p>Review {i}: I took this "
        "kettle on a week of wild camping, and it boiled water fast, even in the wind, though "
        "the handle gets hot, so bring a glove, and the lid rattles in a pack.</p></div>"
        for i in range(4)
    )
    page = (
        "<html><body><div class='product'><h1>Trail kettle</h1><div class='summary'>"
        "<p>A one-litre kettle pressed from a single sheet of titanium, with a folding handle "
        "and a lid that doubles as a cup, light enough for a long hike.</p>"
        "<p>The wide base sits steady on any stove, and the spout pours without dribbling. "
        "Etched marks inside show 250, 500 and 750 millilitres, so you can measure water for "
        "a dehydrated meal without a second pot.</p>"
        "<p>It nests a 100 g gas canister and a small burner, and packs into the cotton bag "
        "it comes in, which keeps soot off the rest of your gear.</p>"
        "<p>Titanium does not rust or taint the taste of water, and the kettle is covered by "
        "our lifetime warranty against splits and leaks.</p>"
        "</div><section class='product-reviews'><h2>What customers say</h2>"
        f"{reviews}</section></div></body></html>"
    )
    text = extract(page.encode(), "https://campgear.example/p/trail-kettle").text
    assert "pressed from a single sheet of titanium" in text
    assert "pours without dribbling" in text
    assert "Review 3" not in text and "Buyer 1" not in text


def test_ranking_table_with_a_compare_link_per_row_is_kept_beside_its_intro() -> None:
    names = ["Nimbus Studio", "Quarry Lab", "Tessel Forge", "Orbit Minds", "Palisade AI"]
    rows = "".join(
        f"<tr><td>{i + 1}.</td><td>{n}</td><td>{9.5 - i / 4:.1f}</td>"
        f"<td><a href='/p/{i}'>Compare {n}</a></td></tr>"
        for i, n in enumerate([*names, "Kestrel Core", "Lumen Stack", "Vireo Learn"])
    )
    page = (
        "<html><body><nav><a href='/'>Home</a> <a href='/c'>Categories</a></nav>"
        "<div class='wrap'><div class='head'><h1>Top machine learning platforms</h1>"
        "<p>See how the machine learning platforms rank on our score, which weighs features, "
        "pricing, support and what their users say, updated every month.</p></div>"
        "<table class='ranking'><tr><th>Rank</th><th>Product</th><th>Score</th><th></th></tr>"
        f"{rows}</table></div><footer>Rankings Ltd</footer></body></html>"
    )
    # a third of the box's text is its links: the rows are still the page, not a menu
    text = extract(page.encode(), "https://rankings.example/ml").text
    assert "weighs features, pricing, support" in text
    for rank, name in enumerate(names, 1):
        assert f"{rank}. | {name} | " in text
    assert "Rankings Ltd" not in text


def _section(slug: str, title: str, body: str) -> str:
    return f"<section id='{slug}'><h2>{title}</h2>{body}</section>"


def test_documentation_keeps_its_outline_code_and_headings_not_the_nav_tree() -> None:
    """A generated manual (Sphinx, Hugo): each section's id is its heading's slug, however
    much it reads like a class word ("review-comments", "headers"); the short sections after
    the longest one are still the page; a code sample sits in a frame whose classes read like
    boilerplate (a toolbar, a scroll margin); headings link to themselves; a "see also" box
    is all links."""
    para = (
        "<p>Describe the problem your patch solves, in plain words, with the numbers that "
        "show it, the hardware it was seen on, and the commands that reproduce it, so that "
        "a reviewer who has never met the bug can follow the reasoning, step by step.</p>"
    )
    nav = "".join(f"<li><a href='/doc/{i}.html'>Guide chapter {i}</a></li>" for i in range(30))
    page = (
        "<html><head><title>Submitting patches</title></head><body>"
        f"<div class='sphinxsidebar' role='navigation'><ul>{nav}</ul></div>"
        "<div class='body' role='main'><section id='submitting-patches'>"
        "<h1>Submitting patches</h1>"
        + _section("describe-your-changes", "Describe your changes", para * 6)
        + _section(
            "respond-to-review-comments",
            "Respond to review comments",
            "<p>Your patch will almost certainly get comments from reviewers; answer each of "
            "them, politely, and thank the reviewers for their time.</p>"
            "<p>By offering a Reviewed-by tag, a reviewer states that:</p>"
            "<ol><li>they have read the patch and found it fit for the tree.</li></ol>",
        )
        + _section(
            "explicit-in-reply-to-headers",
            "Explicit In-Reply-To headers",
            "<p>It can help to add an In-Reply-To header by hand, to link a new version to "
            "the discussion of the old one.</p>"
            "<div class='code-toolbar scroll-mt-2'><pre>git send-email --in-reply-to="
            "'&lt;20250101.1234@example.org&gt;' 0001-fix.patch</pre>"
            "<button>Copy</button></div>",
        )
        + _section(
            "references",
            "References",
            "<p>Further reading on the mailing lists and the tools:</p><ul>"
            "<li><a href='/a'>Mailing list etiquette</a></li>"
            "<li><a href='/b'>Email clients</a></li>"
            "<li><a href='/c'>The patch tracker</a></li></ul>"
            "<div class='admonition seealso'><p class='admonition-title'>See also</p><dl>"
            "<dt><a href='/lint'>checkpatch</a></dt><dd>Check your patch's style</dd>"
            "<dt><a href='/maint'>get_maintainer</a></dt><dd>Find who to send it to</dd>"
            "</dl></div>",
        )
        + "<h2 id='tooling-notes'><a href='#tooling-notes'>Tooling notes</a></h2>"
        "<p>Run the style checker on your patch before you send it, and fix what it says.</p>"
        "</section></div></body></html>"
    )
    text = extract(page.encode(), "https://kernel.example/doc/submitting-patches.html").text
    assert "a reviewer who has never met the bug" in text
    assert "Respond to review comments" in text  # a section's id is no class word
    assert "thank the reviewers for their time" in text
    assert "By offering a Reviewed-by tag, a reviewer states that:" in text  # not a byline
    assert "add an In-Reply-To header by hand" in text  # a short section after the longest
    assert "git send-email --in-reply-to=" in text  # the code in its toolbar frame
    assert "Further reading on the mailing lists" in text  # the last, link-heavy section
    assert "Mailing list etiquette" in text  # links that the text announced ("...tools:")
    assert "Find who to send it to" in text  # a "see also" box of links
    assert "get_maintainer" in text  # a term that links to its page, described after it
    assert "Tooling notes" in text  # a heading that links to itself
    assert "Guide chapter" not in text


def test_a_comments_section_named_by_its_heading_stays_out_of_an_article() -> None:
    paras = "".join(
        f"<p>Paragraph {i}: the autumn migration brings thousands of geese over the estuary, "
        "and the best place to watch them land is the old sea wall at dusk.</p>"
        for i in range(6)
    )
    page = (
        f"<html><body><main><article><h1>Geese at dusk</h1>{paras}"
        "<section id='comments'><h2>Comments</h2><p>With an account on the Fediverse, you "
        "can respond to this post; known replies are displayed below.</p></section>"
        "</article></main></body></html>"
    )
    text = extract(page.encode(), "https://estuary.example/geese").text
    assert "Paragraph 5: the autumn migration" in text
    assert "Fediverse" not in text


def test_product_page_that_also_calls_itself_an_article_keeps_its_features() -> None:
    """A shop's SEO plugin adds an "Article" to every page's JSON-LD; the page also says it is
    a Product. It is no article: its feature points beside the short summary are the page."""
    ld = (
        '{"@context": "https://schema.org", "@graph": ['
        '{"@type": "Article", "headline": "Glass travel cup"},'
        '{"@type": "Product", "name": "Glass travel cup", "offers": {"price": "24.00"}}]}'
    )
    points = [
        "A sliding seal stops coffee from slopping over the rim when you walk or ride a train",
        "Blown from lab-grade borosilicate glass that shrugs off boiling water and ice",
        "A food-grade silicone band keeps your fingers cool around a hot drink all morning",
        "Every part goes in the top rack of the dishwasher and the lid comes apart in two",
        "The glass never takes on the taste of yesterday's tea or last week's cold brew",
        "The cup fits under the spout of almost every espresso machine sold for the home",
        "Its narrow base sits in a car's cup holder without rattling on a bumpy road",
        "A nose dome in the lid lets you drink without tilting your head all the way back",
    ]
    items = "".join(f"<li>{point}, and it is built to last.</li>" for point in points)
    page = (
        f"<html><head><script type='application/ld+json'>{ld}</script></head><body>"
        "<div class='product'><div class='summary entry-summary'><h1>Glass travel cup</h1>"
        "<p>A four-ounce glass cup for an espresso, a cortado or a flat white on the move, "
        "with a splash-proof lid, a silicone band, a nose dome, and a shape that fits a "
        "car's cup holder, a bike's bottle cage, or the side pocket of a backpack.</p>"
        "<p>Made by hand, in small batches, from glass, silicone and nothing else, so it "
        "is safe, light, easy to clean, and good for years of daily coffee.</p>"
        "<form class='cart'><button>Add to cart</button></form></div>"
        "<div class='tabs'><div class='tab'><div class='inner'><h2>Why you will love it</h2>"
        f"<ul>{items}</ul></div></div></div></div>"
        "<footer><p>Free shipping on orders over $50.</p></footer></body></html>"
    )
    text = extract(page.encode(), "https://cups.example/product/glass-cup/").text
    assert "a cortado or a flat white on the move" in text
    assert "shrugs off boiling water and ice" in text  # the feature points
    assert "the lid comes apart in two" in text
    assert "Free shipping" not in text


def test_wiki_headings_in_their_own_frames_are_kept() -> None:
    """MediaWiki wraps each heading in a box of its own beside its "edit" link: a box that
    short is no boilerplate when it holds a heading."""
    sections = "".join(
        f"<div class='mw-heading mw-heading2'><h2 id='{title.replace(' ', '_')}'>{title}</h2>"
        "<span class='mw-editsection'>[<a href='/edit'>edit</a>]</span></div>"
        f"<p>{body}</p>"
        for title, body in [
            (
                "Installation",
                "Install the sudo package, then add your user to the wheel "
                "group, so that the default configuration lets it run commands as root.",
            ),
            (
                "Configuration",
                "The main configuration file is /etc/sudoers; always edit it "
                "with visudo, which checks the syntax before it saves the file.",
            ),
            (
                "Tips and tricks",
                "Add a timeout, a coloured prompt or a lecture file, each "
                "with one line in a drop-in file under /etc/sudoers.d/.",
            ),
        ]
    )
    page = (
        "<html><body><main><div class='mw-parser-output'>"
        "<p>Sudo lets a system administrator give certain users the ability to run some "
        "commands as root, while logging the commands and their arguments.</p>"
        f"{sections}</div></main></body></html>"
    )
    text = extract(page.encode(), "https://wiki.example/title/Sudo").text
    for title in ("Installation", "Configuration", "Tips and tricks"):
        assert f"\n\n{title}\n\n" in text
    assert "always edit it with visudo" in text
    assert "[" not in text  # the "[edit]" links


def test_the_page_header_inside_main_keeps_its_introduction() -> None:
    """A reference page puts its title and first paragraph in a "header" box inside <main>:
    that is the page's own header, not the site's (which stays out)."""
    sections = "".join(
        f"<section><h2 id='s{i}'>Part {i}</h2><p>Part {i} of the guide: a function takes "
        "parameters, runs its statements, and returns a value, which the caller may keep, "
        "pass on, or ignore, as it likes.</p></section>"
        for i in range(4)
    )
    page = (
        "<html><body><div class='site-header'><a href='/'>DevDocs</a> "
        "<a href='/blog'>Blog</a> <a href='/play'>Playground</a></div>"
        "<main><div class='layout__header'><h1>Functions</h1><p>Functions are one of the "
        "fundamental building blocks of the language: a set of statements that performs a "
        "task or computes a value, takes some input, and returns an output, where there is "
        "some obvious relationship between the input and the output. To use a function, you "
        "define it somewhere in the scope from which you call it, then call it by name.</p>"
        "</div>"
        f"<div class='layout__body'>{sections}</div></main></body></html>"
    )
    text = extract(page.encode(), "https://devdocs.example/guide/functions").text
    assert "fundamental building blocks of the language" in text
    assert "Part 3 of the guide" in text
    assert "Playground" not in text
