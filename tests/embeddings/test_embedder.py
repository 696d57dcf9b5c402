"""The real all-MiniLM-L6-v2 model behind the micro-batcher and the Redis cache."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.embeddings.service import DIM, Embedder, bookmark_text, cache_key, embed_cached


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    model = Embedder(batch_size=16, max_wait_ms=20)
    model.load()
    yield model


async def test_vectors_are_384_dims_normalised_and_meaningful(embedder):
    cats, kittens, tax = await embedder.embed_many(
        [
            "Cats are small domesticated felines that people keep as pets.",
            "Kittens are young cats; many households adopt them.",
            "The corporate income tax rate was changed in the annual budget.",
        ]
    )
    for v in (cats, kittens, tax):
        assert v.shape == (DIM,) and v.dtype == np.float32
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4
    assert float(cats @ kittens) > float(cats @ tax) + 0.3


async def test_concurrent_callers_share_batches(embedder):
    before_batches, before_texts = embedder.stats.batches, embedder.stats.texts
    texts = [f"Document number {i} talks about topic {i % 5}." for i in range(40)]
    vectors = await asyncio.gather(*(embedder.embed(t) for t in texts))
    assert len(vectors) == 40
    batches = embedder.stats.batches - before_batches
    assert embedder.stats.texts - before_texts == 40
    # 40 concurrent texts ran as a few full batches, not 40 model calls.
    assert batches <= 6, batches
    # And the batching did not mix texts up.
    alone = embedder.encode_sync([texts[7]])[0]
    assert float(alone @ vectors[7]) > 0.999


async def test_the_same_text_is_never_embedded_twice(embedder, redis):
    text = "A text about caching embeddings in Redis by content hash."
    first = await embed_cached(embedder, redis, text)
    calls = embedder.stats.texts
    hits = embedder.stats.cache_hits
    second = await embed_cached(embedder, redis, text)
    assert embedder.stats.texts == calls and embedder.stats.cache_hits == hits + 1
    assert np.array_equal(first, second)
    assert await redis.exists(cache_key(text))


async def test_embedding_still_works_without_redis(embedder):
    class DownRedis:
        async def get(self, key):  # type: ignore[no-untyped-def]
            raise ConnectionError("down")

        async def set(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise ConnectionError("down")

    v = await embed_cached(embedder, DownRedis(), "Redis is down but saving must go on.")
    assert v.shape == (DIM,)


def test_bookmark_text_leads_with_title_and_description():
    text = bookmark_text("Title", "A description.", "Body " * 1000)
    assert text.startswith("Title\nA description.\nBody")
    assert len(text) < 2100
    assert bookmark_text(None, None, "   ") == ""


def test_the_api_s_traced_query_model_gives_the_same_vectors(embedder):
    """The API embeds queries with a TorchScript trace of the model (faster); a search must
    find what the stored document vectors (eager PyTorch, in batches) say it should."""
    traced = Embedder(trace_queries=True)
    traced.load()
    assert traced._one is not None, "tracing failed: queries fall back to eager PyTorch"
    queries = [
        "postgres",
        "FastAPI dependency injection",
        "how do I make full-text search in PostgreSQL rank titles above body text? " * 3,
        "éàü 日本語 émoji 🚀",
    ]
    batch = embedder.model.encode(queries, normalize_embeddings=True, convert_to_numpy=True)
    for text, expected in zip(queries, batch, strict=True):
        got = traced.encode_sync([text])[0]
        assert float(np.abs(got - expected).max()) < 1e-4, text
