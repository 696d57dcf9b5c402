"""Hybrid search over real embeddings (the real model) and PostgreSQL full text."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest
from sqlalchemy import text

from app.db import bind_user
from tests.conftest import analyze

DOCS = {
    "postgres": (
        "Tuning PostgreSQL indexes",
        "B-tree and GIN indexes, connection pooling with PgBouncer, and reading EXPLAIN plans "
        "to make slow PostgreSQL queries fast.",
        ["databases"],
    ),
    "kubernetes": (
        "Kubernetes deployments explained",
        "Pods, ReplicaSets and rolling updates: how a Kubernetes Deployment keeps containers "
        "running across a cluster.",
        ["ops"],
    ),
    "cats": (
        "Living with cats",
        "Cats are independent pets. Kittens need play, scratching posts and regular visits "
        "to the veterinarian to stay healthy.",
        ["pets"],
    ),
    "bread": (
        "Sourdough bread at home",
        "A starter of flour and water, a long fermentation, and a hot oven give sourdough "
        "its open crumb and crisp crust.",
        ["cooking"],
    ),
    "xss": (
        "Escaping <script> tags safely",
        "Never insert <script>alert(1)</script> into a page without escaping; if a < b & c, "
        "cross-site scripting starts with unescaped user input.",
        ["security"],
    ),
}


async def _add(
    db, app, user_id: str, key: str, title: str, body: str, tags: list[str], status="ready"
) -> str:  # type: ignore[no-untyped-def]
    from app.embeddings.service import bookmark_text

    bid = uuid.uuid4()
    vector = await app.state.embedder.embed(bookmark_text(title, None, body))
    await db.execute(
        text(
            "INSERT INTO bookmarks (id, user_id, url, normalized_url, page_title, text, status,"
            " saved_at, updated_at, status_changed_at)"
            " VALUES (:id, :u, :url, :url, :t, :b, :s, now(), now(), now())"
        ),
        {
            "id": bid, "u": user_id, "url": f"https://example.com/{key}/{bid}", "t": title,
            "b": body, "s": status,
        },
    )  # fmt: skip
    await db.execute(
        text("INSERT INTO bookmark_vectors (bookmark_id, user_id, embedding) VALUES (:id, :u, :e)"),
        {"id": bid, "u": user_id, "e": str(vector.tolist())},
    )
    for tag in tags:
        tid = uuid.uuid4()
        await db.execute(
            text("INSERT INTO tags (id, user_id, name, created_at) VALUES (:id, :u, :n, now())"
                 " ON CONFLICT DO NOTHING"),
            {"id": tid, "u": user_id, "n": tag},
        )  # fmt: skip
        await db.execute(
            text(
                "INSERT INTO bookmark_tags SELECT :b, id FROM tags WHERE user_id = :u AND name = :n"
            ),
            {"b": bid, "u": user_id, "n": tag},
        )
    return str(bid)


@pytest.fixture
async def library(client, db, app, alice, bob):  # type: ignore[no-untyped-def]
    if not app.state.embedder.loaded:
        await app.state.embedder.load_async()
    alice_id = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    bob_id = (await client.get("/api/users/me", headers=bob.headers)).json()["id"]
    ids = {key: await _add(db, app, alice_id, key, *doc) for key, doc in DOCS.items()}
    ids["pending"] = await _add(
        db,
        app,
        alice_id,
        "pending",
        "Kubernetes networking notes",
        "Services and ingress.",
        [],
        "pending",
    )
    ids["bob"] = await _add(
        db, app, bob_id, "bob", "Bob's PostgreSQL secrets", "PostgreSQL indexes and pooling.", []
    )
    return ids


async def _search(client, account, **params):  # type: ignore[no-untyped-def]
    r = await client.get("/api/search", headers=account.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(results) -> list[str]:  # type: ignore[no-untyped-def]
    return [h["bookmark"]["id"] for h in results["items"]]


async def test_keyword_search_ranks_and_highlights(client, alice, library):
    res = await _search(client, alice, q="postgresql indexes", mode="keyword")
    assert _ids(res)[0] == library["postgres"]
    hit = res["items"][0]
    assert hit["keyword_rank"] == 1 and hit["semantic_rank"] is None
    assert any("<mark>" in h for h in hit["highlights"])
    assert 0 < hit["score"] <= 1


async def test_prefix_and_phrase_queries(client, alice, library):
    # Typing the beginning of a word finds both Kubernetes pages, and nothing else.
    found = _ids(await _search(client, alice, q="kuber", mode="keyword"))
    assert sorted(found) == sorted([library["kubernetes"], library["pending"]])
    phrase = await _search(client, alice, q='"connection pooling"', mode="keyword")
    assert _ids(phrase) == [library["postgres"]]
    none = await _search(client, alice, q='"pooling connection"', mode="keyword")
    assert _ids(none) == []


async def test_a_completion_reads_its_best_pages_a_typed_word_all(
    client, alice, library, monkeypatch
):  # type: ignore[no-untyped-def]
    # What a prefix may complete to is read to its best PREFIX_POSTINGS pages only (here
    # one): the start of a word shows the best Kubernetes page, the whole word shows both.
    from app.search import service

    monkeypatch.setattr(service, "PREFIX_POSTINGS", 1)
    typing = _ids(await _search(client, alice, q="kuber", mode="keyword"))
    assert len(typing) == 1 and typing[0] in (library["kubernetes"], library["pending"])
    typed = _ids(await _search(client, alice, q="kubernetes", mode="keyword"))
    assert sorted(typed) == sorted([library["kubernetes"], library["pending"]])


async def test_meaning_finds_what_words_miss(client, alice, library):
    q = "feline companions"
    assert library["cats"] not in _ids(await _search(client, alice, q=q, mode="keyword"))
    semantic = await _search(client, alice, q=q, mode="semantic")
    assert _ids(semantic)[0] == library["cats"]
    hybrid = await _search(client, alice, q=q)
    assert hybrid["mode"] == "hybrid" and _ids(hybrid)[0] == library["cats"]


async def test_typos_still_find_the_page(client, alice, library):
    res = await _search(client, alice, q="kubernets deploymnt")
    assert _ids(res)[0] in (library["kubernetes"], library["pending"])


async def test_hybrid_puts_matches_of_both_first(client, alice, library):
    res = await _search(client, alice, q="sourdough fermentation")
    top = res["items"][0]
    assert top["bookmark"]["id"] == library["bread"]
    assert top["keyword_rank"] == 1 and top["semantic_rank"] == 1
    # 0.7 x its similarity + 0.3 x its BM25 against the best (its own): above any page that
    # only one of the two searches found.
    assert 0.3 < top["score"] <= 1.0
    assert all(h["score"] < top["score"] for h in res["items"][1:])


async def test_never_another_users_bookmarks(client, alice, bob, library):
    for mode in ("hybrid", "semantic", "keyword"):
        assert library["bob"] not in _ids(
            await _search(client, alice, q="postgresql pooling", mode=mode)
        )
        assert set(_ids(await _search(client, bob, q="postgresql", mode=mode))) <= {library["bob"]}


async def test_filters(client, alice, library):
    assert _ids(await _search(client, alice, q="kubernetes", tag="OPS")) == [library["kubernetes"]]
    pending = await _search(client, alice, q="kubernetes", status="pending", mode="keyword")
    assert _ids(pending) == [library["pending"]]


async def test_content_type_filter(client, db, alice, library):
    uid = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    await db.execute(
        text(
            "INSERT INTO content_analysis (bookmark_id, user_id, status, content_type,"
            " created_at, updated_at) VALUES (:b, :u, 'ready', 'tutorial', now(), now())"
        ),
        {"b": library["kubernetes"], "u": uid},
    )
    for mode in ("hybrid", "keyword", "semantic"):
        res = await _search(client, alice, q="kubernetes", content_type="tutorial", mode=mode)
        assert _ids(res) == [library["kubernetes"]]
        assert res["items"][0]["bookmark"]["analysis_status"] == "ready"
    assert _ids(await _search(client, alice, q="kubernetes", content_type="paper")) == []
    r = await client.get(
        "/api/search", headers=alice.headers, params={"q": "x", "content_type": "poem"}
    )
    assert r.status_code == 422


async def test_highlights_are_escaped(client, alice, library):
    res = await _search(client, alice, q="script escaping", mode="keyword")
    snippet = " ".join(res["items"][0]["highlights"])
    # Only our own <mark> tags are markup; everything from the page is text.
    assert "<mark>" in snippet
    assert {m.group(1) for m in re.finditer(r"</?(\w+)", snippet)} == {"mark"}


async def test_empty_and_huge_queries(client, alice, library):
    assert (await _search(client, alice, q="   "))["items"] == []
    # Only punctuation: no keywords, but meaning search still answers (never a 500).
    assert (await _search(client, alice, q="!!! ???"))["mode"] == "hybrid"
    r = await client.get("/api/search", headers=alice.headers, params={"q": "x" * 10_000})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.get("/api/search", headers=alice.headers, params={"q": "a", "mode": "magic"})
    assert r.status_code == 422


async def test_pagination_with_a_cursor(client, alice, library):
    first = await _search(client, alice, q="the", limit=2)
    seen = _ids(first)
    cursor = first["next_cursor"]
    while cursor:
        page = await _search(client, alice, q="the", limit=2, cursor=cursor)
        seen += _ids(page)
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) and len(seen) >= 4


async def test_similar_items(client, alice, bob, library):
    r = await client.get(f"/api/bookmarks/{library['kubernetes']}/similar", headers=alice.headers)
    assert r.status_code == 200
    items = r.json()["items"]
    ids = [i["bookmark"]["id"] for i in items]
    assert library["kubernetes"] not in ids and library["bob"] not in ids
    assert ids[0] == library["pending"]  # the other Kubernetes page
    assert items[0]["score"] > items[-1]["score"]
    r = await client.get(f"/api/bookmarks/{library['kubernetes']}/similar", headers=bob.headers)
    assert r.status_code == 404


async def test_search_degrades_to_keywords_without_a_model(client, alice, library, app):
    # Not monkeypatch: its undo deletes attributes of Starlette's State instead of restoring.
    embedder = app.state.embedder
    app.state.embedder = None
    try:
        res = await _search(client, alice, q="sourdough")
    finally:
        app.state.embedder = embedder
    assert res["mode"] == "keyword" and _ids(res) == [library["bread"]]


async def test_rare_words_weigh_more_than_common_ones(client, db, app, alice):
    """BM25 over this user's pages: when no page has every word, the one with the rare word
    wins over pages that only share a word every page has."""
    uid = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    for i in range(6):
        await _add(
            db,
            app,
            uid,
            f"py{i}",
            f"Python notes {i}",
            f"Python tips and python tricks, part {i}.",
            [],
        )
    rare = await _add(
        db, app, uid, "zebra", "Field trip", "We watched a zebra herd cross the river.", []
    )
    res = await _search(client, alice, q="python zebra migration", mode="keyword")
    assert _ids(res)[0] == rare


async def test_term_statistics_follow_every_change(client, db, app, alice):
    uid = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]

    async def ndoc(lexeme: str) -> int:
        value = await db.scalar(
            text("SELECT ndoc FROM search_terms WHERE user_id = :u AND lexeme = :l"),
            {"u": uid, "l": lexeme},
        )
        return int(value or 0)

    a = await _add(db, app, uid, "a", "Quokka facts", "The quokka is a small marsupial.", [])
    await _add(db, app, uid, "b", "More quokka", "Quokkas live on Rottnest Island.", [])
    assert await ndoc("quokka") == 2
    await db.execute(
        text(
            "UPDATE bookmarks SET page_title = 'Wombat facts', text = 'Wombats dig.' WHERE id = :id"
        ),
        {"id": a},
    )
    assert await ndoc("quokka") == 1 and await ndoc("wombat") == 1
    r = await client.delete(f"/api/bookmarks/{a}", headers=alice.headers)
    assert r.status_code == 204
    assert await ndoc("wombat") == 0
    stats = (
        await db.execute(text("SELECT ndocs FROM search_stats WHERE user_id = :u"), {"u": uid})
    ).scalar()
    assert stats == 1


async def test_postings_follow_edits_and_deletes(client, db, app, alice):
    """What keyword search finds follows every edit: new words found, old ones gone, and a
    deleted page leaves nothing behind in the postings."""
    uid = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    bid = await _add(db, app, uid, "z", "Airship history", "Zeppelins crossed the Atlantic.", [])

    async def keyword(q: str) -> list[str]:
        return _ids(await _search(client, alice, q=q, mode="keyword"))

    assert await keyword("zeppelins atlantic") == [bid]
    r = await client.patch(
        f"/api/bookmarks/{bid}", headers=alice.headers, json={"notes": "Ask grandpa about blimps"}
    )
    assert r.status_code == 200
    assert await keyword("grandpa blimps") == [bid]
    r = await client.patch(f"/api/bookmarks/{bid}", headers=alice.headers, json={"notes": None})
    assert await keyword("grandpa") == []
    assert (await client.delete(f"/api/bookmarks/{bid}", headers=alice.headers)).status_code == 204
    left = await db.scalar(
        text("SELECT count(*) FROM search_postings WHERE bookmark_id = :b"), {"b": bid}
    )
    assert left == 0 and await keyword("zeppelins") == []


async def test_tags_are_searched_as_words(client, alice, library):
    # "ops" is only a tag of the Kubernetes page, never in its text.
    assert _ids(await _search(client, alice, q="ops", mode="keyword")) == [library["kubernetes"]]
    r = await client.patch(
        f"/api/bookmarks/{library['kubernetes']}",
        headers=alice.headers,
        json={"tags": ["infrastructure"]},
    )
    assert r.status_code == 200
    assert _ids(await _search(client, alice, q="ops", mode="keyword")) == []
    found = await _search(client, alice, q="infrastructure", mode="keyword")
    assert _ids(found) == [library["kubernetes"]]


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
async def test_the_fast_path_ranks_as_the_general_one(client, db, app, alice, library, mode):
    """Plain queries without filters go through the read pool, several statements at once,
    the fusion in SQL; filtered ones through the ORM session, the fusion in Python. Both must
    rank every page alike, and a page of results must show the same."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.bookmarks import service as bookmarks_service
    from app.search import service

    uid = uuid.UUID((await client.get("/api/users/me", headers=alice.headers)).json()["id"])
    # Statistics as on a running server: alice's pages are a small share of the table, so
    # the fast path reads them exactly rather than through the HNSW index.
    await analyze(db, "bookmarks")
    async with AsyncSession(bind=db) as session:
        await bind_user(session, uid)
        for q in ["postgres indexes", "pets", "kubernetes dep", "how to bake", "zzqx"]:
            common = {"embedder": app.state.embedder, "redis": app.state.redis}
            fast, fast_mode = await service.hybrid(
                session, uid, q, service.Filters(), mode, reads=app.state.reads, **common
            )
            slow, slow_mode = await service.hybrid(
                session, uid, q, service.Filters(), mode, **common
            )
            assert fast_mode == slow_mode == mode
            assert [(h.bookmark_id, h.semantic_rank, h.keyword_rank) for h in fast] == [
                (h.bookmark_id, h.semantic_rank, h.keyword_rank) for h in slow
            ], q
            assert [h.score for h in fast] == pytest.approx([h.score for h in slow], abs=1e-6)
            if q != "zzqx" and mode != "keyword":
                assert fast, q
            # A page of results, as the API reads it (in one statement after the inputs):
            # the same slice of the same ranking, with what each result shows.
            for offset in (0, 2):
                page = await service.search_page(
                    session, uid, q, service.Filters(), mode,
                    reads=app.state.reads, offset=offset, limit=2, **common,
                )  # fmt: skip
                want = slow[offset : offset + 2]
                assert page.mode == mode
                assert [(h.bookmark_id, h.semantic_rank, h.keyword_rank) for h in page.hits] == [
                    (h.bookmark_id, h.semantic_rank, h.keyword_rank) for h in want
                ], (q, offset)
                assert page.more == (offset + 2 < len(slow)), (q, offset)
                assert page.outs == await bookmarks_service.outs_of(
                    app.state.reads, uid, [h.bookmark_id for h in want], service.highlight(q)
                )


async def test_a_user_with_a_small_share_of_the_pages_is_searched_exactly(client, db, app, alice):
    """A partition's HNSW index holds the pages of every user hashed to it; for a user who owns
    few of them an exact scan of their own is quicker than walking past everyone else's
    (app.search.service._NEAREST)."""
    from app.search import service

    uid = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    # The crowd's pages share alice's partition of the vectors, and so its HNSW graph.
    other = (
        await db.execute(
            text(
                "SELECT u FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 2000)) x"
                " WHERE satisfies_hash_partition('bookmark_vectors'::regclass, 16,"
                "  (SELECT r FROM generate_series(0, 15) r WHERE satisfies_hash_partition("
                "   'bookmark_vectors'::regclass, 16, r, CAST(:me AS uuid))), u)"
                " LIMIT 1"
            ),
            {"me": uid},
        )
    ).scalar_one()
    await db.execute(
        text(
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
            " VALUES (:id, 'crowd', 'crowd@example.com', '-', now(), now())"
        ),
        {"id": other},
    )
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((400, 384)).astype(np.float32)
    await db.execute(
        text(
            "INSERT INTO bookmarks (id, user_id, url, normalized_url, status, saved_at,"
            " updated_at, status_changed_at)"
            " SELECT gen_random_uuid(), :u, 'https://c.example/' || i, 'https://c.example/' || i,"
            " 'ready', now(), now(), now() FROM generate_series(1, 400) i"
        ),
        {"u": other},
    )
    await db.execute(
        text(
            "INSERT INTO bookmark_vectors (bookmark_id, user_id, embedding)"
            " SELECT id, user_id, CAST(:v AS vector) FROM bookmarks WHERE user_id = :u"
        ),
        {"u": other, "v": service.vector_text(vectors[0])},
    )
    mine = [await _add(db, app, uid, f"k{i}", f"Page {i}", f"Body {i}", []) for i in range(3)]
    await analyze(db, "bookmark_vectors")

    async def exact(user_id):  # type: ignore[no-untyped-def]
        sql = "SELECT " + service.EXACT_SCAN.replace("$1", ":u")
        return (await db.execute(text(sql), {"u": user_id})).scalar_one()

    assert await exact(uid) is True
    found = await service.nearest(app.state.reads, uuid.UUID(uid), vectors[1], 10)
    assert sorted(str(bid) for bid, _ in found) == sorted(mine)
    # A user with a large share of a large table goes through the index (statistics as if
    # the crowd had 100,000 pages).
    await db.execute(
        text(
            "INSERT INTO search_stats (user_id, ndocs, total_length) VALUES (:u, 100000, 0)"
            " ON CONFLICT (user_id) DO UPDATE SET ndocs = 100000"
        ),
        {"u": other},
    )
    assert await exact(other) is False
    crowds = await service.nearest(app.state.reads, other, vectors[1], 10)
    assert len(crowds) == 10
    assert not {str(bid) for bid, _ in crowds} & set(mine)  # the same graph, not alice's pages


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
async def test_a_nonsense_query_shows_nothing_confident(client, alice, library, mode):
    """Meaning search finds a nearest page for anything: without the relevance floor a
    nonsense query listed the whole library as its results."""
    found = await _search(client, alice, q="zzqx blorf", mode=mode)
    assert all(hit["weak"] for hit in found["items"]), found


async def test_an_off_topic_query_shows_nothing_confident(client, alice, library):
    found = await _search(client, alice, q="the crew of the Apollo lunar landing missions")
    assert found["items"], "the weaker matches are still listed, apart"
    assert all(hit["weak"] for hit in found["items"]), found


async def test_a_relevant_page_is_found_above_the_floor_and_weak_ones_follow(
    client, alice, library
):
    found = await _search(client, alice, q="make slow PostgreSQL queries fast with indexes")
    first = found["items"][0]
    assert first["bookmark"]["id"] == library["postgres"] and not first["weak"]
    weak = [hit["weak"] for hit in found["items"]]
    assert any(weak) and weak == sorted(weak), "every confident hit before the weaker ones"
    # A page with the words of the query is confident by its words, whatever its meaning.
    found = await _search(client, alice, q="PgBouncer", mode="keyword")
    assert [(h["bookmark"]["id"], h["weak"]) for h in found["items"]] == [
        (library["postgres"], False)
    ]


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
@pytest.mark.parametrize(
    ("q", "key"),
    [("long fermentation in a hot oven", "bread"), ("regular visits to the veterinarian", "cats")],
)
async def test_a_page_with_the_words_is_confident_in_every_mode(
    client, alice, library, mode, q, key
):
    """These pages have every word of the query but are less similar to it than the floor:
    their words make them confident, and switching to "Meaning" must not fold them away as
    weaker matches (the library would say it has nothing on the subject)."""
    found = await _search(client, alice, q=q, mode=mode)
    assert found["mode"] == mode
    assert [h["bookmark"]["id"] for h in found["items"] if not h["weak"]] == [library[key]], found
    if mode == "semantic":  # meaning alone ranks: the words only decided the floor
        assert all(h["keyword_rank"] is None for h in found["items"]), found
        assert all(h["semantic_rank"] for h in found["items"]), "found by meaning alone"
    # The same under a filter (another path through the database).
    found = await _search(client, alice, q=q, mode=mode, tag=DOCS[key][2][0])
    assert [(h["bookmark"]["id"], h["weak"]) for h in found["items"]] == [(library[key], False)]


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("how to bake bread with wild yeast", "bread"),
        ("speed up a slow database", "postgres"),
        ("keeping a kitten healthy", "cats"),
    ],
)
async def test_a_short_everyday_query_finds_its_page_above_the_floor(
    client, alice, library, q, key
):
    """People type short queries, and a short query is less similar to the page it wants
    than a whole sentence (a floor chosen on long claims alone folded these pages away as
    'weaker matches'): the page a person would call the answer is confident."""
    found = await _search(client, alice, q=q)
    first = found["items"][0]
    assert first["bookmark"]["id"] == library[key] and not first["weak"], found
    assert all(hit["weak"] for hit in found["items"][1:]), "nothing else in this library fits"
