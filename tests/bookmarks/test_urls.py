import pytest

from app.bookmarks.urls import InvalidUrl, normalize_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTP://Example.COM:80/a/b/?utm_source=x&b=2&a=1#frag", "http://example.com/a/b?a=1&b=2"),
        ("https://example.com:443/", "https://example.com/"),
        ("example.com/page", "https://example.com/page"),
        ("https://example.com/x/?fbclid=abc&gclid=1&utm_medium=m", "https://example.com/x"),
        ("https://example.com/p?z=1&a=2&a=1", "https://example.com/p?a=1&a=2&z=1"),
        ("https://example.com:8443/a%7eb/c%2fd", "https://example.com:8443/a~b/c%2Fd"),
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("https://example.com/search?q=", "https://example.com/search?q="),
    ],
)
def test_normalisation(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_equivalent_urls_normalise_to_one() -> None:
    variants = [
        "https://Example.com/article/?utm_campaign=spring&id=7",
        "https://example.com:443/article?id=7#comments",
        "https://example.com/article/?id=7&fbclid=xyz",
    ]
    assert len({normalize_url(v) for v in variants}) == 1


@pytest.mark.parametrize(
    "bad",
    ["ftp://example.com/f", "javascript:alert(1)", "https://", "https://user:pw@example.com/"],
)
def test_refused(bad: str) -> None:
    with pytest.raises(InvalidUrl):
        normalize_url(bad)
