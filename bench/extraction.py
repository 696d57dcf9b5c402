"""Main-text extraction benchmark.

Runs `app.extraction.extract.extract` over the pages in ../shared/data/extraction (or
$FUZE_EXTRACTION_DATA) and scores each page's text against its ground truth:

- lower-case both bodies, tokenise them into words (`\\w+`), and build the multiset of 4-word
  shingles of each;
- tp = size of the multiset intersection, fp = predicted shingles not in the truth,
  fn = true shingles not predicted;
- per page precision = tp / (tp + fp), recall = tp / (tp + fn), both 1 when fp = fn = 0;
- precision and recall are averaged over the pages where they are defined, and
  F1 = 2PR / (P + R) of the two averages.

Time is measured single-threaded per page: `extract(raw_bytes, url)` (charset detection, parse,
metadata and main text), the median of a few rounds over all pages; the report gives the median
and p95 over pages.

    python bench/extraction.py              # the summary and the 10 worst pages
    python bench/extraction.py --page ID    # one page: predicted text vs truth (ID prefix is fine)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.extraction.extract import ExtractionError, extract  # noqa: E402

DATA = Path(os.environ.get("FUZE_EXTRACTION_DATA", ROOT.parent / "shared" / "data" / "extraction"))
WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter:
    words = WORD.findall(text.lower())
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def score(truth: str, predicted: str) -> tuple[float | None, float | None]:
    """Per-page (precision, recall); None where undefined."""
    t, p = shingles(truth), shingles(predicted)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    if fp == 0 and fn == 0:
        return 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def load() -> tuple[dict, dict[str, bytes]]:
    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {}
    for pid in truth:
        with gzip.open(DATA / "html" / f"{pid}.html.gz") as fh:
            pages[pid] = fh.read()
    return truth, pages


def run_page(raw: bytes, url: str) -> str:
    try:
        return extract(raw, url).text
    except ExtractionError:
        return ""


def timings(truth: dict, pages: dict[str, bytes], repeats: int) -> list[float]:
    """Per-page milliseconds: the median of `repeats` rounds, each round going over every
    page once (so no page is timed straight after itself)."""
    runs: dict[str, list[float]] = {pid: [] for pid in truth}
    for _ in range(repeats):
        for pid, item in truth.items():
            raw, url = pages[pid], item["url"]
            t0 = time.perf_counter()
            run_page(raw, url)
            runs[pid].append(time.perf_counter() - t0)
    return [statistics.median(v) * 1000 for v in runs.values()]


def show_page(pid: str, truth: dict, pages: dict[str, bytes]) -> None:
    matches = [k for k in truth if k.startswith(pid)]
    if len(matches) != 1:
        sys.exit(f"no single page matches {pid!r} ({len(matches)} matches)")
    pid = matches[0]
    url = truth[pid]["url"]
    try:
        result = extract(pages[pid], url)
        text = result.text
        meta = {
            k: getattr(result, k)
            for k in ("title", "author", "published_at", "language", "quality", "word_count")
        }
    except ExtractionError as exc:
        text, meta = "", {"error": f"{exc.code}: {exc.message}"}
    p, r = score(truth[pid]["articleBody"], text)
    print(f"{pid}\n{url}\nprecision={p} recall={r}\n{meta}\n")
    print("=" * 30, "PREDICTED", "=" * 30)
    print(text)
    print("=" * 30, "TRUTH", "=" * 30)
    print(truth[pid]["articleBody"])
    t_words = set(shingles(truth[pid]["articleBody"]))
    print("=" * 30, "PREDICTED PARAGRAPHS NOT IN TRUTH", "=" * 30)
    for para in text.split("\n\n"):
        sh = shingles(para)
        if sh and not any(s in t_words for s in sh):
            print("-", para[:200])
    p_words = set(shingles(text))
    print("=" * 30, "TRUE PARAGRAPHS MISSED", "=" * 30)
    for para in truth[pid]["articleBody"].split("\n"):
        sh = shingles(para)
        if sh and not any(s in p_words for s in sh):
            print("-", para[:200])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--page", help="show one page's predicted text vs truth (id or id prefix)")
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats per page")
    ap.add_argument("--worst", type=int, default=10, help="how many worst pages to list")
    args = ap.parse_args()

    truth, pages = load()
    if args.page:
        show_page(args.page, truth, pages)
        return

    precisions, recalls, rows = [], [], []
    for pid, item in truth.items():
        text = run_page(pages[pid], item["url"])
        p, r = score(item["articleBody"], text)
        if p is not None:
            precisions.append(p)
        if r is not None:
            recalls.append(r)
        f = 2 * p * r / (p + r) if p and r else 0.0
        rows.append((f, p, r, pid, item["url"]))
    times = timings(truth, pages, args.repeats)  # after the scoring pass, a warm-up

    precision = statistics.fmean(precisions)
    recall = statistics.fmean(recalls)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"pages: {len(truth)}")
    print(f"F1: {f1:.4f}  precision: {precision:.4f}  recall: {recall:.4f}")
    print(f"time per page: median {statistics.median(times):.2f} ms  p95 {p95:.2f} ms")
    print(f"\nworst {args.worst} pages by F1:")
    for f, p, r, pid, url in sorted(rows)[: args.worst]:
        ps = "-" if p is None else f"{p:.3f}"
        rs = "-" if r is None else f"{r:.3f}"
        print(f"  F1 {f:.3f}  P {ps}  R {rs}  {pid[:12]}  {url}")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # `... | head`
        sys.stderr.close()
