"""The real all-MiniLM-L6-v2 model behind the micro-batcher and the Redis cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from app.embeddings.query_encoder import graph_file
from app.embeddings.service import (
    DIM,
    Embedder,
    bookmark_text,
    cache_key,
    embed_cached,
    model_path,
)


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


QUERIES = [
    "postgres",
    "FastAPI dependency injection",
    "how do I make full-text search in PostgreSQL rank titles above body text? " * 3,
    "éàü 日本語 émoji 🚀",
    "word " * 400,  # past the model's 256 word pieces: truncated as model.encode truncates
]


def test_the_api_s_query_encoder_gives_the_stored_vectors(embedder, tmp_path):
    """The API embeds queries with ONNX Runtime (faster, and without PyTorch in the
    process); a search must find what the stored document vectors (PyTorch, in batches) say
    it should: alone and in a padded batch of queries that arrived together."""
    fast = Embedder(fast_queries=True, cache_dir=tmp_path)
    fast.load()
    assert fast._onnx is not None, "the ONNX export failed: queries fall back to TorchScript"
    assert fast.model is None  # the PyTorch model is not loaded in the API
    batch = embedder.model.encode(QUERIES, normalize_embeddings=True, convert_to_numpy=True)
    together = fast.encode_sync(QUERIES)
    for i, (text, expected) in enumerate(zip(QUERIES, batch, strict=True)):
        got = fast.encode_sync([text])[0]
        assert got.dtype == np.float32 and abs(float(np.linalg.norm(got)) - 1) < 1e-5
        assert float(np.abs(got - expected).max()) < 1e-4, text
        assert float(np.abs(together[i] - expected).max()) < 1e-4, text
    # Exported once per data directory: the next process opens the same file.
    [graph] = tmp_path.glob("*.onnx")
    exported = graph.stat().st_mtime_ns
    again = Embedder(fast_queries=True, cache_dir=tmp_path)
    again.load()
    assert again._onnx is not None and graph.stat().st_mtime_ns == exported


def test_a_damaged_graph_leaves_queries_to_the_traced_model(embedder, tmp_path):
    """Where ONNX Runtime cannot run the model (here a damaged graph file), the API falls
    back to a TorchScript trace of it, with the same vectors."""
    graph = graph_file(tmp_path, model_path())
    graph.write_bytes(b"not an onnx graph")
    traced = Embedder(fast_queries=True, cache_dir=tmp_path)
    traced.load()
    assert traced._onnx is None and traced._one is not None, "tracing failed: eager PyTorch"
    batch = embedder.model.encode(QUERIES, normalize_embeddings=True, convert_to_numpy=True)
    for text, expected in zip(QUERIES, batch, strict=True):
        got = traced.encode_sync([text])[0]
        assert float(np.abs(got - expected).max()) < 1e-4, text


def test_a_failed_export_leaves_queries_to_the_traced_model(
    embedder, tmp_path, monkeypatch, caplog
):
    """Where the graph cannot be exported (here the exporter process exits with an error),
    the API says why in its log and embeds queries with PyTorch."""
    import app.embeddings.query_encoder as query_encoder

    monkeypatch.setattr(query_encoder.sys, "executable", "/bin/false")
    traced = Embedder(fast_queries=True, cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="fuze.embeddings"):
        traced.load()
    assert traced._onnx is None and traced._one is not None
    assert "could not export the query encoder" in caplog.text
    assert not list(tmp_path.glob("*.onnx"))
    vector = traced.encode_sync(["postgres"])[0]
    expected = embedder.model.encode(["postgres"], normalize_embeddings=True)[0]
    assert float(np.abs(vector - expected).max()) < 1e-4


def test_a_graph_installed_beside_the_packages_spares_a_new_data_folder_its_export(tmp_path):
    """`make install` exports the query encoder into the virtual environment, so that the
    first start of a data folder opens it instead of spending 12-13 s exporting one."""
    import shutil
    import subprocess
    import sys

    from app.embeddings.query_encoder import INSTALLED

    installed, data = tmp_path / "installed", tmp_path / "data"
    graph = graph_file(installed, model_path())
    made = graph_file(INSTALLED, model_path())
    if made.exists():  # make install made it: the same file
        graph.parent.mkdir(parents=True)
        shutil.copy(made, graph)
    else:
        subprocess.run(
            [sys.executable, "-m", "app.embeddings.query_encoder", str(graph)], check=True
        )
    fast = Embedder(fast_queries=True, cache_dir=data, installed_dir=installed)
    fast.load()
    assert fast._onnx is not None and fast.model is None
    assert not data.exists() or not list(data.glob("*.onnx"))  # nothing exported
    assert fast.encode_sync(QUERIES).shape == (len(QUERIES), 384)


def test_processes_starting_together_export_the_graph_once(tmp_path, monkeypatch):
    """The API processes of `fuze up --api-workers N` start together on one data folder: one
    exports the graph while the others wait for it, rather than each exporting its own."""
    import subprocess
    import threading
    import time

    import app.embeddings.query_encoder as query_encoder

    exports = []

    def export(argv, **_):  # the exporter: a while, then the file
        exports.append(argv)
        time.sleep(0.5)
        Path(argv[-1]).write_bytes(b"graph")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(query_encoder.subprocess, "run", export)
    graph = graph_file(tmp_path, model_path())
    together = threading.Barrier(3)
    found = []

    def start() -> None:
        together.wait()
        found.append(query_encoder._export_once(graph, timeout=60))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert found == [True, True, True] and len(exports) == 1
