"""Whether two extracted pages say the same thing: the content check of duplicate detection.

Embedding cosine finds candidates but cannot tell "the same page" from "the same topic":
two different articles about one launch are as close as an article and its AMP copy. What
separates them is the text itself. Each page's text becomes the set of its 5-word shingles
(lower-cased `\\w+` words); two pages are the same text when most shingles of the smaller
one are in the larger (containment), which still holds for a syndicated copy with a header
and a trimmed ending, or for a truncated AMP page, and fails for two articles of one site,
whose shared template the extractor has already dropped. The thresholds are the ones
bench/duplicates.py measured (docs/duplicates.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"\w+")
SHINGLE = 5

# Calibrated on the dev half of bench/duplicates.py; see docs/duplicates.md for the figures.
MIN_COSINE = 0.60  # the candidate step (nearest neighbours by meaning)
MIN_CONTAINMENT = 0.50  # share of the smaller page's shingles found in the larger one
MIN_SHINGLES = 25  # below this a page is too short to call the same text by its words
# The smaller page must hold at least this share of the larger one's shingles: a teaser or
# a listing that quotes an article's opening is not that article.
MIN_SIZE_RATIO = 0.10


def shingles(text: str | None, k: int = SHINGLE) -> frozenset[int]:
    words = WORD.findall((text or "").lower())
    if len(words) < k:
        return frozenset({hash(" ".join(words))}) if words else frozenset()
    return frozenset(hash(" ".join(words[i : i + k])) for i in range(len(words) - k + 1))


def title_words(title: str | None) -> frozenset[str]:
    return frozenset(WORD.findall((title or "").lower()))


@dataclass(frozen=True)
class Comparison:
    cosine: float
    containment: float  # shared shingles / those of the smaller page
    jaccard: float  # shared / all shingles of the two
    size_ratio: float  # min(|A|, |B|) / max(|A|, |B|)
    smaller: int  # shingles in the smaller page
    title: float  # Jaccard of the titles' words

    @property
    def duplicate(self) -> bool:
        return (
            self.cosine >= MIN_COSINE
            and self.smaller >= MIN_SHINGLES
            and self.containment >= MIN_CONTAINMENT
            and self.size_ratio >= MIN_SIZE_RATIO
        )

    @property
    def score(self) -> float:
        """How much of the text is the same (0 to 1), what the user is shown."""
        return round(self.containment, 4)


def compare(
    cosine: float,
    a: frozenset[int],
    b: frozenset[int],
    title_a: str | None = None,
    title_b: str | None = None,
) -> Comparison:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    common = len(small & large) if small else 0
    union = len(small) + len(large) - common
    ta, tb = title_words(title_a), title_words(title_b)
    return Comparison(
        cosine=float(cosine),
        containment=common / len(small) if small else 0.0,
        jaccard=common / union if union else 0.0,
        size_ratio=len(small) / len(large) if large else 0.0,
        smaller=len(small),
        title=len(ta & tb) / len(ta | tb) if ta | tb else 0.0,
    )


def reason(score: float, size_ratio: float = 1.0) -> str:
    """What the user is told about a pair: "same text 97%", and whether one copy is cut short
    (an AMP page, a syndicated copy without its ending)."""
    same = f"same text {min(100, round(score * 100))}%"
    return same if size_ratio >= 0.8 else f"{same}, one copy shorter"
