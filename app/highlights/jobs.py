"""The worker's highlight job: embed the highlights that have no vector yet (the API embeds
a new one itself when its model can; imported ones, and those it could not, come here). The
sweeper queues it again for any left behind."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.db import bind_system, bind_user, utcnow
from app.embeddings.service import embed_cached
from app.highlights.models import Highlight
from app.highlights.service import embed_text

BATCH = 64


async def embed_highlights(ctx: dict[str, Any], user_id: str) -> str:
    uid = uuid.UUID(user_id)
    done = 0
    while True:
        async with ctx["sessionmaker"]() as session:
            await bind_user(session, uid)
            rows = (
                await session.execute(
                    select(Highlight.id, Highlight.quote, Highlight.note)
                    .where(Highlight.user_id == uid, Highlight.embedding.is_(None))
                    .order_by(Highlight.created_at, Highlight.id)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return f"embedded {done}"
        texts = [embed_text(quote, note) for _, quote, note in rows]
        vectors = [await embed_cached(ctx["embedder"], ctx["redis"], t) for t in texts]
        async with ctx["sessionmaker"]() as session:
            await bind_user(session, uid)
            for (hid, quote, note), vector in zip(rows, vectors, strict=True):
                # Only if the note is still the one embedded (an edit meanwhile clears it
                # again and queues this job anew).
                await session.execute(
                    update(Highlight)
                    .where(
                        Highlight.id == hid,
                        Highlight.quote == quote,
                        Highlight.note.is_not_distinct_from(note),
                    )
                    .values(embedding=vector.tolist())
                )
            await session.commit()
        done += len(rows)


async def sweep(ctx: dict[str, Any], limit: int = 1000) -> int:
    """Queue the job again for each user whose highlights wait for a vector too long."""
    cutoff = utcnow() - timedelta(seconds=ctx["settings"].sweep_stale_seconds)
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        users = list(
            await session.scalars(
                select(Highlight.user_id)
                .where(Highlight.embedding.is_(None), Highlight.updated_at < cutoff)
                .distinct()
                .limit(limit)
            )
        )
    for uid in users:
        try:
            await ctx["redis"].enqueue_job(
                "embed_highlights", str(uid), _job_id=f"embed_highlights:{uid}"
            )
        except Exception:
            break
    return len(users)
