"""Precision and recall of the tags page's merge suggestions (app/tags/service.suggest), on
tag names judged by hand: groups that name one thing however written (case, separators,
plurals, initials, numeronyms, other words for it) beside distinct tags, many of them close
(java / javascript, machine learning / deep learning, frontend / backend), and the real tag
and folder names of the bookmark files in ../shared/data/imports.

    .venv/bin/python bench/tag_merge.py

Every pair of tags is judged: a pair is a true merge when both are in one judged group. A
suggestion merges its tags, and suggestions that share a tag merge into one (as accepting
them would), so the pairs predicted are those within the resulting groups. Printed: precision,
recall and F1 over all pairs, precision by the suggestion's reason, recall by how the names
differ, and the names-by-meaning floor swept on two halves of the groups (the floor is chosen
on one and read on the other).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "imports"

# Groups judged to name one thing, by how their names differ.
SAME: dict[str, list[list[str]]] = {
    "spelling": [
        ["machine-learning", "Machine Learning", "machine_learning"],
        ["web dev", "web-dev", "webdev"],
        ["tutorial", "tutorials"],
        ["podcast", "Podcasts"],
        ["data-science", "data science", "datascience"],
        ["to-read", "to read", "toread"],
        ["self-hosting", "selfhosting", "self hosting"],
        ["open source", "open-source", "opensource"],
        ["react hooks", "react-hooks"],
        ["recipe", "recipes"],
        ["book", "books"],
        ["video-games", "video games", "videogames"],
        ["front-end", "frontend", "front end"],
        ["back-end", "backend"],
        ["e-mail", "email"],
        ["home lab", "homelab"],
        ["dev-ops", "devops", "DevOps"],
        ["UI design", "ui-design"],
        ["climate change", "climate-change"],
        ["personal finance", "personal-finance", "personalfinance"],
    ],
    "initials": [
        ["QA", "quality assurance"],
        ["AI", "artificial intelligence"],
        ["NLP", "natural language processing"],
        ["UX", "user experience"],
        ["CI", "continuous integration"],
        ["LLM", "large language model"],
        ["SRE", "site reliability engineering"],
        ["DIY", "do it yourself"],
        ["OSS", "open source software"],
        ["CSS", "cascading style sheets"],
        ["SEO", "search engine optimisation"],
        ["IoT", "internet of things"],
    ],
    "other words": [
        ["k8s", "kubernetes"],
        ["js", "javascript"],
        ["postgres", "postgresql"],
        ["golang", "go language"],
        ["car", "automobile"],
        ["movies", "films"],
        ["cooking", "cookery"],
        ["photo", "photography"],
        ["maths", "mathematics"],
        ["economy", "economics"],
        ["startup", "start-up companies"],
        ["py", "python", "python programming"],
        ["ts", "typescript"],
        ["db", "databases"],
        ["infosec", "information security"],
        ["crypto", "cryptocurrency"],
        ["travel", "travelling"],
        ["wfh", "remote work"],
        ["ios dev", "iphone development"],
        ["nutrition", "diet and nutrition"],
    ],
}

# Tags judged distinct: from one another, from the groups above and from the real names.
DISTINCT = [
    "java",
    "javascript-frameworks",
    "typescript-types",
    "rust",
    "c",
    "c++",
    "c#",
    "kotlin",
    "swift",
    "react",
    "react-native",
    "vue",
    "angular",
    "svelte",
    "nextjs",
    "node",
    "deno",
    "sql",
    "nosql",
    "mongodb",
    "redis",
    "elasticsearch",
    "linux",
    "unix",
    "windows",
    "macos",
    "android",
    "ios",
    "security",
    "privacy",
    "cryptography",
    "deep learning",
    "reinforcement learning",
    "statistics",
    "computer vision",
    "robotics",
    "design",
    "web design",
    "graphic design",
    "typography",
    "illustration",
    "architecture",
    "backend-frameworks",
    "testing",
    "debugging",
    "performance",
    "accessibility",
    "cloud",
    "aws",
    "azure",
    "gcp",
    "serverless",
    "docker",
    "terraform",
    "ansible",
    "networking",
    "dns",
    "health",
    "fitness",
    "running",
    "cycling",
    "yoga",
    "meditation",
    "sleep",
    "cooking-equipment",
    "baking",
    "bread",
    "coffee",
    "tea",
    "wine",
    "beer",
    "music",
    "jazz",
    "guitar",
    "piano",
    "film-theory",
    "tv",
    "anime",
    "comics",
    "history",
    "philosophy",
    "psychology",
    "sociology",
    "politics",
    "law",
    "economics-history",
    "business",
    "marketing",
    "sales",
    "management",
    "leadership",
    "productivity",
    "careers",
    "interviews",
    "hiring",
    "finance",
    "investing",
    "taxes",
    "real estate",
    "insurance",
    "science",
    "physics",
    "chemistry",
    "biology",
    "astronomy",
    "space",
    "geology",
    "education",
    "teaching",
    "learning",
    "languages",
    "spanish",
    "french",
    "japanese",
    "parenting",
    "family",
    "relationships",
    "travel-insurance",
    "hotels",
    "flights",
    "camping",
    "hiking",
    "climbing",
    "gardening",
    "woodworking",
    "3d printing",
    "electronics",
    "arduino",
    "raspberry pi",
    "writing",
    "blogging",
    "journalism",
    "newsletters",
    "news",
    "weather",
    "sports",
    "football",
    "basketball",
    "tennis",
    "chess",
]


def real_tags() -> list[str]:
    """The tag and folder names people gave in the shared bookmark files."""
    from app.imports import parsers

    names: set[str] = set()
    for path in sorted(SHARED.glob("*")):
        try:
            with path.open("rb") as f:
                fmt = parsers.detect(f, path.name)
                f.seek(0)
                for entry in parsers.parse(f, fmt):
                    names.update(entry.tags)
        except Exception:  # a file of another kind (a ZIP member, say): not a tag source
            continue
    return sorted(names)


def vocabulary() -> tuple[list[str], dict[str, tuple[int, str]]]:
    """All names, and each judged group member's (group number, kind)."""
    group_of: dict[str, tuple[int, str]] = {}
    n = 0
    for kind, groups in SAME.items():
        for g in groups:
            for name in g:
                group_of[name.lower()] = (n, kind)
            n += 1
    names = {name for g in itertools.chain(*SAME.values()) for name in g}
    names |= set(DISTINCT) | set(real_tags())
    by_lower: dict[str, str] = {}
    for name in sorted(names):
        by_lower.setdefault(name.lower(), name)  # tags are case-insensitive
    return sorted(by_lower.values()), group_of


def union(groups: list[list[str]]) -> list[set[str]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for g in groups:
        for a in g[1:]:
            parent[find(a)] = find(g[0])
    out: dict[str, set[str]] = {}
    for x in parent:
        out.setdefault(find(x), set()).add(x)
    return list(out.values())


def pairs(groups: list[set[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(sorted(g), 2)}


def prf(predicted: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


async def run() -> None:
    from app.embeddings.service import Embedder
    from app.tags import service
    from app.tags.schemas import TagCount

    names, group_of = vocabulary()
    rng = random.Random(3)
    tags = [TagCount(id=uuid.uuid4(), name=n, count=rng.randint(1, 40)) for n in names]
    tags.sort(key=lambda t: (-t.count, t.name.lower()))
    truth_groups: dict[int, set[str]] = {}
    for name in names:
        if name.lower() in group_of:
            truth_groups.setdefault(group_of[name.lower()][0], set()).add(name.lower())
    truth = pairs(list(truth_groups.values()))

    embedder = Embedder(batch_size=64)  # the model the API embeds tag names with
    vectors = dict(zip(names, embedder.encode_sync(names), strict=True))

    async def embed(batch: list[str]) -> list[np.ndarray]:
        return [vectors[n] for n in batch]

    found = await service.suggest(tags, embed)
    merged = union([[t.name.lower() for t in s.tags] for s in found.merge])
    predicted = pairs(merged)
    p, r, f1 = prf(predicted, truth)
    print(
        f"{len(names)} tags ({len(real_tags())} real names from ../shared/data/imports), "
        f"{len(truth_groups)} judged groups, {len(truth)} true pairs of "
        f"{len(names) * (len(names) - 1) // 2:,}; floor by meaning {service.MEANING_FLOOR}\n"
    )
    print("| suggestions | pairs | precision | recall | F1 |\n|---|---|---|---|---|")
    print(f"| all | {len(predicted)} | {p:.3f} | {r:.3f} | {f1:.3f} |")
    for why in ("same words", "abbreviation", "close in meaning"):
        own = pairs(union([[t.name.lower() for t in s.tags] for s in found.merge if s.why == why]))
        print(f"| {why} | {len(own)} | {prf(own, truth)[0]:.3f} | | |")
    print("\n| names differ by | true pairs | recall |\n|---|---|---|")
    for kind in SAME:
        kind_truth = {pr for pr in truth if group_of[next(iter(pr))][1] == kind}
        print(
            f"| {kind} | {len(kind_truth)} | {len(predicted & kind_truth) / len(kind_truth):.3f} |"
        )
    wrong = sorted(tuple(sorted(pr)) for pr in predicted - truth)
    print(f"\nwrong merges ({len(wrong)}): {wrong[:20]}")

    # The floor swept on each half of the judged groups (distinct tags in both).
    ids = sorted(truth_groups)
    rng.shuffle(ids)
    halves = [set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])]
    print("\n| floor | half A P | half A R | half B P | half B R |\n|---|---|---|---|---|")
    saved = service.MEANING_FLOOR
    for floor in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        service.MEANING_FLOOR = floor
        cells = []
        for half in halves:
            keep = [
                t for t in tags
                if t.name.lower() not in group_of or group_of[t.name.lower()][0] in half
            ]  # fmt: skip
            got = await service.suggest(keep, embed)
            pred = pairs(union([[t.name.lower() for t in s.tags] for s in got.merge]))
            half_truth = pairs([truth_groups[i] for i in half])
            hp, hr, _ = prf(pred, half_truth)
            cells += [f"{hp:.3f}", f"{hr:.3f}"]
        print(f"| {floor} | " + " | ".join(cells) + " |")
    service.MEANING_FLOOR = saved


if __name__ == "__main__":
    asyncio.run(run())
