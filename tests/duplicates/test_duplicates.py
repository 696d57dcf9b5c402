"""Duplicates by meaning, end to end: pages saved through the real API process, processed by
the real worker (extractor, model, pgvector); the pair is found on save and by a scan;
merge moves the user's tags, notes, highlights, feedback and reading state to the page kept;
keep both; never another user's pairs."""

from __future__ import annotations

import html as htmlmod
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import owner_engine, wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")

DOCKING = [
    "Docking two spacecraft in orbit is a slow dance that takes hours of planning and minutes "
    "of nerve. The visiting vehicle closes in along a corridor measured in metres, braking "
    "with short pulses of its thrusters while the station holds perfectly still.",
    "Engineers on the ground watch the range and the range rate on their screens. If the "
    "approach drifts outside the corridor, the computer aborts on its own and backs away to a "
    "safe hold point, where the crew can talk it through before trying again.",
    "The last thirty metres are the hardest. Lasers and cameras replace radar, and the docking "
    "ring is lined up with a target mounted beside the hatch, a cross that must stay centred "
    "as the gap closes at a few centimetres per second.",
    "Soft capture comes first: spring loaded latches catch the ring and damp the motion. Only "
    "when everything is still do twelve hooks pull the two vehicles together into a hard, "
    "airtight seal, and the crew can check for leaks before opening the hatch.",
]
# Another article of the same blog on the same subject, in other words: close by meaning
# (cosine 0.83 with the model, so a candidate), not the same text.
NEWS = [
    "Docking a spacecraft at the station took two attempts this week. The visiting capsule "
    "approached along its corridor, braked with thruster pulses, and stopped at the hold point "
    "twenty metres out when a sensor reading looked wrong to the crew.",
    "Controllers on the ground checked the range and range rate data, found a misaligned laser "
    "reflector, and told the capsule's computer to back away while the crew on the station "
    "watched the docking target through the window beside the hatch.",
    "On the second approach the capsule closed the last metres at a few centimetres per second. "
    "Soft capture latched on the docking ring, the hooks drew the vehicles into a hard seal, "
    "and after leak checks the crew opened the hatch to greet the new arrivals.",
    "Docking is routine now, but every approach is flown with the same care: a slow corridor, "
    "a hold point, a go from the ground, and a computer that aborts at the first sign that "
    "something is not right.",
]


def _paragraphs(paragraphs: list[str]) -> str:
    return "".join(f"<p>{htmlmod.escape(p)}</p>" for p in paragraphs)


def site_page(title: str, paragraphs: list[str]) -> str:
    """A page of the orbit blog: its own header, navigation, sidebar and footer."""
    return f"""<!DOCTYPE html><html><head><title>{title} - Orbit Notes</title></head><body>
<header><a href="/">Orbit Notes</a><nav><a href="/news">News</a> <a href="/guides">Guides</a>
<a href="/about">About</a></nav></header><main><article><h1>{title}</h1>
{_paragraphs(paragraphs)}</article><aside><h3>Popular</h3><ul><li><a href="/a">Why orbits
decay</a></li><li><a href="/b">The quiet life of a station</a></li></ul></aside></main>
<footer>Orbit Notes, written by people who love space.</footer></body></html>"""


def mirror_page(title: str, paragraphs: list[str]) -> str:
    """The same article on a mirror: another template, and a syndication line on top."""
    return f"""<!DOCTYPE html><html><head><title>{title} | Space Daily Mirror</title></head>
<body><div class="top"><b>Space Daily Mirror</b> <a href="/latest">Latest</a>
<a href="/launches">Launches</a></div><div class="story"><h1>{title}</h1>
<p><em>This story was originally published on Orbit Notes.</em></p>
{_paragraphs(paragraphs)}</div><div class="more"><h3>More stories</h3><ul>
<li><a href="/x">Rocket engines explained</a></li><li><a href="/y">Life in a spacesuit</a></li>
</ul></div><div class="foot">Mirrored with permission.</div></body></html>"""


async def _save(api: httpx.AsyncClient, user, url: str, **body) -> dict:  # type: ignore[no-untyped-def]
    r = await api.post("/api/bookmarks", headers=user.headers, json={"url": url, **body})
    assert r.status_code == 201, r.text
    bookmark_id = r.json()["id"]

    async def ready():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)).json()
        return b if b["status"] in ("ready", "failed") else None

    # The first page of a run also waits for the worker to start and load the model.
    saved = await wait_for(ready, within=180, interval=0.2)
    assert saved["status"] == "ready", saved
    return saved


async def _pairs(api: httpx.AsyncClient, user, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    r = await api.get("/api/duplicates", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _pair_appears(api: httpx.AsyncClient, user, bookmark_id: str) -> dict:  # type: ignore[no-untyped-def]
    async def found():  # type: ignore[no-untyped-def]
        items = await _pairs(api, user, bookmark_id=bookmark_id)
        return items[0] if items else None

    return await wait_for(found, within=60, interval=0.2)


async def _save_pair(api, user, web, *, tags=(), copy_tags=(), notes=None, copy_notes=None):  # type: ignore[no-untyped-def]
    """The docking article on the blog, then its mirror copy; the pair the worker finds."""
    slug = uuid.uuid4().hex[:8]
    web.route(f"/blog/docking-{slug}", site_page("Docking, step by step", DOCKING))
    web.route(f"/mirror/{slug}/docking", mirror_page("Docking, step by step", DOCKING))
    original = await _save(
        api, user, web.url(f"/blog/docking-{slug}"), tags=list(tags), notes=notes
    )
    copy = await _save(
        api, user, web.url(f"/mirror/{slug}/docking"), tags=list(copy_tags), notes=copy_notes
    )
    return original, copy, await _pair_appears(api, user, copy["id"])


async def test_a_mirrored_copy_is_flagged_and_another_article_of_the_site_is_not(
    api, api_user, web
) -> None:
    original, copy, pair = await _save_pair(api, api_user, web)
    assert pair["bookmark"]["id"] == copy["id"], "the page saved later repeats the first"
    assert pair["original"]["id"] == original["id"]
    assert pair["bookmark"]["url"].endswith("/docking") and pair["original"]["title"]
    assert pair["score"] >= 0.9 and pair["reason"].startswith("same text ")
    assert pair["status"] == "open"

    # Same site, same template, same topic, different words: not a duplicate. It is saved
    # last, so its check runs after the pair's; once it is ready and checked, there is
    # still one pair.
    web.route("/blog/second-try", site_page("A second try at docking", NEWS))
    other = await _save(api, api_user, web.url("/blog/second-try"))
    r = await api.post("/api/duplicates/scan", headers=api_user.headers)
    assert r.status_code == 202, r.text

    async def scanned():  # type: ignore[no-untyped-def]
        s = (await api.get("/api/duplicates/scan", headers=api_user.headers)).json()
        return s if s["state"] == "done" else None

    done = await wait_for(scanned, within=60, interval=0.2)
    assert done["checked"] == done["total"] == 3 and done["found"] == 0
    assert await _pairs(api, api_user, bookmark_id=other["id"]) == []
    assert [p["id"] for p in await _pairs(api, api_user)] == [pair["id"]]


async def test_merge_moves_everything_the_user_gave_to_the_page_kept(api, api_user, web) -> None:
    original, copy, pair = await _save_pair(
        api, api_user, web, tags=["space", "Guides"], copy_tags=["guides", "docking"],
        notes="Read for the talk.", copy_notes="The mirror has better pictures.",
    )  # fmt: skip
    h = api_user.headers
    r = await api.post(
        f"/api/bookmarks/{copy['id']}/highlights",
        headers=h,
        json={"quote": "The last thirty metres are the hardest.", "note": "key point"},
    )
    assert r.status_code == 201, r.text
    highlight = r.json()
    r = await api.post(
        "/api/feedback", headers=h, json={"bookmark_id": copy["id"], "signal": "relevant"}
    )
    assert r.status_code == 201, r.text
    r = await api.patch(f"/api/bookmarks/{copy['id']}", headers=h, json={"favorite": True})
    assert r.status_code == 200, r.text
    r = await api.post("/api/lists", headers=h, json={"name": "Talk prep"})
    assert r.status_code == 201, r.text
    talk = r.json()["id"]
    r = await api.post(
        f"/api/lists/{talk}/bookmarks", headers=h, json={"bookmark_ids": [copy["id"]]}
    )
    assert r.status_code in (200, 204), r.text

    r = await api.post(
        f"/api/duplicates/{pair['id']}/merge", headers=h, json={"keep": original["id"]}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"kept": original["id"], "removed": copy["id"]}

    assert (await api.get(f"/api/bookmarks/{copy['id']}", headers=h)).status_code == 404
    kept = (await api.get(f"/api/bookmarks/{original['id']}", headers=h)).json()
    assert sorted(t.lower() for t in kept["tags"]) == ["docking", "guides", "space"]
    assert kept["notes"] == "Read for the talk.\n\nThe mirror has better pictures."
    assert kept["favorite"] is True, "the stronger reading state is kept"
    assert kept["list_ids"] == [talk], "the kept page joins the other's lists"
    moved = (await api.get(f"/api/bookmarks/{original['id']}/highlights", headers=h)).json()
    assert [(x["id"], x["note"]) for x in moved["items"]] == [(highlight["id"], "key point")]
    feedback = (
        await api.get("/api/feedback", headers=h, params={"bookmark_id": original["id"]})
    ).json()["items"]
    assert [f["signal"] for f in feedback] == ["relevant"]
    assert await _pairs(api, api_user) == []
    # The pair is gone with the page: merging it again is 404.
    r = await api.post(
        f"/api/duplicates/{pair['id']}/merge", headers=h, json={"keep": original["id"]}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "duplicate_not_found"


async def test_keep_both_is_remembered_and_a_scan_finds_pairs_it_missed(
    api, api_user, web, stack
) -> None:
    original, copy, pair = await _save_pair(api, api_user, web)
    h = api_user.headers
    r = await api.post(
        f"/api/duplicates/{pair['id']}/merge", headers=h, json={"keep": str(uuid.uuid4())}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_in_pair"

    r = await api.post(f"/api/duplicates/{pair['id']}/dismiss", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert await _pairs(api, api_user) == []
    assert [p["id"] for p in await _pairs(api, api_user, status="dismissed")] == [pair["id"]]

    async def scan() -> dict:
        assert (await api.post("/api/duplicates/scan", headers=h)).status_code == 202

        async def scanned():  # type: ignore[no-untyped-def]
            s = (await api.get("/api/duplicates/scan", headers=h)).json()
            return s if s["state"] == "done" else None

        return await wait_for(scanned, within=60, interval=0.2)

    assert (await scan())["found"] == 0, "kept both: not suggested again"
    assert await _pairs(api, api_user) == []

    # A pair the check on save did not record (saved before this existed, Redis down...).
    engine = owner_engine(stack)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM duplicate_pairs WHERE id = :id"), {"id": pair["id"]}
            )
    finally:
        await engine.dispose()
    done = await scan()
    assert done["found"] == 1 and done["checked"] == 2
    found = await _pairs(api, api_user)
    assert [(p["bookmark"]["id"], p["original"]["id"]) for p in found] == [
        (copy["id"], original["id"])
    ]


async def test_another_users_pair_is_not_found(api, api_user, api_user2, web) -> None:
    _, _, pair = await _save_pair(api, api_user, web)
    other = api_user2.headers
    assert await _pairs(api, api_user2) == []
    for path, body in (
        (f"/api/duplicates/{pair['id']}/merge", {"keep": pair["original"]["id"]}),
        (f"/api/duplicates/{pair['id']}/dismiss", None),
    ):
        r = await api.post(path, headers=other, json=body)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "duplicate_not_found"
    # Still there, untouched, for its owner.
    assert [p["status"] for p in await _pairs(api, api_user)] == ["open"]
