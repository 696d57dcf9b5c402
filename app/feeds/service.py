"""Feed subscriptions: follow, change, stop following; OPML in and out; and reading a feed's
items (feedparser) into what the worker saves."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import enqueue_after_commit, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.extraction.fetch import FetchError, parse_url
from app.feeds.models import Feed
from app.feeds.schemas import FeedCreate, FeedOut, FeedUpdate
from app.users.models import User

MAX_FEEDS = 500
MAX_OPML_BYTES = 2 * 1024 * 1024
# How long the scheduler leaves a feed alone once a read of it has been queued by hand.
POLL_GRACE = timedelta(minutes=5)


def check_url(url: str) -> str:
    try:
        parsed = parse_url(url)
    except FetchError as exc:
        raise Unprocessable(exc.message, code="invalid_url") from exc
    return str(parsed)


def to_out(row: Feed) -> FeedOut:
    return FeedOut.model_validate(row, from_attributes=True)


def poll_now(session: AsyncSession, feed: Feed) -> None:
    """Queue a read of the feed now. The scheduler is told to leave the feed alone for a
    while, or it would queue a second read that runs beside this one; should this one be lost
    (Redis down), the scheduler reads the feed once the grace has passed."""
    feed.next_check_at = utcnow() + POLL_GRACE
    enqueue_after_commit(
        session, "poll_feed", str(feed.id), _job_id=f"poll_feed:{feed.id}:{uuid.uuid4().hex[:8]}"
    )


async def _urls(session: AsyncSession, user: User) -> set[str]:
    return set(await session.scalars(select(Feed.url).where(Feed.user_id == user.id)))


async def subscribe(session: AsyncSession, user: User, data: FeedCreate) -> Feed:
    url = check_url(data.url)
    urls = await _urls(session, user)
    if url in urls:
        raise Conflict("You already follow this feed.", code="feed_exists")
    if len(urls) >= MAX_FEEDS:
        raise Unprocessable(f"At most {MAX_FEEDS} feeds.", code="too_many_feeds")
    feed = Feed(
        id=uuid.uuid4(), user_id=user.id, url=url, tags=data.tags,
        interval_minutes=data.interval_minutes, active=True, items_saved=0,
        created_at=utcnow(),
    )  # fmt: skip
    session.add(feed)
    await session.flush()
    poll_now(session, feed)
    return feed


async def get_owned(session: AsyncSession, user: User, feed_id: uuid.UUID) -> Feed:
    feed = await session.scalar(select(Feed).where(Feed.id == feed_id, Feed.user_id == user.id))
    if feed is None:
        raise NotFound("No such feed.", code="feed_not_found")
    return feed


async def update(session: AsyncSession, feed: Feed, data: FeedUpdate) -> Feed:
    if "title" in data.model_fields_set:
        feed.title = (data.title or "").strip() or None
    if data.tags is not None:
        feed.tags = data.tags
    if data.interval_minutes is not None:
        feed.interval_minutes = data.interval_minutes
    if data.active is not None and data.active != feed.active:
        feed.active = data.active
        if data.active:
            poll_now(session, feed)
    await session.flush()
    return feed


# --- OPML -------------------------------------------------------------------------------------


async def import_opml(session: AsyncSession, user: User, raw: bytes) -> tuple[int, int, int]:
    """Subscribe to the feeds of an OPML file (every outline with an xmlUrl, at any depth;
    a folder's name becomes a tag of its feeds). Returns (added, already followed, invalid)."""
    if len(raw) > MAX_OPML_BYTES:
        raise Unprocessable("This OPML file is larger than 2 MB.", code="opml_too_large")
    if b"<!DOCTYPE" in raw[:4096].upper() or b"<!ENTITY" in raw.upper():
        raise Unprocessable("OPML files with a DOCTYPE are not read.", code="opml_invalid")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise Unprocessable(f"This is not an OPML file: {exc}.", code="opml_invalid") from exc
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise Unprocessable("This is not an OPML file (no <opml><body>).", code="opml_invalid")
    urls = await _urls(session, user)
    added = already = invalid = 0

    def walk(node: ET.Element, folder: list[str]) -> list[tuple[str, str | None, list[str]]]:
        found = []
        for outline in node.findall("outline"):
            xml_url = (outline.get("xmlUrl") or "").strip()
            name = outline.get("title") or outline.get("text")
            if xml_url:
                found.append((xml_url, name, folder))
            else:
                found += walk(outline, [*folder, name] if name else folder)
        return found

    for xml_url, name, folder in walk(body, []):
        try:
            url = check_url(xml_url)
        except Unprocessable:
            invalid += 1
            continue
        if url in urls:
            already += 1
            continue
        if len(urls) >= MAX_FEEDS:
            invalid += 1
            continue
        urls.add(url)
        feed = Feed(
            id=uuid.uuid4(), user_id=user.id, url=url, title=name,
            tags=[t[:64] for t in folder if t.strip()][:10], interval_minutes=60, active=True,
            items_saved=0, created_at=utcnow(),
        )  # fmt: skip
        session.add(feed)
        await session.flush()
        poll_now(session, feed)
        added += 1
    return added, already, invalid


async def export_opml(session: AsyncSession, user: User) -> bytes:
    feeds = await session.scalars(
        select(Feed).where(Feed.user_id == user.id).order_by(Feed.created_at, Feed.id)
    )
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "Fuze feeds"
    ET.SubElement(head, "dateCreated").text = utcnow().strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = ET.SubElement(opml, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.title or feed.url, "xmlUrl": feed.url}
        if feed.title:
            attrs["title"] = feed.title
        if feed.site_url:
            attrs["htmlUrl"] = feed.site_url
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        ET.SubElement(body, "outline", attrs)
    ET.indent(opml)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="utf-8")


# --- reading a feed ---------------------------------------------------------------------------


@dataclass
class Item:
    key: str
    url: str
    title: str | None
    published: datetime | None


@dataclass
class Parsed:
    title: str | None
    site_url: str | None
    items: list[Item]


def parse(body: bytes, base_url: str) -> Parsed:
    """The feed's title and link, and its items that have a link (newest first when dated)."""
    doc: Any = feedparser.parse(body, response_headers={"content-location": base_url})
    if not doc.get("version") and not doc.entries:
        reason = getattr(doc.get("bozo_exception"), "getMessage", lambda: None)() or "no items"
        raise ValueError(f"This is not an RSS or Atom feed ({reason}).")
    items = []
    for entry in doc.entries:
        link = (entry.get("link") or "").strip()
        if not link.startswith(("http://", "https://")):
            continue
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime(*when[:6], tzinfo=UTC) if when else None
        key = (entry.get("id") or link)[:2000]
        items.append(Item(key, link, (entry.get("title") or "").strip()[:1000] or None, published))
    items.sort(key=lambda i: i.published or datetime.min.replace(tzinfo=UTC), reverse=True)
    feed = doc.get("feed", {})
    return Parsed((feed.get("title") or "").strip() or None, feed.get("link"), items)
