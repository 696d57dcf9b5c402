"""Page archives (app/archives/build.py) on the real pages of ../shared/data/extraction:

    .venv/bin/python bench/archives.py [--image-kb 24] [--css-kb 12]

Nothing outside this machine can be reached, so every stylesheet, font and image a page asks
for is answered locally: images with a PNG of --image-kb, stylesheets with CSS of --css-kb
(fonts as images). So the figures measure the builder, not the web: its time per page (median,
p95), the archive's size (HTML and gzip-compressed, as stored), how many files each page pulls
in, the share of pages whose every image ends up inside the archive (none left pointing at
the network: an image the builder does not recognise, say a lazy-loading pattern it misses,
shows here), and what 1,000 such pages take on disk. A first pass answers nothing (every
asset refused): the page alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.archives.build import build_archive  # noqa: E402
from app.extraction.fetch import Asset, FetchError  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "extraction"
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_IMAGE_URL = re.compile(
    r"""=["']https?://[^"'\s]+\.(?:jpe?g|png|gif|webp|avif|svg)\b""", re.IGNORECASE
)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def run(args: argparse.Namespace) -> None:
    pages = {
        pid: gzip.decompress((DATA / "html" / f"{pid}.html.gz").read_bytes()).decode(
            "utf-8", "replace"
        )
        for pid in sorted(json.loads((DATA / "ground-truth.json").read_text()))
    }
    # Random bytes: compressed images do not shrink under gzip.
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(args.image_kb * 1024 - 8)
    css = (b"body{margin:0}" * (args.css_kb * 1024 // 14))[: args.css_kb * 1024]

    async def refuse(url: str, max_bytes: int) -> Asset:
        raise FetchError("offline", "No network here.")

    async def answer(url: str, max_bytes: int) -> Asset:
        path = url.split("?")[0].lower()
        if path.endswith(".css"):
            body, kind = css, "text/css"
        else:
            body, kind = png, "image/png"
        if len(body) > max_bytes:
            raise FetchError("too_large", "too large")
        return Asset(url, kind, body)

    for label, fetcher in (
        ("page alone (every file refused)", refuse),
        ("with every file answered", answer),
    ):
        times, sizes, stored, assets, complete = [], [], [], [], 0
        for page_html in pages.values():
            started = time.perf_counter()
            built = await build_archive(page_html, "https://example.com/article", fetcher)
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(built.html))
            stored.append(len(gzip.compress(built.html, 6)))
            assets.append(built.assets)
            images = _IMG.findall(built.html.decode("utf-8", "replace"))
            # An image with an address left (in src or a lazy-loading attribute) is missing;
            # one that never had any (filled in by a script) cannot be kept anywhere.
            complete += not any('src="data:' not in i and _IMAGE_URL.search(i) for i in images)
        print(f"\n{label}, {len(pages)} pages")
        print(
            f"  build time: median {statistics.median(times):.1f} ms, p95 {pct(times, 95):.1f} ms"
        )
        print(
            f"  archive: median {statistics.median(sizes) / 1024:.0f} KB"
            f" (p95 {pct(sizes, 95) / 1024:.0f} KB), stored gzip median"
            f" {statistics.median(stored) / 1024:.0f} KB (p95 {pct(stored, 95) / 1024:.0f} KB)"
        )
        print(
            f"  files inlined per page: median {statistics.median(assets):.0f}, max {max(assets)}"
        )
        if fetcher is answer:
            print(f"  pages whose every image is inside the archive: {complete / len(pages):.1%}")
        print(f"  1,000 such pages stored: {sum(stored) / len(stored) * 1000 / 1024 / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image-kb", type=int, default=24)
    parser.add_argument("--css-kb", type=int, default=12)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
