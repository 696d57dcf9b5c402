"""Fetching a saved page: refused for internal addresses (SSRF), bounded in size and time, and
decoded to text.

Safety model
------------
* `check_url` / `vet_url` check a URL syntactically (http/https only, a host, no credentials,
  no well-known non-HTTP port), then resolve the host with the system resolver (getaddrinfo, so
  numeric forms like `2130706433` or `0x7f.1` resolve exactly as the OS would) and refuse the URL
  if ANY resolved address is internal: loopback, private, link-local, CGNAT, unique-local,
  multicast, unspecified, reserved, IPv4 embedded in IPv6 (mapped, NAT64, 6to4, Teredo) pointing
  at one of those, and the cloud metadata endpoints. `allow_private_networks` lets private and
  loopback ranges through; metadata, multicast, unspecified and reserved stay refused always.
* `fetch` vets every hop (the first URL and each redirect target) and then connects to the very
  address it vetted, not to whatever the name resolves to a moment later (DNS rebinding): the
  request URL's host is replaced by the vetted IP, while the original name is sent as the Host
  header and, for https, as the TLS SNI name (`extensions={"sni_hostname": ...}`), against which
  httpcore also verifies the certificate. Because the connection pool is keyed by the IP, https
  requests ask for `Connection: close`, so a TLS connection made for one name is never reused
  for another name on the same IP (a CDN would answer 421, and the second name's certificate
  would never have been checked). Plain http connections may be shared: the Host header is
  what picks the site there.
* The shared client ignores proxy/netrc environment variables (`trust_env=False`: a proxy would
  resolve names itself and defeat the pinning) and keeps no cookies (it serves every user).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email.utils
import html as html_lib
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from app.config import Settings
from app.extraction.documents import is_pdf

__all__ = [
    "FetchError",
    "FetchResult",
    "Resolver",
    "VettedURL",
    "Vetter",
    "check_url",
    "fetch",
    "make_http_client",
    "parse_retry_after",
    "parse_url",
    "system_resolve",
    "vet_url",
]

# The whole fetch (DNS, every hop, the body) must end within this many times
# `fetch_timeout_seconds`, which is also the per-phase (connect/read/write/pool) timeout.
OVERALL_DEADLINE_FACTOR = 2.0
MAX_URL_LENGTH = 8192
# When a name has several vetted addresses, the ones tried in turn when a connection fails.
MAX_ADDRESSES_TRIED = 3

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Saved as documents (app/extraction/documents.py): the file is kept, its text read from it.
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
# Bytes read before the kind of a body is decided (the WHATWG HTML sniffing window).
_SNIFF_BYTES = 1024
# Types that say nothing: the body is sniffed, and accepted only when it looks like HTML.
_SNIFFED_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/unknown",
        "unknown/unknown",
    }
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_ACCEPT = (
    "text/html,application/xhtml+xml;q=0.9,application/pdf;q=0.8,text/markdown;q=0.8,"
    "text/plain;q=0.8,*/*;q=0.5"
)

# The Fetch standard's "bad ports": services that are not web servers (mail, ssh, irc, ...).
_BAD_PORTS = frozenset(
    {
        *(1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95),
        *(101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161),
        *(179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563),
        *(587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060),
        *(5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080),
    }
)
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused always, even with allow_private_networks.
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a "public" address only reachable inside Azure)
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)
_ALWAYS_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
        "::/128",  # unspecified
        "ff00::/8",  # multicast
    )
)
# Refused unless allow_private_networks; anything else that is not globally routable
# (`ip.is_global` false: documentation, benchmarking, protocol ranges) is treated the same.
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass
class FetchResult:
    """A fetched page.

    `content_type` is the media type the page was handled as ("text/html" for a body without a
    usable type that sniffed as HTML). `charset` is the WHATWG-style name of the encoding used
    to decode it (a page labelled iso-8859-1 or us-ascii is decoded as windows-1252, as browsers
    do). A text/plain page is accepted and its `html` is the text, escaped, inside
    `<html><body><pre>...</pre></body></html>`.

    A document (`document_kind` "pdf" or "markdown") has its file in `document` and an empty
    `html`: a PDF's bytes as received (any body starting with `%PDF-`, whatever its type says),
    Markdown decoded and encoded again as UTF-8.
    """

    url: str  # final URL after redirects
    status: int
    content_type: str
    charset: str | None
    html: str
    raw_size: int  # bytes received, before content decoding (gzip/deflate)
    redirects: list[str] = field(default_factory=list)  # each redirect target, in order
    document: bytes | None = None
    document_kind: str | None = None


_TRANSIENT_CODES = frozenset({"timeout", "connection_failed"})


class FetchError(Exception):
    """A fetch that failed, with a sentence for the user and whether a retry may help.

    code: invalid_url, blocked_address, dns_failed, timeout, connection_failed,
    too_many_redirects, too_large, not_html (not a page, PDF, Markdown or text), http_error.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        transient: bool | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        if transient is None:
            transient = code in _TRANSIENT_CODES or (
                code == "http_error" and status is not None and is_transient_status(status)
            )
        self.transient = transient

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (job results), keyword fields kept
        return (type(self), (self.code, self.message), dict(self.__dict__))

    def __repr__(self) -> str:
        return (
            f"FetchError(code={self.code!r}, status={self.status!r}, "
            f"transient={self.transient!r}, retry_after={self.retry_after!r}, "
            f"message={self.message!r})"
        )


def is_transient_status(status: int) -> bool:
    return status >= 500 or status in _TRANSIENT_STATUSES


# --- URL and address vetting -------------------------------------------------------------------


@dataclass(frozen=True)
class VettedURL:
    """A URL that passed the checks, and the addresses (all checked) it may be fetched from."""

    url: httpx.URL
    addresses: tuple[str, ...]


# (host, port) -> IP address strings; raises socket.gaierror when the name does not resolve.
Resolver = Callable[[str, int], Awaitable[list[str]]]
# (url, allow_private) -> VettedURL, or FetchError; `fetch` takes one so tests can inject theirs.
Vetter = Callable[[str, bool], Awaitable[VettedURL]]


def _invalid(message: str) -> FetchError:
    return FetchError("invalid_url", message, transient=False)


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """The syntactic checks, no network: raises FetchError("invalid_url")."""
    if isinstance(url, httpx.URL):
        url = str(url)
    if not isinstance(url, str) or not url.strip():
        raise _invalid("The link is empty.")
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise _invalid(f"The link is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise _invalid("The link is not a valid web address.") from None
    if parsed.scheme not in ("http", "https"):
        if not parsed.scheme:
            raise _invalid(
                "The link is not a full web address (it must start with http:// or https://)."
            )
        raise _invalid(f"Only http:// and https:// links can be fetched, not {parsed.scheme}:.")
    if not parsed.raw_host:
        raise _invalid("The link has no host name.")
    if parsed.userinfo:
        raise _invalid("Links with a user name or password in them are not fetched.")
    port = parsed.port
    if port is not None and not 0 < port < 65536:
        raise _invalid(f"The link's port {port} is not valid.")
    if port in _BAD_PORTS:
        raise _invalid(f"Fuze does not fetch pages on port {port}.")
    host = parsed.raw_host.decode("ascii", "replace").lower()
    if ":" in host:  # an IPv6 literal
        if "%" in host:
            raise _invalid("Links with an IPv6 zone id are not fetched.")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _invalid("The link's host is not a valid address.") from None
    elif not _HOST_NAME.match(host):
        raise _invalid("The link's host name is not valid.")
    return parsed


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the OS resolver gives for host, in its order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    return addresses


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that traffic to this IPv6 address may end up at (6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def address_block_reason(ip: IPAddress, allow_private: bool) -> str | None:
    """None when the address may be fetched; else "metadata", "reserved" or "private"."""
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses reach the IPv4
        # address inside them: judge that one alone.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    candidates: list[IPAddress] = [ip, *_embedded_ipv4(ip)]
    if any(c in _METADATA_ADDRESSES for c in candidates):
        return "metadata"
    verdict = None
    for c in candidates:
        if c.is_multicast or c.is_unspecified or _in(c, _ALWAYS_BLOCKED):
            return "reserved"
        if _in(c, _PRIVATE):  # before is_reserved: ::1 lies in the reserved ::/8
            verdict = verdict or "private"
        elif c.is_reserved:
            return "reserved"
        elif not c.is_global:
            verdict = verdict or "private"
    if verdict == "private" and allow_private:
        return None
    return verdict


def _in(ip: IPAddress, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def _blocked(host: str, address: str, reason: str) -> FetchError:
    if reason == "metadata":
        where = host if address == host else f"{host} ({address})"
        message = f"{where} is a cloud metadata service; Fuze never fetches those."
    elif reason == "reserved":
        message = f"{host} points to a reserved or multicast address ({address}), which Fuze does not fetch."
    else:
        message = (
            f"{host} points to a private or local network address ({address}), which Fuze does "
            "not fetch (an administrator can allow it with FUZE_ALLOW_PRIVATE_NETWORKS)."
        )
    return FetchError("blocked_address", message, transient=False)


async def vet_url(url: str, allow_private: bool, *, resolve: Resolver | None = None) -> VettedURL:
    """Checks url and everything its host resolves to; raises FetchError("invalid_url" |
    "blocked_address" | "dns_failed")."""
    parsed = parse_url(url)
    host = parsed.raw_host.decode("ascii")
    if host.rstrip(".").lower() in _METADATA_HOSTS:
        raise _blocked(host, host, "metadata")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    ips = await _addresses(host, port, resolve or system_resolve)
    for ip in ips:  # refuse if ANY answer is internal: the OS could connect to any of them
        reason = address_block_reason(ip, allow_private)
        if reason is not None:
            raise _blocked(host, str(ip), reason)
    return VettedURL(url=parsed, addresses=tuple(str(ip) for ip in ips))


async def _addresses(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    """The host itself when it is an IP literal, else every address the resolver gives (which
    also turns numeric forms such as 2130706433 or 0x7f.1 into the address the OS would use)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        answers = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        again = isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN
        message = (
            f"The host name {host} could not be looked up right now."
            if again
            else f"The host name {host} could not be found."
        )
        raise FetchError("dns_failed", message, transient=again) from None
    try:
        ips = [ipaddress.ip_address(a) for a in answers]
    except ValueError:
        raise FetchError(
            "dns_failed", f"The host name {host} resolved to an invalid address."
        ) from None
    if not ips:
        raise FetchError("dns_failed", f"The host name {host} has no address.")
    return ips


async def check_url(url: str, allow_private: bool) -> None:
    """Raises FetchError("invalid_url" | "blocked_address" | "dns_failed") for a URL that
    `fetch` would refuse before connecting; the cheap syntactic checks come first."""
    await vet_url(url, allow_private)


# --- the client ----------------------------------------------------------------------------


def _timeouts(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.fetch_timeout_seconds)


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The client for `fetch`, one per worker process. Redirects are followed by `fetch` (each
    target is vetted); cookies are never stored; proxy and netrc settings from the environment
    are ignored (a proxy would resolve names itself, defeating the address pinning)."""
    return httpx.AsyncClient(
        timeout=_timeouts(settings),
        follow_redirects=False,
        max_redirects=settings.fetch_max_redirects,
        http1=True,
        http2=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={
            "User-Agent": settings.fetch_user_agent,
            "Accept": _ACCEPT,
            # Only what `_Inflater` decodes with a bounded output size.
            "Accept-Encoding": "gzip, deflate",
        },
        limits=httpx.Limits(
            max_connections=64, max_keepalive_connections=16, keepalive_expiry=15.0
        ),
    )


# --- fetching ------------------------------------------------------------------------------


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    vet: Vetter = vet_url,
) -> FetchResult:
    """Fetches url as an HTML document, or a PDF or Markdown file (see FetchResult), or raises
    FetchError.

    Redirects (at most `fetch_max_redirects`) are followed here, each target vetted again; the
    body is streamed and refused past `fetch_max_bytes`; the whole fetch ends within
    OVERALL_DEADLINE_FACTOR x `fetch_timeout_seconds`, on top of httpx's per-phase timeouts, so
    a server dripping bytes cannot hold a job forever.
    """
    async with _deadline(settings, "The page"):
        return await _fetch(client, url, settings, vet)


@contextlib.asynccontextmanager
async def _deadline(settings: Settings, what: str) -> AsyncIterator[None]:
    """The whole of a fetch within OVERALL_DEADLINE_FACTOR x `fetch_timeout_seconds`; a
    timeout and httpx's transport errors raised as FetchErrors."""
    deadline = settings.fetch_timeout_seconds * OVERALL_DEADLINE_FACTOR
    try:
        async with asyncio.timeout(deadline):
            yield
    except TimeoutError:
        raise FetchError(
            "timeout", f"{what} took longer than {deadline:g} seconds to load.", transient=True
        ) from None
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from exc


async def _fetch(
    client: httpx.AsyncClient, url: str, settings: Settings, vet: Vetter
) -> FetchResult:
    async with _opened(client, url, settings, vet) as (response, target, redirects):
        return await _read_page(response, target, settings, redirects)


@contextlib.asynccontextmanager
async def _opened(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    vet: Vetter,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[tuple[httpx.Response, VettedURL, list[str]]]:
    """The 2xx (or 304, to a conditional request) response to a GET of url, its body unread:
    redirects followed (each target vetted again, loops and too many refused), any other
    status raised as a FetchError."""
    redirects: list[str] = []
    seen: set[str] = set()
    current = url
    while True:
        try:
            target = await vet(current, settings.allow_private_networks)
        except FetchError as exc:
            if redirects and exc.code in ("invalid_url", "blocked_address"):
                exc.message = (
                    f"The page redirected to an address Fuze will not fetch: {exc.message}"
                )
                exc.args = (exc.message,)
            raise
        seen.add(_loop_key(target.url))
        response = await _send(client, target, settings, extra_headers=headers)
        try:
            status = response.status_code
            location = response.headers.get("location")
            if status in _REDIRECT_STATUSES and location:
                try:
                    next_url = target.url.join(location.strip())
                except (httpx.InvalidURL, ValueError, UnicodeError):
                    raise _invalid("The page redirected to an invalid address.") from None
                if _loop_key(next_url) in seen:
                    raise FetchError(
                        "too_many_redirects", "The page redirects in a loop.", transient=False
                    )
                if len(redirects) >= settings.fetch_max_redirects:
                    raise FetchError(
                        "too_many_redirects",
                        f"The page redirected more than {settings.fetch_max_redirects} times.",
                        transient=False,
                    )
                redirects.append(str(next_url))
                current = str(next_url)
                continue
            if not (200 <= status < 300 or (status == 304 and headers)):
                raise _http_error(response)
            yield response, target, redirects
            return
        finally:
            await response.aclose()


@dataclass
class Asset:
    """A page's stylesheet, image or font, as fetch_asset() read it."""

    url: str  # after redirects
    media_type: str
    body: bytes


async def fetch_asset(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    max_bytes: int,
    *,
    vet: Vetter = vet_url,
) -> Asset:
    """Fetches one asset of a page for its archive, with the page's safeguards (every address
    vetted, redirects bounded, the same deadline) and its own size cap; raises FetchError."""
    async with _deadline(settings, "It"), _opened(client, url, settings, vet) as opened:
        response, target, _ = opened
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(max_bytes, int(declared))
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
        media_type, _ = _parse_content_type(response.headers.get("content-type"))
        return Asset(str(target.url), media_type, bytes(body))


def _loop_key(url: httpx.URL) -> str:
    return str(url.copy_with(fragment=None))


async def _send(
    client: httpx.AsyncClient,
    target: VettedURL,
    settings: Settings,
    *,
    method: str = "GET",
    content: bytes | None = None,
    extra_headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Sends the request (a GET unless told) to the vetted addresses (never re-resolving the
    name), the original name in the Host header and the TLS SNI; returns the response with
    its body unread."""
    url = target.url
    host = url.raw_host.decode("ascii")
    headers = {**(extra_headers or {}), "Host": url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        headers["Connection"] = "close"  # see the module docstring: no TLS reuse across names
        if ":" not in host and not _is_ipv4_literal(host):
            extensions["sni_hostname"] = host.rstrip(".")
    last_error: httpx.HTTPError | None = None
    for address in target.addresses[:MAX_ADDRESSES_TRIED]:
        request = client.build_request(
            method,
            url.copy_with(host=address),
            headers=headers,
            content=content,
            timeout=_timeouts(settings),
            extensions=extensions,
        )
        try:
            return await client.send(request, stream=True, follow_redirects=False)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if _is_certificate_error(exc):
                raise
            last_error = exc  # try the next vetted address
    if last_error is None:  # a vetter that returned no address
        raise FetchError("dns_failed", f"The host name {host} has no address.")
    raise last_error


@dataclass
class Feed:
    """What fetch_feed() read: the document (None when it did not change since the validators
    sent), its address after redirects, and the validators for the next request."""

    body: bytes | None
    url: str
    etag: str | None
    last_modified: str | None


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    vet: Vetter = vet_url,
) -> Feed:
    """GETs an RSS or Atom feed with the page fetcher's safeguards (vetted addresses, bounded
    redirects, size cap, deadline), conditionally: with the validators of the last fetch a
    feed that did not change answers 304 and costs nothing. Raises FetchError."""
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    async with (
        _deadline(settings, "The feed"),
        _opened(client, url, settings, vet, headers) as opened,
    ):
        response, target, _ = opened
        validators = (response.headers.get("etag"), response.headers.get("last-modified"))
        if response.status_code == 304:
            return Feed(
                None, str(target.url), etag or validators[0], last_modified or validators[1]
            )
        cap = settings.fetch_max_bytes
        inflater = _Inflater.for_response(response)  # decoded with a bounded output size
        body = bytearray()
        raw = 0
        try:
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                if raw > cap:
                    raise _BodyTooLarge
                body += inflater.feed(chunk, cap - len(body))
            inflater.finish()
        except _BodyTooLarge:
            raise _too_large(cap) from None
        return Feed(bytes(body), str(target.url), *validators)


@dataclass
class Posted:
    """What a POST of post_json() got back."""

    status: int
    body: bytes  # at most the first `keep` bytes


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    body: bytes,
    headers: dict[str, str],
    *,
    keep: int = 2048,
    vet: Vetter = vet_url,
) -> Posted:
    """POSTs a JSON body (a webhook) with the fetcher's safeguards: the address vetted (no
    internal address unless allowed), the name never resolved again, no redirect followed (a
    redirect is the answer), the whole call within the fetch deadline; raises FetchError."""
    async with _deadline(settings, "The endpoint"):
        target = await vet(url, settings.allow_private_networks)
        response = await _send(
            client, target, settings, method="POST", content=body,
            extra_headers={**headers, "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            kept = b""
            async for chunk in response.aiter_raw():
                kept += chunk
                if len(kept) >= keep:
                    break
            return Posted(response.status_code, kept[:keep])
        finally:
            await response.aclose()


def _is_ipv4_literal(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # the cause chain, bounded
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transport_error(exc: httpx.HTTPError) -> FetchError:
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("timeout", "The site did not answer in time.", transient=True)
    if isinstance(exc, httpx.ConnectError):
        if _is_certificate_error(exc):
            return FetchError(
                "connection_failed",
                "The site's security certificate could not be verified.",
                transient=False,
            )
        return FetchError(
            "connection_failed", "Fuze could not connect to the site.", transient=True
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return _invalid("The link is not a valid web address.")
    return FetchError(
        "connection_failed",
        "The connection to the site broke off before the page was received.",
        transient=True,
    )


def _http_error(response: httpx.Response) -> FetchError:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = response.reason_phrase or ""
    answered = f"{status} {phrase}".strip()
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    if 300 <= status < 400:
        message = f"The page answered {answered} without saying where to go."
    else:
        message = f"The page answered {answered}."
    return FetchError(
        "http_error",
        message,
        status=status,
        retry_after=retry_after,
        transient=is_transient_status(status),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- the body ------------------------------------------------------------------------------


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return f"{n} bytes"


def _too_large(cap: int, declared: int | None = None) -> FetchError:
    if declared is not None:
        message = f"The page is {_size(declared)}, more than the {_size(cap)} Fuze fetches."
    else:
        message = f"The page is larger than the {_size(cap)} Fuze fetches."
    return FetchError("too_large", message, transient=False)


def _not_html(media_type: str) -> FetchError:
    if not media_type:
        message = "The page did not say what kind of content it is, and it does not look like HTML."
    else:
        message = (
            f"The link points to a file of type {media_type}; Fuze saves web pages, PDFs, "
            "Markdown and plain text."
        )
    return FetchError("not_html", message, transient=False)


def _parse_content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    media_type, *params = value.split(";")
    charset = None
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'").strip() or None
    return media_type.strip().lower(), charset


def _declared_kind(media_type: str) -> str:
    """What the Content-Type alone says the body is; "sniff" when the first bytes decide."""
    if media_type in HTML_TYPES:
        return "html"
    if media_type == "text/plain":
        return "text"
    if media_type in MARKDOWN_TYPES:
        return "markdown"
    if media_type in PDF_TYPES:
        return "pdf"
    return "sniff"


def _sniffed_kind(declared: str, media_type: str, head: bytes | bytearray) -> str:
    """The kind of the body from its first bytes: a PDF whatever the type says (servers send
    them as octet-stream, x-download, even text/html), else what the type says; a body without
    a usable type only when it looks like HTML."""
    if is_pdf(head):
        return "pdf"
    if declared != "sniff":
        return declared
    if media_type in _SNIFFED_TYPES and _looks_like_html(head):
        return "html"
    raise _not_html(media_type)


def _cap_for(kind: str, settings: Settings) -> int:
    return settings.pdf_max_bytes if kind == "pdf" else settings.fetch_max_bytes


async def _read_page(
    response: httpx.Response, target: VettedURL, settings: Settings, redirects: list[str]
) -> FetchResult:
    media_type, header_charset = _parse_content_type(response.headers.get("content-type"))
    declared_kind = _declared_kind(media_type)
    # Until the first bytes say what the body is, the largest cap it could have.
    cap = max(settings.fetch_max_bytes, settings.pdf_max_bytes)
    declared = response.headers.get("content-length", "").strip()
    declared_size = int(declared) if declared.isdigit() else None
    if declared_size is not None and declared_size > cap:
        raise _too_large(_cap_for(declared_kind, settings), declared_size)

    kind: str | None = None
    inflater = _Inflater.for_response(response)
    body = bytearray()
    raw_size = 0

    def decide() -> None:
        nonlocal kind, cap
        kind = _sniffed_kind(declared_kind, media_type, body)
        cap = _cap_for(kind, settings)
        if declared_size is not None and declared_size > cap:
            raise _too_large(cap, declared_size)
        if raw_size > cap or len(body) > cap:
            raise _BodyTooLarge

    try:
        async for chunk in response.aiter_raw():
            raw_size += len(chunk)
            if raw_size > cap:
                raise _BodyTooLarge
            body += inflater.feed(chunk, cap - len(body))
            if kind is None and len(body) >= _SNIFF_BYTES:
                decide()
        inflater.finish()
        if kind is None:
            decide()
    except _BodyTooLarge:
        raise _too_large(cap) from None

    if kind == "pdf":
        return FetchResult(
            url=str(target.url),
            status=response.status_code,
            content_type="application/pdf",
            charset=None,
            html="",
            raw_size=raw_size,
            redirects=list(redirects),
            document=bytes(body),
            document_kind="pdf",
        )
    text, charset = _decode(body, header_charset, html=kind == "html")
    if kind == "markdown":
        return FetchResult(
            url=str(target.url),
            status=response.status_code,
            content_type="text/markdown",
            charset=charset,
            html="",
            raw_size=raw_size,
            redirects=list(redirects),
            document=text.encode("utf-8"),
            document_kind="markdown",
        )
    if kind == "text":
        text = "<html><body><pre>" + html_lib.escape(text, quote=False) + "</pre></body></html>"
    return FetchResult(
        url=str(target.url),
        status=response.status_code,
        content_type="text/html" if declared_kind == "sniff" else media_type,
        charset=charset,
        html=text,
        raw_size=raw_size,
        redirects=list(redirects),
    )


class _BodyTooLarge(Exception):
    pass


class _Inflater:
    """Content decoding (gzip/deflate) that never produces more than the room left under the
    cap: a small compressed body that inflates past it is refused without being inflated."""

    def __init__(self, encoding: str, response: httpx.Response) -> None:
        self._encoding = encoding
        self._response = response
        self._gzip = encoding in ("gzip", "x-gzip")
        self._obj: Any = None
        if encoding != "identity":
            self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._started = False
        self._finished = False

    @classmethod
    def for_response(cls, response: httpx.Response) -> _Inflater:
        value = response.headers.get("content-encoding", "")
        codings = [c.strip().lower() for c in value.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            return cls("identity", response)
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            return cls(codings[0], response)
        raise FetchError(
            "http_error",
            f"The page was sent in a content encoding Fuze cannot read ({value}).",
            status=response.status_code,
            transient=False,
        )

    def _corrupt(self) -> FetchError:
        return FetchError(
            "http_error",
            f"The page's {self._encoding} content could not be decoded.",
            status=self._response.status_code,
            transient=False,
        )

    def feed(self, data: bytes, room: int) -> bytes:
        if self._obj is None:
            if len(data) > room:
                raise _BodyTooLarge
            return data
        out = b""
        while data and not self._finished:
            try:
                # Asking for one byte more than the room tells "fits" from "too large"; when
                # the output stays under that limit, all of the input was consumed.
                piece = self._obj.decompress(data, room - len(out) + 1)
            except zlib.error:
                if self._encoding == "deflate" and not self._started:
                    # "deflate" is sometimes sent raw, without the zlib wrapper.
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise self._corrupt() from None
            self._started = True
            out += piece
            if len(out) > room:
                raise _BodyTooLarge
            if self._obj.eof:
                data = self._obj.unused_data
                if self._gzip and data.startswith(b"\x1f\x8b"):  # another gzip member
                    self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    continue
                self._finished = True  # trailing garbage after the stream is ignored
            else:
                data = b""
        return out

    def finish(self) -> None:
        """Checks that a compressed body was complete (an empty body is fine)."""
        if self._obj is not None and self._started and not self._finished and not self._obj.eof:
            raise self._corrupt()


# --- sniffing and decoding -----------------------------------------------------------------

_HTML_SIGNATURE = re.compile(
    rb"\s*(?:<!--|(?:<!doctype\s+html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a"
    rb"|<style|<title|<b|<body|<br|<p)[\s>])",
    re.IGNORECASE,
)


def _looks_like_html(body: bytes | bytearray) -> bool:
    """The WHATWG MIME sniffing rule for HTML: one of a few tags after optional whitespace."""
    head = bytes(body[:1024])
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    return _HTML_SIGNATURE.match(head) is not None


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"<meta\b[^>]*?\bcharset\s*=\s*[\"']?\s*([a-z0-9_.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(
    rb"\s*<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([a-z0-9_.:-]+)", re.IGNORECASE
)
# Labels that browsers read as a different (superset) encoding (WHATWG Encoding standard).
_WHATWG_ALIASES = {
    **dict.fromkeys(
        (
            "iso-8859-1",
            "iso8859-1",
            "iso_8859-1",
            "iso88591",
            "latin1",
            "latin-1",
            "l1",
            "cp819",
            "ibm819",
            "iso-ir-100",
            "csisolatin1",
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "x-user-defined",
        ),
        "windows-1252",
    ),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "latin5", "l5"), "windows-1254"),
    **dict.fromkeys(("iso-8859-11", "tis-620"), "windows-874"),
    **dict.fromkeys(("gb2312", "gb_2312-80", "x-gbk", "csgb2312"), "gbk"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "csksc56011987"), "cp949"),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji"), "cp932"),
    "big5": "big5hkscs",
}
# Python text codecs no web page may select (utf-7 smuggles markup past filters).
_FORBIDDEN_CODECS = frozenset(
    {"utf-7", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}
)


def _codec(label: str | None, *, from_meta: bool) -> tuple[str, str] | None:
    """(python codec, display name) for a charset label, or None when unknown/unsafe."""
    if not label:
        return None
    key = label.strip().strip("\"'").strip().lower()
    key = _WHATWG_ALIASES.get(key, key)
    if from_meta and key.replace("_", "-").startswith("utf-16"):
        key = "utf-8"  # the document was readable as ASCII, so it is not really UTF-16
    try:
        info = codecs.lookup(key)
        b"".decode(info.name)  # text encodings only (not base64, rot13, ...)
    except (LookupError, ValueError):
        return None
    if info.name in _FORBIDDEN_CODECS:
        return None
    display = re.sub(r"^cp(125\d)$", r"windows-\1", info.name)
    display = re.sub(r"^iso8859-(\d+)$", r"iso-8859-\1", display)
    return info.name, display


def _prescan(body: bytes | bytearray) -> str | None:
    head = bytes(body[:4096])
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def _decode(body: bytes | bytearray, header_charset: str | None, *, html: bool) -> tuple[str, str]:
    """Decodes by, in order: a byte order mark (it wins over the header, as in browsers and the
    HTML standard), the Content-Type charset, a <meta charset> / http-equiv / XML declaration in
    the first 4 KB (HTML only), UTF-8 if the bytes are valid UTF-8, else windows-1252."""
    view = memoryview(body)
    for bom, name in _BOMS:
        if body.startswith(bom):
            return str(view[len(bom) :], name, "replace"), name
    candidates = [(header_charset, False)]
    if html:
        candidates.append((_prescan(body), True))
    for label, from_meta in candidates:
        found = _codec(label, from_meta=from_meta)
        if found is not None:
            codec, display = found
            return str(view, codec, "replace"), display
    try:
        return str(view, "utf-8"), "utf-8"
    except UnicodeDecodeError:
        return str(view, "cp1252", "replace"), "windows-1252"
