"""Main-text extraction benchmarks: Fuze's extractor beside trafilatura on the same pages.

Two data sets (../shared/data, or $FUZE_DATA), each scored as its README says:

- articles (`extraction/`, 91 news and blog pages): lower-case both bodies, tokenise them into
  words (`\\w+`), build the multiset of 4-word shingles of each; tp = size of the multiset
  intersection, fp = predicted shingles not in the truth, fn = true shingles not predicted;
  per page precision = tp / (tp + fp), recall = tp / (tp + fn), both 1 when fp = fn = 0;
  precision and recall are averaged over the pages where they are defined, and
  F1 = 2PR / (P + R) of the two averages.
- WCXB (`extraction-wcxb/`, 1,497 pages of seven types): per page, word-level precision,
  recall and F1 between the multisets of lower-cased `\\w+` words of the prediction and of
  `main_content` (an empty truth and an empty prediction score 1, one of them empty 0); the
  F1 is averaged over pages, overall and per page type. The pages are split in two halves
  by a hash of their id (`split`): tune on "dev", judge on "held-out".

trafilatura (a dev extra) runs `trafilatura.extract(html, url=url)` with its defaults on the
same bytes in the same run; it is skipped when it is not installed.

Time is Fuze's alone, single-threaded per page: `extract(raw_bytes, url)` (charset detection,
parse, metadata and main text), the median of a few rounds over all pages; the report gives
the median and p95 over pages.

    python bench/extraction.py                  # both benchmarks, per page type
    python bench/extraction.py --worst 10       # and the worst pages of each
    python bench/extraction.py --only wcxb --split dev --type forum --worst 20
    python bench/extraction.py --page ID        # one page: predicted text vs truth
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.extraction.extract import ExtractionError, extract  # noqa: E402

SHARED = Path(os.environ.get("FUZE_DATA", ROOT.parent / "shared" / "data"))
ARTICLES = SHARED / "extraction"
WCXB = SHARED / "extraction-wcxb"
WORD = re.compile(r"\w+")
TYPES = ("article", "documentation", "service", "forum", "product", "listing", "collection")


def split(pid: str) -> str:
    """A stable half of WCXB for a page id: the first byte of its SHA-1, even or odd."""
    return "dev" if hashlib.sha1(pid.encode()).digest()[0] % 2 == 0 else "held-out"


# -- scoring ---------------------------------------------------------------------------------
def shingles(text: str, n: int = 4) -> Counter:
    words = WORD.findall(text.lower())
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def article_score(truth: str, predicted: str) -> tuple[float | None, float | None]:
    """Per-page (precision, recall) of 4-word shingles; None where undefined."""
    t, p = shingles(truth), shingles(predicted)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    if fp == 0 and fn == 0:
        return 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def word_f1(truth: str, predicted: str) -> float:
    """WCXB's per-page word F1 (multiset overlap of lower-cased words)."""
    t = Counter(WORD.findall(truth.lower()))
    p = Counter(WORD.findall(predicted.lower()))
    if not t and not p:
        return 1.0
    if not t or not p:
        return 0.0
    tp = sum((t & p).values())
    if not tp:
        return 0.0
    precision, recall = tp / sum(p.values()), tp / sum(t.values())
    return 2 * precision * recall / (precision + recall)


def averaged_f1(pairs: list[tuple[float | None, float | None]]) -> tuple[float, float, float]:
    ps = [p for p, _ in pairs if p is not None]
    rs = [r for _, r in pairs if r is not None]
    p = statistics.fmean(ps) if ps else 0.0
    r = statistics.fmean(rs) if rs else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


# -- extractors ------------------------------------------------------------------------------
def fuze(raw: bytes, url: str) -> str:
    try:
        return extract(raw, url).text
    except ExtractionError:
        return ""


def trafilatura_fn():
    try:
        import trafilatura
    except ImportError:
        return None

    def run(raw: bytes, url: str) -> str:
        try:
            return trafilatura.extract(raw, url=url) or ""
        except Exception:  # a crash on one page scores as an empty prediction
            return ""

    return run


# -- data ------------------------------------------------------------------------------------
class Page:
    __slots__ = ("kind", "pid", "raw", "split", "truth", "url")

    def __init__(self, pid: str, raw: bytes, url: str, truth: str, kind: str, half: str):
        self.pid, self.raw, self.url, self.truth, self.kind, self.split = (
            pid,
            raw,
            url,
            truth,
            kind,
            half,
        )


def _read(folder: Path, pid: str) -> bytes:
    with gzip.open(folder / "html" / f"{pid}.html.gz") as fh:
        return fh.read()


def load_articles() -> list[Page]:
    truth = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Page(pid, _read(ARTICLES, pid), item["url"], item["articleBody"], "article", "all")
        for pid, item in truth.items()
    ]


def load_wcxb() -> list[Page]:
    truth = json.loads((WCXB / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Page(
            pid,
            _read(WCXB, pid),
            item["url"],
            item["main_content"],
            item["page_type"],
            split(pid),
        )
        for pid, item in truth.items()
    ]


def timings(pages: list[Page], repeats: int) -> list[float]:
    """Per-page milliseconds of Fuze: the median of `repeats` rounds, each round going over
    every page once (so no page is timed straight after itself)."""
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for page in pages:
            t0 = time.perf_counter()
            fuze(page.raw, page.url)
            runs[page.pid].append(time.perf_counter() - t0)
    return sorted(statistics.median(v) * 1000 for v in runs.values())


def p95(sorted_ms: list[float]) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(0.95 * (len(sorted_ms) - 1)))]


# -- report ----------------------------------------------------------------------------------
def report_articles(pages: list[Page], traf, worst: int) -> None:
    fz, tf, rows = [], [], []
    for page in pages:
        p, r = article_score(page.truth, fuze(page.raw, page.url))
        fz.append((p, r))
        if traf is not None:
            tf.append(article_score(page.truth, traf(page.raw, page.url)))
        f = 2 * p * r / (p + r) if p and r else 0.0
        rows.append((f, p, r, page.pid, page.url))
    f1, p, r = averaged_f1(fz)
    print(f"articles ({len(pages)} pages, 4-word shingles)")
    print(f"  fuze         F1 {f1:.4f}  P {p:.4f}  R {r:.4f}")
    if tf:
        f1, p, r = averaged_f1(tf)
        print(f"  trafilatura  F1 {f1:.4f}  P {p:.4f}  R {r:.4f}")
    _worst(rows, worst)


def report_wcxb(pages: list[Page], traf, worst: int, halves: list[str]) -> None:
    scores: dict[str, tuple[float, float | None]] = {}
    rows = []
    for page in pages:
        f = word_f1(page.truth, fuze(page.raw, page.url))
        t = word_f1(page.truth, traf(page.raw, page.url)) if traf is not None else None
        scores[page.pid] = (f, t)
        rows.append((f, None, None, page.pid, f"{page.kind:13} {page.url}"))
    print(f"\nWCXB ({len(pages)} pages, word F1 averaged over pages; fuze / trafilatura / diff)")
    header = f"  {'type':14}" + "".join(f"{h:>28}" for h in halves)
    print(header)
    for kind in ("all", *TYPES):
        line = f"  {kind:14}"
        for half in halves:
            sel = [
                scores[pg.pid]
                for pg in pages
                if (half == "all" or pg.split == half) and (kind == "all" or pg.kind == kind)
            ]
            if not sel:
                line += f"{'-':>28}"
                continue
            f = statistics.fmean(s[0] for s in sel)
            if traf is None:
                line += f"{f:>14.3f}{'':>9}({len(sel):3})"
            else:
                t = statistics.fmean(s[1] for s in sel)
                line += f"   {f:.3f} / {t:.3f} / {f - t:+.3f} ({len(sel):3})"
        print(line)
    _worst(rows, worst)


def _worst(rows: list, worst: int) -> None:
    if not worst:
        return
    print(f"  worst {worst} pages by fuze's F1:")
    for f, p, r, pid, what in sorted(rows, key=lambda x: x[0])[:worst]:
        ps = "" if p is None else f"  P {p:.3f}  R {r:.3f}"
        print(f"    F1 {f:.3f}{ps}  {pid[:12]}  {what}")


def show_page(pid: str, pages: list[Page]) -> None:
    matches = [pg for pg in pages if pg.pid == pid] or [
        pg for pg in pages if pg.pid.startswith(pid)
    ]
    if len(matches) != 1:
        sys.exit(f"no single page matches {pid!r} ({len(matches)} matches)")
    page = matches[0]
    try:
        result = extract(page.raw, page.url)
        text = result.text
        meta = {
            k: getattr(result, k)
            for k in ("title", "author", "published_at", "language", "quality", "word_count")
        }
    except ExtractionError as exc:
        text, meta = "", {"error": f"{exc.code}: {exc.message}"}
    print(f"{page.pid} ({page.kind}, {page.split})\n{page.url}")
    print(f"word F1 {word_f1(page.truth, text):.3f}  shingle P/R {article_score(page.truth, text)}")
    print(f"{meta}\n")
    print("=" * 30, "PREDICTED", "=" * 30)
    print(text)
    print("=" * 30, "TRUTH", "=" * 30)
    print(page.truth)
    t_sh = set(shingles(page.truth))
    print("=" * 30, "PREDICTED PARAGRAPHS NOT IN TRUTH", "=" * 30)
    for para in text.split("\n\n"):
        sh = shingles(para)
        if sh and not any(s in t_sh for s in sh):
            print("-", para[:200])
    p_sh = set(shingles(text))
    print("=" * 30, "TRUE PARAGRAPHS MISSED", "=" * 30)
    for para in page.truth.split("\n"):
        sh = shingles(para)
        if sh and not any(s in p_sh for s in sh):
            print("-", para[:200])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=("articles", "wcxb"), help="run one benchmark")
    ap.add_argument("--split", choices=("dev", "held-out"), help="WCXB: one half only")
    ap.add_argument("--type", choices=TYPES, help="WCXB: one page type only")
    ap.add_argument("--no-trafilatura", action="store_true", help="Fuze alone (faster)")
    ap.add_argument("--page", help="show one page's predicted text vs truth (id or id prefix)")
    ap.add_argument("--repeats", type=int, default=3, help="timing rounds over all pages")
    ap.add_argument("--worst", type=int, default=0, help="how many worst pages to list")
    args = ap.parse_args()

    articles = load_articles() if args.only != "wcxb" else []
    wcxb = load_wcxb() if args.only != "articles" else []
    if args.split:
        wcxb = [pg for pg in wcxb if pg.split == args.split]
    if args.type:
        wcxb = [pg for pg in wcxb if pg.kind == args.type]
    if args.page:
        show_page(args.page, wcxb + articles)
        return
    traf = None if args.no_trafilatura else trafilatura_fn()
    if traf is None and not args.no_trafilatura:
        print("(trafilatura is not installed: pip install -e '.[dev]')")
    if articles:
        report_articles(articles, traf, args.worst)
    if wcxb:
        halves = [args.split] if args.split else ["held-out", "dev", "all"]
        report_wcxb(wcxb, traf, args.worst, halves)
    for name, pages in (("articles", articles), ("WCXB", wcxb)):
        if pages and args.repeats:
            ms = timings(pages, args.repeats)
            print(
                f"\nfuze time per page, {name}: median {statistics.median(ms):.2f} ms"
                f"  p95 {p95(ms):.2f} ms"
            )


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # `... | head`
        sys.stderr.close()
