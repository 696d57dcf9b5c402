"""The page fetcher against a local fake web server: SSRF refusals, redirects, limits, errors
and character sets. No database: Settings are built here, not taken from tests/conftest.py."""

from __future__ import annotations

import gzip
import pickle
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.extraction.fetch import (
    FetchError,
    FetchResult,
    VettedURL,
    Vetter,
    check_url,
    fetch,
    make_http_client,
    parse_retry_after,
    vet_url,
)
from tests.fakes.web import (
    BOM_TEXT,
    CP1251_TEXT,
    LATIN1_TEXT,
    MB,
    PAGE_TEXT,
    RETRY_AFTER_DATE_SECONDS,
    FakeWeb,
    big_body,
    html_page,
    make_certificate,
)


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": "postgresql://x@127.0.0.1/x",
        "allow_private_networks": True,
        "fetch_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


SETTINGS = make_settings()
PUBLIC = make_settings(allow_private_networks=False)


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(SETTINGS) as c:
        yield c


def public_test_vetter(*names: str) -> Vetter:
    """A vetter that treats `names` as public hosts living at 127.0.0.1 (the fake server), and
    vets everything else for real."""
    fake_names = set(names or ("public.test",))

    async def vet(url: str, allow_private: bool) -> VettedURL:
        parsed = httpx.URL(url)
        if parsed.host in fake_names:
            return VettedURL(url=parsed, addresses=("127.0.0.1",))
        return await vet_url(url, allow_private)

    return vet


async def fetch_error(
    client: httpx.AsyncClient, url: str, settings: Settings = SETTINGS, **kw: object
) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetch(client, url, settings, **kw)  # type: ignore[arg-type]
    return info.value


# --- the happy path --------------------------------------------------------------------------


async def test_fetches_a_page(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/page"), SETTINGS)
    assert isinstance(result, FetchResult)
    assert result.url == web.url("/page")
    assert result.status == 200
    assert result.content_type == "text/html"
    assert result.charset == "utf-8"
    assert PAGE_TEXT in result.html
    assert result.raw_size == len(web.routes["/page"].body)
    assert result.redirects == []


async def test_sends_the_user_agent_and_keeps_no_cookies(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    web.route("/cookie/set", html_page("c", "set"), headers={"Set-Cookie": "session=abc; Path=/"})
    web.route("/cookie/check", html_page("c", "check"))
    await fetch(client, web.url("/cookie/set"), SETTINGS)
    await fetch(client, web.url("/cookie/check"), SETTINGS)
    [seen] = web.requests_for("/cookie/check")
    assert seen.headers["user-agent"] == SETTINGS.fetch_user_agent
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert "cookie" not in seen.headers


async def test_follows_redirects_and_records_them(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/chain/3"), SETTINGS)
    assert result.redirects == [web.url("/chain/2"), web.url("/chain/1"), web.url("/chain/0")]
    assert result.url == web.url("/chain/0")
    assert "end" in result.html


async def test_relative_location_is_resolved_against_the_current_url(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    result = await fetch(client, web.url("/redirect/relative"), SETTINGS)
    assert result.redirects == [web.url("/page")]
    assert PAGE_TEXT in result.html


async def test_exactly_the_maximum_number_of_redirects_is_fine(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    result = await fetch(client, web.url("/chain/5"), SETTINGS)
    assert len(result.redirects) == SETTINGS.fetch_max_redirects == 5


async def test_a_sixth_redirect_is_refused(web: FakeWeb, client: httpx.AsyncClient) -> None:
    before = web.hits["/chain/0"]
    error = await fetch_error(client, web.url("/chain/6"))
    assert error.code == "too_many_redirects"
    assert not error.transient
    assert web.hits["/chain/0"] == before  # the 6th target was never requested


async def test_a_redirect_loop_is_refused(web: FakeWeb, client: httpx.AsyncClient) -> None:
    error = await fetch_error(client, web.url("/loop/a"))
    assert error.code == "too_many_redirects"
    assert "loop" in error.message
    assert not error.transient


async def test_a_redirect_to_another_scheme_is_refused(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    error = await fetch_error(client, web.url("/redirect/ftp"))
    assert error.code == "invalid_url"
    assert "redirected" in error.message


# --- SSRF ------------------------------------------------------------------------------------


def _blocked_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/page",
        f"http://localhost:{port}/page",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::1]:{port}/page",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",  # ::ffff:169.254.169.254
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/",  # ... as hex and a short form
        "http://0177.1/",  # ... in octal
        "http://metadata.google.internal/computeMetadata/v1/",
    ]


async def test_internal_addresses_are_refused_when_private_networks_are_off(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    seen_before = len(web.requests)
    for url in _blocked_urls(web.port):
        with pytest.raises(FetchError) as checked:
            await check_url(url, allow_private=False)
        assert checked.value.code == "blocked_address", url
        assert not checked.value.transient
        error = await fetch_error(client, url, PUBLIC)
        assert error.code == "blocked_address", url
    assert len(web.requests) == seen_before  # nothing reached the server


async def test_any_internal_address_in_the_dns_answer_is_refused() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.1.2.3"]

    with pytest.raises(FetchError) as info:
        await vet_url("http://rebind.test/", False, resolve=resolve)
    assert info.value.code == "blocked_address"
    assert "10.1.2.3" in info.value.message


async def test_public_dns_answers_pass_and_are_what_gets_connected_to() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("example.test", 443)
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    vetted = await vet_url("https://example.test/a?b=1", False, resolve=resolve)
    assert vetted.addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert str(vetted.url) == "https://example.test/a?b=1"


async def test_nat64_and_6to4_are_judged_by_the_ipv4_address_inside() -> None:
    for literal, blocked in [
        ("64:ff9b::a00:1", True),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", False),  # NAT64 of 8.8.8.8
        ("2002:a9fe:a9fe::1", True),  # 6to4 of 169.254.169.254
        ("2002:808:808::1", False),  # 6to4 of 8.8.8.8
    ]:
        url = f"http://[{literal}]/"
        if blocked:
            with pytest.raises(FetchError) as info:
                await check_url(url, allow_private=False)
            assert info.value.code == "blocked_address", literal
        else:
            await check_url(url, allow_private=False)


async def test_a_redirect_from_a_public_page_to_an_internal_address_is_refused(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    vet = public_test_vetter("public.test")
    page_hits = web.hits["/page"]
    for path in ("/redirect/loopback", "/redirect/private", "/redirect/metadata"):
        error = await fetch_error(client, web.url(path, host="public.test"), PUBLIC, vet=vet)
        assert error.code == "blocked_address", path
        assert "redirected" in error.message
    assert web.hits["/page"] == page_hits


async def test_connects_to_the_vetted_address_with_the_original_host_name(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    # "public.test" does not resolve at all: the request can only have gone to the vetted IP.
    web.route("/pinned", html_page("Pinned", "pinned"))
    result = await fetch(
        client, web.url("/pinned", host="public.test"), PUBLIC, vet=public_test_vetter()
    )
    assert result.url == web.url("/pinned", host="public.test")
    [seen] = web.requests_for("/pinned")
    assert seen.headers["host"] == f"public.test:{web.port}"


async def test_metadata_addresses_stay_refused_with_private_networks_allowed(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/",
        "http://metadata.google.internal./",
    ):
        with pytest.raises(FetchError) as info:
            await check_url(url, allow_private=True)
        assert info.value.code == "blocked_address", url
    error = await fetch_error(client, web.url("/redirect/metadata"))
    assert error.code == "blocked_address"
    assert "metadata" in error.message


async def test_private_addresses_pass_when_allowed() -> None:
    for url in (
        "http://127.0.0.1:8080/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[fd12::1]/",
        "http://100.64.0.1/",
        "http://localhost/",
    ):
        await check_url(url, allow_private=True)
    # ... but metadata, multicast and unspecified addresses never do.
    for url in ("http://169.254.170.2/", "http://224.0.0.1/", "http://0.0.0.0/", "http://[::]/"):
        with pytest.raises(FetchError) as info:
            await check_url(url, allow_private=True)
        assert info.value.code == "blocked_address", url


# --- invalid URLs and DNS --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<b>hi</b>",
        "http://",
        "http:///path",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        "example.com/no-scheme",
        "",
        "   ",
        "http://example.com:22/",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://0177.0.0.1/",  # httpx refuses zero-padded dotted quads outright
        "http://[::1%25eth0]/",
        "http://" + "a" * 9000 + ".com/",
    ],
)
async def test_invalid_urls(url: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(FetchError) as info:
        await check_url(url, allow_private=True)
    assert info.value.code == "invalid_url"
    assert not info.value.transient
    assert info.value.message
    error = await fetch_error(client, url)
    assert error.code == "invalid_url"


async def test_a_name_that_does_not_resolve() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def servfail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(FetchError) as info:
        await vet_url("http://nope.invalid/", False, resolve=nxdomain)
    assert (info.value.code, info.value.transient) == ("dns_failed", False)
    with pytest.raises(FetchError) as info:
        await vet_url("http://nope.invalid/", False, resolve=servfail)
    assert (info.value.code, info.value.transient) == ("dns_failed", True)


async def test_a_closed_port_is_a_transient_connection_failure(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await fetch_error(client, f"http://127.0.0.1:{port}/")
    assert error.code == "connection_failed"
    assert error.transient


# --- HTTP errors -----------------------------------------------------------------------------


async def test_404_is_permanent(web: FakeWeb, client: httpx.AsyncClient) -> None:
    error = await fetch_error(client, web.url("/status/404"))
    assert (error.code, error.status, error.transient) == ("http_error", 404, False)
    assert error.message == "The page answered 404 Not Found."
    assert error.retry_after is None


async def test_403_is_permanent_and_408_transient(web: FakeWeb, client: httpx.AsyncClient) -> None:
    assert not (await fetch_error(client, web.url("/status/403"))).transient
    assert (await fetch_error(client, web.url("/status/408"))).transient


async def test_500_is_transient(web: FakeWeb, client: httpx.AsyncClient) -> None:
    error = await fetch_error(client, web.url("/status/500"))
    assert (error.code, error.status, error.transient) == ("http_error", 500, True)
    assert "500 Internal Server Error" in error.message


async def test_429_is_transient_with_retry_after_seconds(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    error = await fetch_error(client, web.url("/status/429"))
    assert (error.code, error.status, error.transient) == ("http_error", 429, True)
    assert error.retry_after == 7.0


async def test_503_with_a_retry_after_date(web: FakeWeb, client: httpx.AsyncClient) -> None:
    error = await fetch_error(client, web.url("/status/503"))
    assert (error.status, error.transient) == (503, True)
    assert error.retry_after is not None
    assert 0 < error.retry_after <= RETRY_AFTER_DATE_SECONDS


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert (
        parse_retry_after(
            (now + timedelta(seconds=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now=now
        )
        == 5.0
    )
    for junk in (None, "", "soon", "-5", "1e9"):
        assert parse_retry_after(junk) is None


def test_fetch_errors_survive_pickling() -> None:
    error = FetchError("http_error", "The page answered 429.", status=429, retry_after=3.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.message, copy.status, copy.retry_after, copy.transient) == (
        "http_error",
        "The page answered 429.",
        429,
        3.0,
        True,
    )


# --- time and size limits --------------------------------------------------------------------


async def test_a_server_that_does_not_answer_times_out(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    error = await fetch_error(client, web.url("/slow"), make_settings(fetch_timeout_seconds=0.5))
    assert (error.code, error.transient) == ("timeout", True)


async def test_a_slow_drip_hits_the_overall_deadline(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    # A byte every 0.1 s never trips the 0.5 s read timeout; the overall deadline stops it.
    error = await fetch_error(client, web.url("/drip"), make_settings(fetch_timeout_seconds=0.5))
    assert (error.code, error.transient) == ("timeout", True)
    assert "longer than 1 seconds" in error.message


async def test_a_huge_chunked_body_is_cut_off(web: FakeWeb, client: httpx.AsyncClient) -> None:
    before = web.bytes_sent["/big/chunked"]
    error = await fetch_error(
        client, web.url("/big/chunked"), make_settings(fetch_max_bytes=1 * MB)
    )
    assert (error.code, error.transient) == ("too_large", False)
    assert "1 MB" in error.message
    assert web.wait_idle("/big/chunked")
    # The server got a broken pipe long before the 50 MB end (socket buffers let it run a bit
    # ahead of the 1 MB the client read).
    assert web.bytes_sent["/big/chunked"] - before < 10 * MB


async def test_a_huge_declared_length_is_refused_before_reading(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    before = web.bytes_sent["/big/length"]
    error = await fetch_error(client, web.url("/big/length"), make_settings(fetch_max_bytes=1 * MB))
    assert (error.code, error.transient) == ("too_large", False)
    assert "50 MB" in error.message  # decided from the Content-Length header
    assert web.wait_idle("/big/length")
    assert web.bytes_sent["/big/length"] - before < 10 * MB


async def test_the_cap_applies_after_decompression(web: FakeWeb, client: httpx.AsyncClient) -> None:
    bomb = gzip.compress(b"".join(big_body(20 * MB)))
    assert len(bomb) < 1 * MB
    web.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    error = await fetch_error(client, web.url("/bomb"), make_settings(fetch_max_bytes=1 * MB))
    assert error.code == "too_large"


async def test_a_body_just_under_the_cap_is_fine(web: FakeWeb, client: httpx.AsyncClient) -> None:
    web.route("/exact", stream=lambda: big_body(64 * 1024))
    result = await fetch(client, web.url("/exact"), make_settings(fetch_max_bytes=64 * 1024))
    assert result.raw_size == 64 * 1024


async def test_gzip_pages_are_decoded(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/gzip"), SETTINGS)
    assert PAGE_TEXT in result.html
    assert result.raw_size == len(web.routes["/gzip"].body)


# --- content types ---------------------------------------------------------------------------


async def test_a_pdf_is_kept_as_a_document(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/doc.pdf"), SETTINGS)
    assert (result.document_kind, result.content_type, result.html) == (
        "pdf",
        "application/pdf",
        "",
    )
    assert result.document == web.routes["/doc.pdf"].body


async def test_binary_octet_stream_is_not_html(web: FakeWeb, client: httpx.AsyncClient) -> None:
    error = await fetch_error(client, web.url("/binary"))
    assert error.code == "not_html"
    assert "application/octet-stream" in error.message


async def test_a_page_without_content_type_is_sniffed(
    web: FakeWeb, client: httpx.AsyncClient
) -> None:
    result = await fetch(client, web.url("/no-type"), SETTINGS)
    assert result.content_type == "text/html"
    assert "sniffed" in result.html
    web.route("/no-type-binary", b"\x89PNG\r\n\x1a\n....", content_type=None)
    assert (await fetch_error(client, web.url("/no-type-binary"))).code == "not_html"


async def test_plain_text_is_wrapped_in_pre(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/plain"), SETTINGS)
    assert result.content_type == "text/plain"
    assert result.html == (
        "<html><body><pre>plain &lt;text&gt; &amp; more\nsecond line</pre></body></html>"
    )


async def test_xhtml_is_accepted(web: FakeWeb, client: httpx.AsyncClient) -> None:
    web.route("/xhtml", html_page("x", "xhtml"), content_type="application/xhtml+xml")
    assert (
        await fetch(client, web.url("/xhtml"), SETTINGS)
    ).content_type == "application/xhtml+xml"


# --- character sets --------------------------------------------------------------------------


async def test_windows_1251_declared_in_meta(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/charset/cp1251"), SETTINGS)
    assert result.charset == "windows-1251"
    assert CP1251_TEXT in result.html
    assert "Кириллица" in result.html


async def test_iso_8859_1_declared_in_the_header(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/charset/latin1"), SETTINGS)
    assert result.charset == "windows-1252"  # what browsers decode iso-8859-1 as
    assert LATIN1_TEXT in result.html


async def test_utf8_bom(web: FakeWeb, client: httpx.AsyncClient) -> None:
    result = await fetch(client, web.url("/charset/bom"), SETTINGS)
    assert result.charset == "utf-8"
    assert BOM_TEXT in result.html
    assert "\ufeff" not in result.html


async def test_charset_precedence_and_fallbacks(web: FakeWeb, client: httpx.AsyncClient) -> None:
    text = "Привет"
    # The header wins over <meta>.
    web.route(
        "/cs/header-wins",
        html_page("x", text, head='<meta charset="iso-8859-1">').encode("koi8-r"),
        content_type="text/html; charset=KOI8-R",
    )
    # http-equiv form of <meta>.
    web.route(
        "/cs/http-equiv",
        html_page(
            "x",
            text,
            head='<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
        ).encode("cp1251"),
        content_type="text/html",
    )
    # Undeclared: valid UTF-8 is read as UTF-8 ...
    web.route("/cs/undeclared-utf8", html_page("x", text).encode(), content_type="text/html")
    # ... anything else as windows-1252.
    web.route(
        "/cs/undeclared-1252",
        html_page("x", "Ça coûte 5€").encode("cp1252"),
        content_type="text/html",
    )
    # An unknown label is skipped.
    web.route(
        "/cs/bogus", html_page("x", text).encode(), content_type="text/html; charset=no-such-thing"
    )

    got = {
        path: await fetch(client, web.url(path), SETTINGS)
        for path in (
            "/cs/header-wins",
            "/cs/http-equiv",
            "/cs/undeclared-utf8",
            "/cs/undeclared-1252",
            "/cs/bogus",
        )
    }
    assert got["/cs/header-wins"].charset == "koi8-r" and text in got["/cs/header-wins"].html
    assert got["/cs/http-equiv"].charset == "windows-1251" and text in got["/cs/http-equiv"].html
    assert got["/cs/undeclared-utf8"].charset == "utf-8" and text in got["/cs/undeclared-utf8"].html
    assert got["/cs/undeclared-1252"].charset == "windows-1252"
    assert "Ça coûte 5€" in got["/cs/undeclared-1252"].html
    assert got["/cs/bogus"].charset == "utf-8" and text in got["/cs/bogus"].html


# --- TLS with the pinned address -------------------------------------------------------------


async def test_https_sends_sni_and_verifies_the_original_name(tmp_path: Path) -> None:
    certfile, keyfile = make_certificate(tmp_path, ["public.test"])
    with FakeWeb(tls=(certfile, keyfile)) as tls_web:
        context = ssl.create_default_context(cafile=str(certfile))
        async with httpx.AsyncClient(verify=context, trust_env=False) as tls_client:
            result = await fetch(
                tls_client,
                tls_web.url("/page", host="public.test"),
                PUBLIC,
                vet=public_test_vetter(),
            )
            assert PAGE_TEXT in result.html
            assert tls_web.sni_names[-1] == "public.test"
            [seen] = tls_web.requests_for("/page")
            assert seen.headers["host"] == f"public.test:{tls_web.port}"
            assert seen.headers["connection"] == "close"

            # A name the certificate does not cover fails, although the IP is the same.
            error = await fetch_error(
                tls_client,
                tls_web.url("/page", host="other.test"),
                PUBLIC,
                vet=public_test_vetter("other.test"),
            )
            assert (error.code, error.transient) == ("connection_failed", False)
            assert "certificate" in error.message
