"""The parsers on real export files from other tools, on files written by hand for the formats
without a sample, and on broken files (which must say where they break)."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.imports import parsers

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "imports"


def _read(name: str) -> tuple[str, list[parsers.Entry]]:
    with (DATA / name).open("rb") as f:
        fmt, total = parsers.inspect(f, name)
        entries = list(parsers.parse(f, fmt))
    assert len(entries) == total
    return fmt, entries


def _parse_bytes(data: bytes, name: str = "file") -> tuple[str, list[parsers.Entry]]:
    f = io.BytesIO(data)
    fmt, _ = parsers.inspect(f, name)
    return fmt, list(parsers.parse(f, fmt))


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [
        ("chrome_bookmarks.html", "netscape", 4),
        ("netscape.html", "netscape", 6),
        ("netscape_complex.html", "netscape", 14),
        ("firefox_osint_large.html", "netscape", 323),
        ("linkding_netscape.html", "netscape", 3),
        ("shaarli-bookmarks.html", "netscape", 2),
        ("pocket.html", "pocket_html", 5),
        ("ril_export.html", "pocket_html", 2),
        ("pocket.csv", "pocket_csv", 7),
        ("instapaper-export.csv", "instapaper_csv", 4),
        ("omnivore.json", "omnivore", 20),
        ("pinboard_export", "pinboard", 3),
        ("chrome-bookmarks", "chrome_json", 1),
        ("firefox-bookmarks.json", "firefox_json", 2),
    ],
)
def test_real_exports_are_recognised_and_every_entry_read(name: str, fmt: str, count: int) -> None:
    found, entries = _read(name)
    assert (found, len(entries)) == (fmt, count)
    assert all(e.url for e in entries)


def test_chrome_folders_become_lists_but_the_bookmarks_bar_does_not() -> None:
    _, entries = _read("chrome_bookmarks.html")
    by_url = {e.url: e for e in entries}
    assert by_url["http://yahoo.com/"].folders == []
    assert by_url["http://bing.com/"].folders == [["First level bookmark bar folder"]]
    assert by_url["http://msn.com/"].folders == [["First level other bookmarks folder"]]
    # A folder is a list, not a tag as well.
    assert by_url["http://bing.com/"].tags == []
    assert by_url["http://bing.com/"].saved_at == datetime.fromtimestamp(1522775193, UTC)
    assert by_url["http://reddit.com/"].title == "First level other bookmarks bookmark"


def test_firefox_nested_folders_descriptions_and_dates() -> None:
    _, entries = _read("netscape_complex.html")
    by_url = {e.url: e for e in entries}
    ml = by_url["https://github.com/Twice22/CS224n-solutions"]
    assert ml.folders == [["ML"]]  # "Bookmarks Toolbar" is the browser's, not the user's
    assert ml.notes and ml.notes.startswith("CS224n-solutions - Solutions for CS224n")
    assert by_url["https://www.mozilla.org/en-US/about/"].folders == [["Mozilla Firefox"]]
    # A folder's own <DD> description is not a bookmark's note.
    assert all("Add bookmarks to this folder" not in (e.notes or "") for e in entries)
    # An empty <DD> is no note.
    assert by_url["https://pouchdb.com/"].notes is None
    _, big = _read("firefox_osint_large.html")
    osint = [e for e in big if e.folders and e.folders[0][0] == "OSINTBookmarks"]
    assert len(osint) > 300
    assert any(len(e.folders[0]) >= 3 for e in osint)  # three levels deep


def test_add_date_in_seconds_milliseconds_or_microseconds_and_bad_dates() -> None:
    _, entries = _read("linkding_netscape.html")
    moment = datetime.fromtimestamp(1616337559, UTC)
    assert [e.saved_at for e in entries] == [moment] * 3
    assert [e.tags for e in entries] == [["tag1"], ["tag2"], ["tag3"]]
    assert [e.notes for e in entries] == [f"test description {i}" for i in (1, 2, 3)]
    _, entries = _read("linkding_netscape_one_invalid.html")
    assert entries[0].saved_at is None and entries[0].url == "https://example.com/1"


def test_pocket_csv_multiline_titles_and_instapaper_folders() -> None:
    _, entries = _read("pocket.csv")
    assert (
        entries[-1].title
        == "Des abeilles pour résoudre les « conflits » entre les humains et les élépha"
    )
    assert entries[-1].line == 8  # the row starts on line 8 and spans two
    assert entries[0].saved_at == datetime.fromtimestamp(1600322788, UTC)
    _, entries = _read("instapaper-export.csv")
    # Unread, Archive and Starred are Instapaper's states, not the user's folders.
    assert [e.folders for e in entries] == [[], [], [], [["test_tag"]]]


def test_omnivore_labels_and_dates_pinboard_tags_and_notes() -> None:
    _, entries = _read("omnivore.json")
    assert entries[0].tags == ["RSS"]
    assert entries[0].saved_at == datetime(2024, 10, 29, 16, 30, 11, tzinfo=UTC)
    _, entries = _read("pinboard_export")
    assert entries[0].tags == ["infinite", "dom", "performance", "scroll"]
    assert entries[0].notes and entries[0].notes.startswith("TL;DR")


def test_raindrop_csv() -> None:
    data = (
        b"id,title,note,excerpt,url,folder,tags,created,cover,highlights,favorite\n"
        b'1,Hello,My note,An excerpt,https://example.com/a,Reading/Later,"python, web",'
        b"2023-08-14T11:07:16.384Z,,,false\n"
        b"2,No url,,,,Unsorted,,2023-08-14T11:07:16.384Z,,,false\n"
    )
    fmt, entries = _parse_bytes(data, "export.csv")
    assert fmt == "raindrop_csv"
    assert entries[0].tags == ["python", "web"]
    assert entries[0].folders == [["Reading", "Later"]]
    assert entries[0].notes == "My note"
    assert entries[0].saved_at == datetime(2023, 8, 14, 11, 7, 16, 384000, tzinfo=UTC)
    assert entries[1].url is None and entries[1].error and entries[1].line == 3


def test_karakeep_links_and_text_notes() -> None:
    doc = {
        "bookmarks": [
            {
                "createdAt": 1700000000,
                "title": "A page",
                "tags": ["a", "b"],
                "content": {"type": "link", "url": "https://example.com/k"},
                "note": "kept",
                "archived": False,
            },
            {
                "createdAt": 1700000001,
                "title": None,
                "tags": [],
                "content": {"type": "text", "text": "hi"},
                "note": None,
            },
        ]
    }
    fmt, entries = _parse_bytes(json.dumps(doc).encode())
    assert fmt == "karakeep"
    assert entries[0].url == "https://example.com/k" and entries[0].notes == "kept"
    assert entries[0].saved_at == datetime.fromtimestamp(1700000000, UTC)
    assert entries[1].url is None and "text" in (entries[1].error or "")


def test_linkwarden_collections_become_tags() -> None:
    doc = {
        "id": 1,
        "name": "me",
        "collections": [
            {
                "id": 3,
                "name": "Research",
                "links": [
                    {
                        "name": "Paper",
                        "url": "https://example.com/p",
                        "description": "about it",
                        "createdAt": "2024-01-02T03:04:05.000Z",
                        "tags": [{"name": "ml"}],
                    },
                    {"name": "No link", "url": None},
                ],
            }
        ],
    }
    fmt, entries = _parse_bytes(json.dumps(doc).encode())
    assert fmt == "linkwarden"
    assert entries[0].tags == ["ml"] and entries[0].folders == [["Research"]]
    assert entries[0].title == "Paper" and entries[0].notes == "about it"
    assert entries[1].error


def test_plain_list_of_urls_with_comments_and_junk() -> None:
    fmt, entries = _parse_bytes(
        b"# my links\nhttps://a.example/1\n\nwww.b.example/2 Title B\nnot a url\n"
    )
    assert fmt == "urls"
    assert [(e.url, e.title, e.line, e.error) for e in entries] == [
        ("https://a.example/1", None, 2, None),
        ("www.b.example/2", "Title B", 4, None),
        ("not", "a url", 5, "this line is not a web address"),
    ]


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b'[{"url": "https://a.example"},\n {"url": "https://b.example",,}]', 2, "not valid JSON"),
        (b'title,url\n"ok",https://a.example\n"broken,https://b.example\n', 3, "not valid CSV"),
        (b"https://a.example/\n\xff\xfe broken\n", 2, "UTF-8"),
        (b"hello world\nthis is prose\n", 1, "does not recognise"),
        (b"name,address_book\nx,y\n", 1, "no URL column"),
        (b'{"something": "else"}', None, "not an export Fuze knows"),
        (b"<html><body><p>No links here</p></body></html>", None, "no bookmarks"),
    ],
)
def test_malformed_files_say_what_and_where(data: bytes, line: int | None, words: str) -> None:
    with pytest.raises(parsers.MalformedFile) as caught:
        parsers.inspect(io.BytesIO(data), "file")
    assert words in caught.value.message
    assert caught.value.line == line
    if line:
        assert caught.value.message.startswith(f"line {line}:")


def netscape_file(n: int) -> bytes:
    rows = [
        f'<DT><A HREF="https://site{i % 97}.example/page/{i}" ADD_DATE="{1600000000 + i}" '
        f'TAGS="t{i % 13}">Page number {i}</A>\n<DD>Some notes for page {i}\n'
        for i in range(n)
    ]
    return (
        b"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n"
        + b"<DT><H3>Folder</H3>\n<DL><p>\n"
        + "".join(rows).encode()
        + b"</DL><p>\n</DL><p>\n"
    )


def test_parsing_streams_memory_stays_flat_on_a_large_file() -> None:
    data = netscape_file(40_000)
    assert len(data) > 4_000_000
    f = io.BytesIO(data)
    tracemalloc.start()
    try:
        count = sum(1 for _ in parsers.parse(f, parsers.detect(f)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    # Holding the entries would take tens of megabytes; the parser holds a piece at a time.
    assert peak < 2_000_000, peak


def test_a_one_column_csv_and_a_json_list_of_addresses() -> None:
    fmt, entries = _parse_bytes(b"url\nhttps://a.example/1\nhttps://a.example/2\n")
    assert fmt == "csv" and [e.url for e in entries] == [
        "https://a.example/1",
        "https://a.example/2",
    ]
    fmt, entries = _parse_bytes(b'["https://a.example/1", {"url": "https://a.example/2"}, 3]')
    assert fmt == "json"
    assert [e.url for e in entries] == ["https://a.example/1", "https://a.example/2", None]
    assert entries[2].error == "entry 3 is not an object"


def test_omnivore_zip_export_and_other_zips() -> None:
    items = json.loads((DATA / "omnivore.json").read_text())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # Out of order on purpose: entries come in the order of the metadata files' ranges.
        archive.writestr("metadata_12_to_20.json", json.dumps(items[12:]))
        archive.writestr("metadata_0_to_12.json", json.dumps(items[:12]))
        archive.writestr("content/some-slug.html", "<p>page</p>")
    fmt, entries = _parse_bytes(buffer.getvalue(), "omnivore.zip")
    assert fmt == "omnivore_zip"
    assert [e.url for e in entries] == [i["url"] for i in items]
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("photo.jpg", b"not bookmarks")
    with pytest.raises(parsers.MalformedFile, match="not an Omnivore export"):
        parsers.inspect(io.BytesIO(other.getvalue()), "x.zip")


def _states(entry: parsers.Entry) -> tuple[bool, bool, bool]:
    """(read, archived, favourite) as the import will apply them."""
    return (
        entry.read or entry.read_at is not None,
        entry.archived or entry.archived_at is not None,
        entry.favorite,
    )


def test_pocket_read_archive_is_read_and_archived() -> None:
    _, entries = _read("pocket.html")
    by_url = {e.url: _states(e) for e in entries}
    assert by_url["http://google.com"] == (False, False, False)  # under "Unread"
    assert by_url["http://getpocket.com/welcome"] == (True, True, False)  # "Read Archive"
    assert sum(s == (True, True, False) for s in by_url.values()) == 2
    _, entries = _read("ril_export.html")
    assert [_states(e) for e in entries] == [(False, False, False)] * 2
    _, entries = _read("pocket.csv")
    archived = [e.url for e in entries if _states(e) == (True, True, False)]
    assert len(archived) == 2 and archived[0].startswith("https://www.reddit.com/r/DataHoarder")
    assert all(_states(e) == (False, False, False) for e in entries if e.url not in archived)
    # Pocket's CSV has no date for either: the import dates them.
    assert all(e.read_at is None and e.archived_at is None for e in entries)
    _, entries = _parse_bytes(
        b"title,url,time_added,tags,status,favorite\n"
        b"A,https://a.example/,1600000000,,archive,1\n"
        b"B,https://b.example/,1600000000,,unread,0\n",
        "pocket.csv",
    )
    assert [_states(e) for e in entries] == [(True, True, True), (False, False, False)]


def test_instapaper_archive_and_starred_raindrop_favourite() -> None:
    _, entries = _read("instapaper-export.csv")
    assert [_states(e) for e in entries] == [
        (False, False, False),  # Unread
        (False, True, False),  # Archive
        (False, False, True),  # Starred
        (False, False, False),  # a folder of the user's
    ]
    data = (
        b"id,title,note,excerpt,url,folder,tags,created,cover,highlights,favorite\n"
        b"1,A,,,https://example.com/a,Unsorted,,2023-08-14T11:07:16.384Z,,,true\n"
        b"2,B,,,https://example.com/b,Unsorted,,2023-08-14T11:07:16.384Z,,,false\n"
    )
    _, entries = _parse_bytes(data, "export.csv")
    assert [_states(e) for e in entries] == [(False, False, True), (False, False, False)]


def test_omnivore_archived_state_and_reading_progress() -> None:
    _, entries = _read("omnivore.json")
    archived = [e for e in entries if _states(e) == (False, True, False)]
    assert [e.url for e in archived] == [entries[0].url]  # the one "Archived" of the file
    assert all(_states(e) == (False, False, False) for e in entries[1:])
    items = [
        {"url": "https://o.example/1", "state": "Active", "readingProgress": 100, "labels": []},
        {"url": "https://o.example/2", "state": "Archived", "readingProgress": 42, "labels": []},
    ]
    _, entries = _parse_bytes(json.dumps(items).encode())
    assert [_states(e) for e in entries] == [(True, False, False), (False, True, False)]
    # Its progress is kept, so the reader opens where it was left.
    assert [e.progress for e in entries] == [1.0, 0.42]


def test_pinboard_toread() -> None:
    _, entries = _read("pinboard_export")
    assert [_states(e) for e in entries] == [(True, False, False)] * 3  # all "toread": "no"
    items = [
        {"href": "https://p.example/1", "toread": "yes", "tags": ""},
        {"href": "https://p.example/2", "toread": "no", "tags": ""},
    ]
    _, entries = _parse_bytes(json.dumps(items).encode())
    assert [_states(e) for e in entries] == [(False, False, False), (True, False, False)]


def test_karakeep_archived_and_favourited() -> None:
    def bookmark(url: str, **states: bool) -> dict:
        return {
            "createdAt": 1700000000,
            "title": None,
            "tags": [],
            "content": {"type": "link", "url": url},
            "note": None,
            **states,
        }

    doc = {
        "bookmarks": [
            bookmark("https://k.example/1", archived=True, favourited=True),
            bookmark("https://k.example/2", archived=False, favourited=False),
            bookmark("https://k.example/3"),  # older exports have neither
        ]
    }
    _, entries = _parse_bytes(json.dumps(doc).encode())
    assert [_states(e) for e in entries] == [
        (False, True, True),
        (False, False, False),
        (False, False, False),
    ]


def test_linkwarden_pinned_links_are_favourites() -> None:
    doc = {
        "name": "me",
        "collections": [
            {
                "name": "Research",
                "links": [
                    {"name": "Pinned", "url": "https://l.example/pinned", "tags": []},
                    {"name": "Not", "url": "https://l.example/not", "tags": []},
                ],
            }
        ],
        # After the collections, as Linkwarden writes its backup.
        "pinnedLinks": [{"name": "Pinned", "url": "https://l.example/pinned"}],
    }
    fmt, entries = _parse_bytes(json.dumps(doc).encode())
    assert fmt == "linkwarden"
    assert [(e.url, e.favorite) for e in entries] == [
        ("https://l.example/pinned", True),
        ("https://l.example/not", False),
    ]


def test_fuze_exports_carry_their_dates() -> None:
    doc = {
        "fuze_export": 1,
        "bookmarks": [
            {
                "url": "https://f.example/1",
                "tags": [],
                "read_at": "2024-05-01T10:00:00+00:00",
                "favorite": True,
                "archived_at": "2024-05-02T10:00:00+00:00",
            },
            {"url": "https://f.example/2", "tags": [], "read_at": None, "archived_at": None},
        ],
    }
    fmt, entries = _parse_bytes(json.dumps(doc).encode())
    assert fmt == "fuze_json"
    assert entries[0].read_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert entries[0].archived_at == datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert _states(entries[0]) == (True, True, True)
    assert _states(entries[1]) == (False, False, False)
    fmt, entries = _parse_bytes(
        b"url,title,notes,tags,saved_at,updated_at,status,description,site_name,author,"
        b"published_at,language,read_at,favorite,archived_at\n"
        b"https://f.example/1,,,,,,,,,,,,2024-05-01T10:00:00+00:00,true,\n"
        b"https://f.example/2,,,,,,,,,,,,,false,\n"
    )
    assert fmt == "fuze_csv"
    assert entries[0].read_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert [_states(e) for e in entries] == [(True, False, True), (False, False, False)]


def test_formats_without_states_leave_them_unset() -> None:
    for name in ("netscape_complex.html", "chrome-bookmarks", "firefox-bookmarks.json"):
        _, entries = _read(name)
        assert all(_states(e) == (False, False, False) for e in entries), name
