"""A local web server for tests: a threaded `http.server` on 127.0.0.1 with a random port.

    web = FakeWeb().start()            # or: with FakeWeb() as web: ...
    web.route("/hello", "<p>hi</p>", headers={"X-A": "1"}, status=200, delay=0.0)
    web.redirect("/old", "/hello")
    web.url("/hello")                  # "http://127.0.0.1:<port>/hello"
    web.hits["/hello"], web.requests   # requests seen (method, path, lower-cased headers)
    web.bytes_sent["/hello"]           # body bytes written, per path
    web.stop()

Routes match the path exactly (the query string is ignored). A route either has a fixed body
(sent with Content-Length) or a `stream` factory yielding chunks, sent chunked unless
`content_length` is declared. Pass `tls=(certfile, keyfile)` (see `make_certificate`) for https.

Standard routes (FakeWeb(standard_routes=False) leaves them out):

    /page                 a small UTF-8 HTML page
    /chain/<n>            n = 1..10: 302 to /chain/<n-1>; /chain/0 is a page
    /loop/a, /loop/b      redirect to each other
    /redirect/relative    302 with a relative Location ("../page")
    /redirect/loopback    302 to http://127.0.0.1:<port>/page
    /redirect/private     302 to http://10.0.0.1/
    /redirect/metadata    302 to http://169.254.169.254/latest/meta-data/
    /redirect/ftp         302 to ftp://example.com/file.txt
    /slow                 answers after SLOW_SECONDS (stop() wakes it)
    /drip                 HTML headers at once, then one byte every DRIP_INTERVAL seconds
    /big/chunked          BIG_BODY_BYTES of HTML, chunked, no Content-Length
    /big/length           the same with a Content-Length
    /status/404, /status/500, /status/403, /status/408
    /status/429           with Retry-After: 7
    /status/503           with Retry-After: an HTTP date RETRY_AFTER_DATE_SECONDS ahead
    /doc.pdf              application/pdf, cut off after its first object (a broken PDF)
    /charset/cp1251       windows-1251 Cyrillic, declared only in <meta charset>
    /charset/latin1       iso-8859-1 accents, declared only in the Content-Type header
    /charset/bom          UTF-8 with a byte order mark and no declaration
    /plain                text/plain
    /no-type              HTML without a Content-Type
    /binary               application/octet-stream that is not HTML
    /gzip                 a gzip-encoded HTML page
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

Stream = Callable[[], Iterable[bytes]]

MB = 1024 * 1024
BIG_BODY_BYTES = 50 * MB
SLOW_SECONDS = 30.0
DRIP_INTERVAL = 0.1
RETRY_AFTER_DATE_SECONDS = 120
PAGE_TEXT = "Hello from FakeWeb"
CP1251_TEXT = "Съешь же ещё этих мягких французских булок, да выпей чаю"
LATIN1_TEXT = "Café crème, déjà vu, naïve façade, Øresund, Ærø"
BOM_TEXT = "日本語のページ ✓ ünïcödé"
PLAIN_TEXT = "plain <text> & more\nsecond line"

_HTML = "text/html; charset=utf-8"
_DEFAULT: Any = object()


def html_page(title: str, body: str, *, head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body>{body}</body></html>"
    )


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before answering
    stream: Stream | None = None
    content_length: int | None = None  # declared for a stream; None sends it chunked


@dataclass
class Request:
    method: str
    path: str  # as requested, query included
    headers: dict[str, str]  # lower-cased names


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


class FakeWeb:
    def __init__(
        self,
        *,
        standard_routes: bool = True,
        host: str = "127.0.0.1",
        tls: tuple[str | Path, str | Path] | None = None,
    ) -> None:
        self.host = host
        self.tls = tls
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.requests: list[Request] = []
        self.sni_names: list[str | None] = []  # TLS server names clients asked for
        self._standard = standard_routes
        self._lock = threading.Condition()
        self._in_flight: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeWeb:
        server = _Server((self.host, 0), _make_handler(self))
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))

            def remember_sni(_sock: Any, name: str | None, _ctx: Any) -> None:
                with self._lock:
                    self.sni_names.append(name)

            context.sni_callback = remember_sni
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if self._standard:
            self.install_standard_routes()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeWeb:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """The URL of path; `host` replaces 127.0.0.1 (a name the test makes resolve here)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    # --- routes --------------------------------------------------------------------------

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        content_type: str | None = _DEFAULT,
        delay: float = 0.0,
        stream: Stream | None = None,
        content_length: int | None = None,
    ) -> Route:
        """Adds (or replaces) a route. `content_type` defaults to UTF-8 HTML; None sends none."""
        items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if content_type is _DEFAULT:
            content_type = _HTML
        if content_type is not None and not any(k.lower() == "content-type" for k, _ in items):
            items.insert(0, ("Content-Type", content_type))
        route = Route(
            status=status,
            body=body.encode() if isinstance(body, str) else body,
            headers=items,
            delay=delay,
            stream=stream,
            content_length=content_length,
        )
        with self._lock:
            self.routes[path] = route
        return route

    def redirect(self, path: str, location: str, *, status: int = 302) -> Route:
        return self.route(
            path, b"", status=status, headers={"Location": location}, content_type=None
        )

    def sleep(self, seconds: float) -> bool:
        """Waits (in a handler); True when the server is stopping meanwhile."""
        return self._stopping.wait(seconds)

    def wait_idle(self, path: str, timeout: float = 10.0) -> bool:
        """Waits until no request for path is being answered (e.g. before reading bytes_sent)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._in_flight[path] == 0, timeout)

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    def install_standard_routes(self) -> None:
        self.route("/page", html_page("Page", f"<p>{PAGE_TEXT}</p>"))
        self.route("/chain/0", html_page("End of chain", "<p>end</p>"))
        for n in range(1, 11):
            self.redirect(f"/chain/{n}", f"/chain/{n - 1}")
        self.redirect("/loop/a", "/loop/b")
        self.redirect("/loop/b", "/loop/a")
        self.redirect("/redirect/relative", "../page")
        self.redirect("/redirect/loopback", f"http://127.0.0.1:{self.port}/page")
        self.redirect("/redirect/private", "http://10.0.0.1/")
        self.redirect("/redirect/metadata", "http://169.254.169.254/latest/meta-data/")
        self.redirect("/redirect/ftp", "ftp://example.com/file.txt")
        self.route("/slow", html_page("Slow", "late"), delay=SLOW_SECONDS)

        def drip() -> Iterator[bytes]:
            yield b"<!DOCTYPE html><html><body>"
            for _ in range(int(60 / DRIP_INTERVAL)):
                if self.sleep(DRIP_INTERVAL):
                    return
                yield b"."

        self.route("/drip", stream=drip)
        self.route("/big/chunked", stream=big_body)
        self.route("/big/length", stream=big_body, content_length=BIG_BODY_BYTES)
        for status in (403, 404, 408, 500):
            self.route(f"/status/{status}", html_page(str(status), "error"), status=status)
        self.route("/status/429", "slow down", status=429, headers={"Retry-After": "7"})
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=RETRY_AFTER_DATE_SECONDS)
        self.route(
            "/status/503",
            "maintenance",
            status=503,
            headers={"Retry-After": email.utils.format_datetime(later, usegmt=True)},
        )
        self.route(
            "/doc.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", content_type="application/pdf"
        )
        self.route(
            "/charset/cp1251",
            html_page(
                "Кириллица", f"<p>{CP1251_TEXT}</p>", head='<meta charset="windows-1251">'
            ).encode("cp1251"),
            content_type="text/html",
        )
        self.route(
            "/charset/latin1",
            html_page("Latin", f"<p>{LATIN1_TEXT}</p>").encode("latin-1"),
            content_type="text/html; charset=ISO-8859-1",
        )
        self.route(
            "/charset/bom",
            b"\xef\xbb\xbf" + html_page("BOM", f"<p>{BOM_TEXT}</p>").encode(),
            content_type="text/html",
        )
        self.route("/plain", PLAIN_TEXT, content_type="text/plain; charset=utf-8")
        self.route("/no-type", html_page("No type", "<p>sniffed</p>"), content_type=None)
        self.route("/binary", b"\x00\x01\x02binary\xff", content_type="application/octet-stream")
        self.route(
            "/gzip",
            gzip.compress(html_page("Gzip", f"<p>{PAGE_TEXT}</p>").encode()),
            headers={"Content-Encoding": "gzip"},
        )

    # --- serving (handler threads) ---------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self.hits[path] += 1
            self._in_flight[path] += 1
            self.requests.append(
                Request(
                    handler.command,
                    handler.path,
                    {k.lower(): v for k, v in handler.headers.items()},
                )
            )
            route = self.routes.get(path)
        try:
            self._answer(handler, path, route, head=head)
        except (
            BrokenPipeError,
            ConnectionResetError,
            ConnectionAbortedError,
            TimeoutError,
            ssl.SSLError,
        ):
            handler.close_connection = True  # the client went away; that is often the point
        finally:
            with self._lock:
                self._in_flight[path] -= 1
                self._lock.notify_all()

    def _write(self, handler: BaseHTTPRequestHandler, path: str, data: bytes) -> None:
        handler.wfile.write(data)
        with self._lock:
            self.bytes_sent[path] += len(data)

    def _answer(
        self, handler: BaseHTTPRequestHandler, path: str, route: Route | None, *, head: bool
    ) -> None:
        if route is None:
            route = Route(status=404, body=b"<h1>Not found</h1>", headers=[("Content-Type", _HTML)])
        if route.delay and self.sleep(route.delay):
            handler.close_connection = True
            return
        handler.send_response(route.status)
        for name, value in route.headers:
            handler.send_header(name, value)
        if route.stream is None:
            handler.send_header("Content-Length", str(len(route.body)))
            handler.end_headers()
            if not head and route.body:
                self._write(handler, path, route.body)
            return
        chunked = route.content_length is None
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(route.content_length))
        handler.end_headers()
        if head:
            return
        for chunk in route.stream():
            if self._stopping.is_set():
                handler.close_connection = True
                return
            if not chunk:
                continue
            if chunked:
                handler.wfile.write(b"%x\r\n" % len(chunk))
            self._write(handler, path, chunk)
            if chunked:
                handler.wfile.write(b"\r\n")
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")


def big_body(total: int = BIG_BODY_BYTES, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes of HTML, generated as it is sent (never held whole)."""
    first = b"<!DOCTYPE html><html><body>"
    yield first
    sent = len(first)
    chunk = b"<p>" + b"x" * (chunk_size - 7) + b"</p>"
    while sent + len(chunk) <= total:
        yield chunk
        sent += len(chunk)
    if total > sent:
        yield b"x" * (total - sent)


def _make_handler(web: FakeWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 15  # idle keep-alive connections and stuck writes end on their own

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            web._serve(self, head=False)

        def do_HEAD(self) -> None:
            web._serve(self, head=True)

    return Handler


def make_certificate(directory: Path, hostnames: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for hostnames (also its own CA): (certfile, keyfile)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile = directory / "cert.pem"
    keyfile = directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile
