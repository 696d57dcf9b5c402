"""The exact bytes of the bookmark list, one bookmark and a keyword search on a fixed library:
a change to how answers are built (the ORM, the serialisation) must not drop, rename,
reorder or reformat a field."""

from __future__ import annotations

import json

from sqlalchemy import text

from app.thumbnails import service as thumbnails_service
from tests.bookmarks.test_api import _save

FIXED = """
UPDATE bookmarks SET
  title = NULL, page_title = 'Zürich "quoted" title', description = 'A line\nand a tab\t.',
  site_name = 'Example', author = 'Ann Author', published_at = '2024-02-29 23:59:58.5+01',
  language = 'de', canonical_url = 'https://example.com/canonical',
  image_url = 'https://example.com/i.png', favicon_url = NULL, word_count = 1234,
  reading_time_minutes = 6, quality = 87, status = 'ready', processed_at = '2026-01-02 03:04:05+00',
  saved_at = '2026-01-01 00:00:00.000001+00', updated_at = '2026-01-02 03:04:05.25+00',
  read_at = NULL, favorite = true, progress = 0.375, version = 3, content_hash = 'abc',
  text = 'Grüße aus Zürich — emoji 😀 and <tags>', content_html = '<p>Grüße</p>',
  metadata = '{"og": {"type": "article"}, "n": 1.5}'
WHERE id = :id
"""


async def _library(client, db, alice):  # type: ignore[no-untyped-def]
    ready = (
        await _save(client, alice, "https://example.com/post?b=2&a=1", tags=["Zeta", "alpha"])
    ).json()["id"]
    pending = (
        await _save(client, alice, "https://example.org/other", notes="Notes ✓", title="Mine")
    ).json()["id"]
    await db.execute(text(FIXED), {"id": ready})
    # Its card picture (search results do not carry one).
    await db.execute(
        text(
            "INSERT INTO thumbnails (bookmark_id, user_id, status, run, source_url, data, etag,"
            " width, height, attempts, made_at) SELECT id, user_id, 'ready', run,"
            " image_url, 'RIFF', '0123456789abcdef', 480, 270, 0, now()"
            " FROM bookmarks WHERE id = :id"
        ),
        {"id": ready},
    )
    await db.execute(
        text(
            "UPDATE bookmarks SET saved_at = '2026-01-03 00:00:00+00',"
            " updated_at = '2026-01-03 00:00:00+00' WHERE id = :id"
        ),
        {"id": pending},
    )
    return ready, pending


async def test_list_get_and_search_answer_these_exact_bytes(client, db, alice, settings):
    ready, pending = await _library(client, db, alice)
    listed = await client.get("/api/bookmarks", headers=alice.headers)
    got = await client.get(f"/api/bookmarks/{ready}", headers=alice.headers)
    found = await client.get(
        "/api/search", params={"q": "Zürich", "mode": "keyword"}, headers=alice.headers
    )
    assert listed.headers["content-type"] == "application/json"
    assert got.headers["content-type"] == "application/json"
    owner = await db.scalar(text("SELECT user_id FROM bookmarks WHERE id = :id"), {"id": ready})
    signed = thumbnails_service.token(settings, owner)
    expected_list = EXPECTED_LIST.replace("READY", ready).replace("PENDING", pending)
    assert listed.text == expected_list.replace("TOKEN", signed)
    assert got.text == EXPECTED_GET.replace("READY", ready).replace("TOKEN", signed)
    assert found.text == EXPECTED_SEARCH.replace("READY", ready)
    json.loads(listed.text)


EXPECTED_LIST = (
    '{"items":[{"id":"PENDING","url":"https://example.org/other","normalized_url":"ht'
    'tps://example.org/other","title":"Mine","description":null,"notes":"Notes ✓","ta'
    'gs":[],"site_name":null,"author":null,"published_at":null,"language":null,"canon'
    'ical_url":null,"image_url":null,"favicon_url":null,"word_count":null,"reading_ti'
    'me_minutes":null,"quality":null,"status":"pending","error_code":null,"error_mess'
    'age":null,"source":"web","version":1,"saved_at":"2026-01-03T00:00:00Z","updated_'
    'at":"2026-01-03T00:00:00Z","processed_at":null,"read_at":null,"favorite":false,"'
    'archived_at":null,"progress":0.0,"analysis_status":"pending","analysis_error":nu'
    'll,"archive_status":null,"thumbnail_status":null,"thumbnail_url":null},{"id":"RE'
    'ADY","url":"https://example.com/post?b=2&a=1"'
    ',"normalized_url":"https://example.com/post?a=1&b=2","title":"Zürich \\"quoted\\" '
    'title","description":"A line\\nand a tab\\t.","notes":null,"tags":["alpha","Zeta"]'
    ',"site_name":"Example","author":"Ann Author","published_at":"2024-02-29T22:59:58'
    '.500000Z","language":"de","canonical_url":"https://example.com/canonical","image'
    '_url":"https://example.com/i.png","favicon_url":null,"word_count":1234,"reading_'
    'time_minutes":6,"quality":87,"status":"ready","error_code":null,"error_message":'
    'null,"source":"web","version":3,"saved_at":"2026-01-01T00:00:00.000001Z","update'
    'd_at":"2026-01-02T03:04:05.250000Z","processed_at":"2026-01-02T03:04:05Z","read_'
    'at":null,"favorite":true,"archived_at":null,"progress":0.375,"analysis_status":"'
    'pending","analysis_error":null,"archive_status":null,"thumbnail_status":"ready",'
    '"thumbnail_url":"/api/bookmarks/READY/thumbnail?v=0123456789abcdef&token=TOKEN"}'
    '],"next_cursor":null}'
)
EXPECTED_GET = (
    '{"id":"READY","url":"https://example.com/post?b=2&a=1","normalized_url":"https:/'
    '/example.com/post?a=1&b=2","title":"Zürich \\"quoted\\" title","description":"A li'
    'ne\\nand a tab\\t.","notes":null,"tags":["alpha","Zeta"],"site_name":"Example","au'
    'thor":"Ann Author","published_at":"2024-02-29T22:59:58.500000Z","language":"de",'
    '"canonical_url":"https://example.com/canonical","image_url":"https://example.com'
    '/i.png","favicon_url":null,"word_count":1234,"reading_time_minutes":6,"quality":'
    '87,"status":"ready","error_code":null,"error_message":null,"source":"web","versi'
    'on":3,"saved_at":"2026-01-01T00:00:00.000001Z","updated_at":"2026-01-02T03:04:05'
    '.250000Z","processed_at":"2026-01-02T03:04:05Z","read_at":null,"favorite":true,"'
    'archived_at":null,"progress":0.375,"analysis_status":"pending","analysis_error":'
    'null,"archive_status":null,"thumbnail_status":"ready","thumbnail_url":"/api/book'
    'marks/READY/thumbnail?v=0123456789abcdef&token=TOKEN","text":"Grüße aus Zürich —'
    ' emoji 😀 and <tags>","conte'
    'nt_html":"<p>Grüße</p>","content_hash":"abc","metadata":{"n":1.5,"og":{"type":"a'
    'rticle"}},"list_ids":[],"analysis":{"status":"pending","error_code":null,"error_message":null,'
    '"summary":null,"key_concepts":[],"content_type":null,"difficulty":null,"technolo'
    'gies":[],"topics":[],"suggested_tags":[],"model":null,"analysed_at":null}}'
)
EXPECTED_SEARCH = (
    '{"items":[{"bookmark":{"id":"READY","url":"https://example.com/post?b=2&a=1","no'
    'rmalized_url":"https://example.com/post?a=1&b=2","title":"Zürich \\"quoted\\" titl'
    'e","description":"A line\\nand a tab\\t.","notes":null,"tags":["alpha","Zeta"],"si'
    'te_name":"Example","author":"Ann Author","published_at":"2024-02-29T22:59:58.500'
    '000Z","language":"de","canonical_url":"https://example.com/canonical","image_url'
    '":"https://example.com/i.png","favicon_url":null,"word_count":1234,"reading_time'
    '_minutes":6,"quality":87,"status":"ready","error_code":null,"error_message":null'
    ',"source":"web","version":3,"saved_at":"2026-01-01T00:00:00.000001Z","updated_at'
    '":"2026-01-02T03:04:05.250000Z","processed_at":"2026-01-02T03:04:05Z","read_at":'
    'null,"favorite":true,"archived_at":null,"progress":0.375,"analysis_status":"pend'
    'ing","analysis_error":null,"archive_status":null,"thumbnail_status":null,"thumbna'
    'il_url":null},"score":1.0,"highlights":["Grü'
    'ße aus <mark>Zürich</mark> — emoji 😀"],"semantic_rank":null,"keyword_rank":1,"we'
    'ak":false}],"next_cursor":null,"mode":"keyword"}'
)
