"""Duplicates by meaning: precision and recall of app/duplicates on pairs built from public data.

Pages come from ../shared/data (or $FUZE_DATA): the 91 news and blog articles of
`extraction/` and the 1,497 pages of `extraction-wcxb/` (seven page types). Every page,
original or built, goes through the real extractor (app.extraction.extract) and the real
model (app.embeddings: all-MiniLM-L6-v2 on `bookmark_text`, as the pipeline embeds a page).

Positive pairs: an article (the 91, and the WCXB pages of type "article") beside the same
article rendered another way, built from its true text (the data set's ground truth):

- retemplated: another site's template (header, navigation, a "trending" sidebar, footer);
- amp: a stripped AMP-like page that keeps the first 60% of the paragraphs and a
  "read the full story" link (a truncated mobile copy);
- syndicated: a partner site's copy, "Originally published on ..." on top, the last quarter
  of the paragraphs trimmed, an author box and a "more from our partners" list added;
- ref: the very same bytes under another URL (a ?ref= variant the URL rules missed).

Negative pairs:

- same-site: two different pages of one site (WCXB sites with several pages, and the
  articles of one site): the same template, different content, the hard case;
- same-topic: each original page beside its nearest other original by embedding (a
  different page that the candidate step alone would call a duplicate).

The candidate step is simulated as the app runs it: a pair is a candidate when one page is
among the other's NEIGHBOURS nearest pages of the whole corpus (every original and every
built copy, about 3,000 pages: a library) with cosine >= MIN_COSINE. Pairs are split in
two halves by a hash of the source page: thresholds are chosen on "dev" (grid search for the
best F1), and the figures that count are the app's thresholds on "held-out".

    python bench/duplicates.py            # app thresholds: figures per pair kind, both halves
    python bench/duplicates.py --grid     # and the best thresholds on dev
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html as htmlmod
import itertools
import json
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.duplicates import similarity  # noqa: E402
from app.embeddings.service import Embedder, bookmark_text  # noqa: E402
from app.extraction.extract import ExtractionError, extract  # noqa: E402

SHARED = Path(os.environ.get("FUZE_DATA", ROOT.parent / "shared" / "data"))
ARTICLES = SHARED / "extraction"
WCXB = SHARED / "extraction-wcxb"
CACHE = Path(os.environ.get("FUZE_BENCH_CACHE", "/tmp/fuze-bench-duplicates.npz"))
NEIGHBOURS = 10
POSITIVE = ("retemplated", "amp", "syndicated", "ref")
NEGATIVE = ("same-site", "same-topic", "digest")
# A "negative" whose two true texts (the data sets' ground truth) share this much is the same
# page twice in the data (docs/18/ and docs/current/ of one manual): left out, and counted.
SAME_TRUTH = 0.8
MAX_PAIRS_PER_SITE = 6


@dataclass
class Page:
    key: str
    url: str
    title: str | None
    text: str
    shingles: frozenset[int]
    vector: np.ndarray | None = None
    truth: frozenset[int] = frozenset()  # the shingles of its true main text, if known


def half(key: str) -> str:
    return "dev" if hashlib.sha1(key.encode()).digest()[0] % 2 == 0 else "held-out"


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in body.split("\n") if p.strip()]


def _p(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{htmlmod.escape(p)}</p>" for p in paragraphs)


def _links(rng: random.Random, n: int, words: list[str]) -> str:
    items = []
    for i in range(n):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(4, 8))).capitalize()
        items.append(f'<li><a href="/story/{i}-{rng.randint(1000, 9999)}">{title}</a></li>')
    return "<ul>" + "".join(items) + "</ul>"


FILLER = [
    "market",
    "city",
    "council",
    "weather",
    "season",
    "team",
    "report",
    "local",
    "music",
    "film",
    "science",
    "health",
    "travel",
    "study",
    "record",
    "plan",
    "school",
    "budget",
    "energy",
    "vote",
    "court",
    "police",
    "sport",
    "festival",
    "week",
    "review",
]


def retemplated(title: str, paragraphs: list[str], rng: random.Random) -> str:
    nav = "".join(f'<a href="/{w}">{w.title()}</a> ' for w in rng.sample(FILLER, 8))
    return f"""<!DOCTYPE html><html><head><title>{htmlmod.escape(title)} | The Mirror Post</title>
<meta name="description" content="Latest news and analysis."></head><body>
<header><div class="logo">The Mirror Post</div><nav>{nav}</nav></header>
<main><article><h1>{htmlmod.escape(title)}</h1><p class="byline">By Staff Reporter</p>
{_p(paragraphs)}</article>
<aside class="sidebar"><h3>Trending now</h3>{_links(rng, 6, FILLER)}</aside></main>
<footer><p>&copy; 2026 The Mirror Post. All rights reserved.</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer></body></html>"""


def amp(title: str, paragraphs: list[str], url: str) -> str:
    kept = paragraphs[: max(1, round(len(paragraphs) * 0.6))]
    return f"""<!doctype html><html amp lang="en"><head><meta charset="utf-8">
<title>{htmlmod.escape(title)}</title><link rel="canonical" href="{htmlmod.escape(url)}">
</head><body><article><h1>{htmlmod.escape(title)}</h1>{_p(kept)}
<p><a href="{htmlmod.escape(url)}">Read the full story</a></p></article></body></html>"""


def syndicated(title: str, paragraphs: list[str], url: str, rng: random.Random) -> str:
    kept = paragraphs[: max(1, round(len(paragraphs) * 0.75))]
    site = urlparse(url).netloc
    return f"""<!DOCTYPE html><html><head><title>{htmlmod.escape(title)} - Partner Network</title>
</head><body><div id="top"><a href="/">Partner Network</a> <a href="/news">News</a>
<a href="/opinion">Opinion</a></div><div class="content"><h1>{htmlmod.escape(title)}</h1>
<p><em>This article was originally published on {site}. Read the original
<a href="{htmlmod.escape(url)}">here</a>.</em></p>{_p(kept)}
<div class="author-bio"><p>The author writes about technology, culture and the economy for
several publications.</p></div>
<div class="partners"><h3>More from our partners</h3>{_links(rng, 5, FILLER)}</div></div>
<div id="foot">Partner Network syndicates stories from publishers around the world.</div>
</body></html>"""


def digest(group: list[tuple[str, str]], rng: random.Random) -> str:
    items = "".join(
        f'<li><h2><a href="/s/{i}">{htmlmod.escape(" ".join(p.split()[:8]))}</a></h2>'
        f"<p>{htmlmod.escape(' '.join(p.split()[:60]))}… <a href='/s/{i}'>Read more</a></p></li>"
        for i, (_, p) in enumerate(group)
    )
    nav = "".join(f'<a href="/{w}">{w.title()}</a> ' for w in rng.sample(FILLER, 6))
    return f"""<!DOCTYPE html><html><head><title>Today's picks | Digest</title></head><body>
<header><nav>{nav}</nav></header><main><h1>Today's picks</h1><ul>{items}</ul></main>
<footer>Digest gathers the best of the web every morning.</footer></body></html>"""


def read(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def page(key: str, html: str | bytes, url: str) -> Page | None:
    try:
        got = extract(html, url)
    except ExtractionError:
        return None
    return Page(key, url, got.title, got.text, similarity.shingles(got.text))


def embed_all(pages: list[Page]) -> None:
    """The model's vector of each page's bookmark_text, cached on disk by the text's hash."""
    texts = [bookmark_text(p.title, None, p.text) for p in pages]
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    cache: dict[str, np.ndarray] = {}
    if CACHE.exists():
        with np.load(CACHE) as stored:
            cache = {k: stored[k] for k in stored.files}
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
    if todo:
        embedder = Embedder(batch_size=32, threads=os.cpu_count() or 1)
        started = time.perf_counter()
        for i in range(0, len(todo), 256):
            chunk = todo[i : i + 256]
            vectors = embedder.encode_sync([t for _, t in chunk])
            for (k, _), v in zip(chunk, vectors, strict=True):
                cache[k] = v
            print(f"  embedded {i + len(chunk)}/{len(todo)}", file=sys.stderr)
        print(f"  model: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        np.savez(CACHE, **cache)
    for p, k in zip(pages, keys, strict=True):
        p.vector = cache[k]


def build() -> tuple[list[Page], list[tuple[str, str, str, str]]]:
    """Every page of the corpus, and the pairs (kind, a key, b key, half)."""
    rng = random.Random(24)
    pages: dict[str, Page] = {}
    pairs: list[tuple[str, str, str, str]] = []
    sources: list[tuple[str, str, bytes, str]] = []  # key, url, html, true text
    truth = json.loads((ARTICLES / "ground-truth.json").read_text())
    for pid, item in sorted(truth.items()):
        url = item.get("url") or f"https://news.example/{pid}"
        sources.append(
            (f"a:{pid}", url, read(ARTICLES / "html" / f"{pid}.html.gz"), item["articleBody"])
        )
    wcxb = json.loads((WCXB / "ground-truth.json").read_text())
    by_site: dict[str, list[str]] = defaultdict(list)
    for pid, item in sorted(wcxb.items()):
        raw = read(WCXB / "html" / f"{pid}.html.gz")
        key = f"w:{pid}"
        item["url"] = item.get("url") or f"https://site.example/{pid}"
        if item["page_type"] == "article":
            sources.append((key, item["url"], raw, item.get("main_content") or ""))
        else:
            got = page(key, raw, item["url"])
            if got is not None:
                got.truth = similarity.shingles(item.get("main_content"))
                pages[key] = got
        by_site[urlparse(item["url"]).netloc].append(key)
    openings: list[tuple[str, str]] = []
    for key, url, raw, body in sources:
        original = page(key, raw, url)
        paragraphs = _paragraphs(body)
        if original is None or len(paragraphs) < 2:
            continue
        original.truth = similarity.shingles(body)
        pages[key] = original
        openings.append((key, paragraphs[0]))
        title = original.title or paragraphs[0][:80]
        built = {
            "retemplated": retemplated(title, paragraphs, rng),
            "amp": amp(title, paragraphs, url),
            "syndicated": syndicated(title, paragraphs, url, rng),
            "ref": raw,
        }
        for kind, html in built.items():
            copy_url = f"https://copy.example/{kind}/{hashlib.sha1(key.encode()).hexdigest()[:10]}"
            if kind == "ref":
                copy_url = url + ("&" if "?" in url else "?") + "ref=newsletter"
            copy = page(f"{key}:{kind}", html, copy_url)
            if copy is not None:
                pages[copy.key] = copy
                pairs.append((kind, key, copy.key, half(key)))
    # Digests: a front page quoting the openings of five articles, beside each of them.
    for n in range(0, len(openings) - 4, 5):
        group = openings[n : n + 5]
        listing = page(f"digest:{n}", digest(group, rng), f"https://digest.example/{n}")
        if listing is None:
            continue
        pages[listing.key] = listing
        for key, _ in group:
            pairs.append(("digest", key, listing.key, half(key)))
    for key, _, _, _ in sources:
        if key.startswith("a:"):
            by_site[urlparse(truth[key[2:]].get("url") or "").netloc or key].append(key)
    for site, keys in sorted(by_site.items()):
        keys = [k for k in keys if k in pages]
        combos = list(itertools.combinations(keys, 2))
        rng.shuffle(combos)
        for a, b in combos[:MAX_PAIRS_PER_SITE]:
            pairs.append(("same-site", a, b, half(site)))
    return list(pages.values()), pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", action="store_true", help="search thresholds on dev")
    parser.add_argument("--mistakes", action="store_true", help="list the pairs judged wrong")
    args = parser.parse_args()
    started = time.perf_counter()
    pages, pairs = build()
    print(f"{len(pages)} pages extracted in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    embed_all(pages)
    index = {p.key: i for i, p in enumerate(pages)}
    matrix = np.stack([p.vector for p in pages])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -1)
    top = np.argsort(-sims, axis=1)[:, :NEIGHBOURS]
    near = [set(row.tolist()) for row in top]
    originals = [i for i, p in enumerate(pages) if ":" not in p.key[2:]]
    seen = {(index[a], index[b]) for kind, a, b, _ in pairs if kind == "same-site"}
    seen |= {(j, i) for i, j in seen}
    for i in originals:  # same topic: the nearest other original page (not of one site)
        j = max((j for j in originals if j != i), key=lambda j: sims[i, j])
        if (i, j) not in seen:
            seen |= {(i, j), (j, i)}
            pairs.append(("same-topic", pages[i].key, pages[j].key, half(pages[i].key)))

    rows = []
    details = []
    same_truth: dict[str, int] = defaultdict(int)
    for kind, a, b, part in pairs:
        i, j = index[a], index[b]
        pa, pb = pages[i], pages[j]
        if (
            kind in NEGATIVE
            and pa.truth
            and pb.truth
            and similarity.compare(1.0, pa.truth, pb.truth).containment >= SAME_TRUTH
        ):
            same_truth[kind] += 1
            continue
        c = similarity.compare(float(sims[i, j]), pa.shingles, pb.shingles, pa.title, pb.title)
        candidate = j in near[i] or i in near[j]
        rows.append((kind, part, candidate, c))
        details.append((kind, part, pa, pb, candidate, c))
    print(f"{len(pairs)} pairs; total {time.perf_counter() - started:.0f} s\n", file=sys.stderr)

    def flagged(candidate: bool, c: similarity.Comparison, t: tuple[float, ...]) -> bool:
        cos, cont, ratio, small = t
        return (
            candidate
            and c.cosine >= cos
            and c.containment >= cont
            and c.size_ratio >= ratio
            and c.smaller >= small
        )

    app_t = (
        similarity.MIN_COSINE,
        similarity.MIN_CONTAINMENT,
        similarity.MIN_SIZE_RATIO,
        similarity.MIN_SHINGLES,
    )

    def prf(subset: list, t: tuple[float, ...]) -> tuple[float, float, float, int, int]:
        tp = sum(1 for k, _, cand, c in subset if k in POSITIVE and flagged(cand, c, t))
        fp = sum(1 for k, _, cand, c in subset if k in NEGATIVE and flagged(cand, c, t))
        pos = sum(1 for k, *_ in subset if k in POSITIVE)
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / pos if pos else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f, tp, fp

    if args.grid:
        dev = [row for row in rows if row[1] == "dev"]
        grid = itertools.product(
            (0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9),
            (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
            (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
            (1, 10, 25, 50),
        )
        scored = sorted(((prf(dev, t), t) for t in grid), key=lambda x: (-x[0][2], -x[0][0]))
        print("best on dev (cosine, containment, size ratio, shingles):")
        for (p, r, f, _, _), t in scored[:8]:
            print(f"  {t}: P {p:.3f} R {r:.3f} F1 {f:.3f}")
        print()

    for kind, n in sorted(same_truth.items()):
        print(f"left out: {n} {kind} pairs whose true texts are the same page")
    if args.mistakes:
        for kind, part, pa, pb, cand, c in details:
            if flagged(cand, c, app_t) != (kind in POSITIVE):
                print(f"{part:8} {kind:11} cand={int(cand)} cos={c.cosine:.2f} "
                      f"cont={c.containment:.2f} ratio={c.size_ratio:.2f} n={c.smaller} "
                      f"{pa.url[:60]} | {pb.url[:60]}")  # fmt: skip
        print()

    print(
        f"app thresholds: cosine >= {app_t[0]} (top {NEIGHBOURS} neighbours), containment >= "
        f"{app_t[1]}, size ratio >= {app_t[2]}, shingles >= {app_t[3]}\n"
    )
    print(f"{'half':9} {'positives vs negatives':32} {'pairs':>6} {'P':>6} {'R':>6} {'F1':>6}")
    for part in ("dev", "held-out"):
        mine = [row for row in rows if row[1] == part]
        negs = [row for row in mine if row[0] in NEGATIVE]
        poss = [row for row in mine if row[0] in POSITIVE]
        lines = [("all", "all", mine)]
        lines += [(k, "all", [r for r in poss if r[0] == k] + negs) for k in POSITIVE]
        lines += [("all", k, poss + [r for r in negs if r[0] == k]) for k in NEGATIVE]
        for pos_kind, neg_kind, subset in lines:
            p, r, f, _, _ = prf(subset, app_t)
            label = f"{pos_kind} vs {neg_kind}"
            print(f"{part:9} {label:32} {len(subset):6} {p:6.3f} {r:6.3f} {f:6.3f}")
        for cos in (0.8, 0.9, 0.95):  # the embedding alone, for comparison
            p, r, f, _, _ = prf(mine, (cos, 0.0, 0.0, 0))
            label = f"(cosine alone >= {cos})"
            print(f"{part:9} {label:32} {len(mine):6} {p:6.3f} {r:6.3f} {f:6.3f}")
        for kind in POSITIVE + NEGATIVE:
            subset = [row for row in mine if row[0] == kind]
            hit = sum(1 for k, _, cand, c in subset if flagged(cand, c, app_t))
            cands = sum(1 for _, _, cand, c in subset if cand and c.cosine >= app_t[0])
            what = "found" if kind in POSITIVE else "wrongly flagged"
            print(f"{'':9}   {kind:12} {len(subset):5} pairs, {cands:5} candidates, "
                  f"{hit:5} {what} ({hit / max(1, len(subset)):.1%})")  # fmt: skip
        print()


if __name__ == "__main__":
    main()
