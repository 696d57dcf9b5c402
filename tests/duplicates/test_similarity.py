"""The content check on its own: what counts as the same text."""

from __future__ import annotations

import random

from app.duplicates import similarity

SENTENCE = (
    "the crew checked every latch twice before the long approach began and the ground team "
    "counted down the metres while the station turned slowly above a dark ocean at night"
)
WORDS = SENTENCE.split()


def article(n: int, seed: int = 0) -> str:
    """n words of one made-up article: the same seed, the same words."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def test_a_truncated_copy_with_a_header_is_the_same_text() -> None:
    full = article(600)
    copy = "Originally published on Orbit Notes. " + " ".join(full.split()[:360])
    c = similarity.compare(0.95, similarity.shingles(full), similarity.shingles(copy))
    assert c.duplicate and c.containment > 0.95 and c.size_ratio < 0.7


def test_a_teaser_of_the_opening_is_not_the_article() -> None:
    full = article(1000)
    teaser = " ".join(full.split()[:80])
    c = similarity.compare(0.9, similarity.shingles(full), similarity.shingles(teaser))
    assert c.containment == 1.0 and not c.duplicate, "too small a part of the article"


def test_close_meaning_with_other_words_is_not_a_duplicate() -> None:
    a, b = article(400, seed=0), article(400, seed=3)
    c = similarity.compare(0.97, similarity.shingles(a), similarity.shingles(b))
    assert not c.duplicate
    assert similarity.reason(0.974) == "same text 97%"
    assert similarity.reason(1.0, 0.5) == "same text 100%, one copy shorter"
