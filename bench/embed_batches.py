"""The worker's embedder by batch size: CPU per text for SciFact abstracts (title and text,
about what bench/ingest.py's pages give the model), one model thread of one torch thread, as
each of the worker's model threads runs (app.embeddings.service). Tells whether the pipeline
would gain from fuller batches: it embeds in batches of about two texts while importing.

    .venv/bin/python bench/embed_batches.py                    # 128 texts per size, two rounds
    .venv/bin/python bench/embed_batches.py --texts 256 --sizes 1,4,32
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "retrieval" / "corpus.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128, help="texts per batch size")
    parser.add_argument("--sizes", default="1,2,4,8,16,32")
    parser.add_argument("--rounds", type=int, default=2, help="every size, this many times")
    args = parser.parse_args()

    from app.embeddings.service import Embedder, bookmark_text

    texts = []
    with CORPUS.open() as f:
        for line in f:
            doc = json.loads(line)
            texts.append(bookmark_text(doc["title"], None, doc["text"]))
            if len(texts) == args.texts + 32:
                break
    embedder = Embedder(threads=1)
    embedder.load()
    embedder.encode_sync(texts[-32:])  # warm: the first batches allocate
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{args.texts} SciFact texts per size, one thread, CPU ms per text (each round):")
    results: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(args.rounds):
        for size in sizes:  # interleaved, so that the machine's load falls on every size
            started = time.process_time()
            for i in range(0, args.texts, size):
                embedder.encode_sync(texts[i : i + size])
            results[size].append((time.process_time() - started) / args.texts * 1000)
    for size in sizes:
        print(f"  batch {size:2d}: " + ", ".join(f"{ms:.1f}" for ms in results[size]))


if __name__ == "__main__":
    main()
