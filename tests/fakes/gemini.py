"""A local HTTP server that speaks the parts of the Gemini REST API Fuze uses.

The real `google-genai` client is pointed at it with HttpOptions(base_url=...). It records the
API key of every call, so tests can check that each user's own key is the one used.

generateContent answers, in this order: a scripted answer for the caller's key (`script`),
a forced answer for anyone (`forced`), the `generate` responder, or else a valid structured
answer made up from the request's `responseSchema` (with `structured[key]` values, or a
`structured[key]` callable, laid over it). Helpers build answers: `json_answer`,
`text_answer` (e.g. malformed JSON), `error_answer` (429 with a retry delay, 500, 403 ...).
The most calls of one key at once are kept in `max_in_flight`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


@dataclass
class Call:
    method: str
    path: str
    api_key: str | None
    body: dict[str, Any] | None


@dataclass
class FakeGemini:
    valid_keys: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    # Queue of forced answers: (status, body) or "slow:<seconds>" strings, consumed in order.
    forced: list[Any] = field(default_factory=list)
    generate: Responder | None = None
    server: ThreadingHTTPServer | None = None
    # Per API key: answers consumed in order before anything else (same forms as `forced`).
    script: dict[str, list[Any]] = field(default_factory=dict)
    # Per API key: fields laid over the made-up structured answer, or a callable
    # (request body -> dict of fields).
    structured: dict[str, Any] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_with(self, key: str, kind: str = ":generateContent") -> list[Call]:
        return [c for c in list(self.calls) if c.api_key == key and kind in c.path]

    def _enter(self, key: str | None) -> None:
        with self._lock:
            n = self.in_flight.get(key or "", 0) + 1
            self.in_flight[key or ""] = n
            self.max_in_flight[key or ""] = max(n, self.max_in_flight.get(key or "", 0))

    def _leave(self, key: str | None) -> None:
        with self._lock:
            self.in_flight[key or ""] -= 1

    def _next_scripted(self, key: str | None) -> Any:
        with self._lock:
            queue = self.script.get(key or "")
            if queue:
                return queue.pop(0)
            if self.forced:
                return self.forced.pop(0)
        return None

    def _structured(self, key: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        schema = (body.get("generationConfig") or {}).get("responseSchema") or {}
        value = made_up(schema)
        extra = self.structured.get(key or "")
        if callable(extra):
            extra = extra(body)
        if isinstance(value, dict) and extra:
            value.update(extra)
        return json_answer(value)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                key = self.headers.get("x-goog-api-key")
                fake.calls.append(Call(method, self.path, key, body))
                fake._enter(key)
                try:
                    self._answer(method, key, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout)
                finally:
                    fake._leave(key)

            def _answer(self, method: str, key: str | None, body: dict[str, Any] | None) -> None:
                forced = fake._next_scripted(key)
                if forced is not None:
                    if isinstance(forced, str) and forced.startswith("slow:"):
                        time.sleep(float(forced.split(":", 1)[1]))
                    else:
                        self._reply(*forced)
                        return
                if key not in fake.valid_keys:
                    self._reply(
                        400,
                        {
                            "error": {
                                "code": 400,
                                "message": "API key not valid. Please pass a valid API key.",
                                "status": "INVALID_ARGUMENT",
                                "details": [
                                    {
                                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                        "reason": "API_KEY_INVALID",
                                        "domain": "googleapis.com",
                                        "metadata": {
                                            "service": "generativelanguage.googleapis.com"
                                        },
                                    }
                                ],
                            }
                        },
                    )
                    return
                path = self.path.split("?", 1)[0]
                m = re.fullmatch(r"/v1beta/models/([^/:]+)", path)
                if method == "GET" and m:
                    name = m.group(1)
                    self._reply(
                        200,
                        {
                            "name": f"models/{name}",
                            "displayName": f"Fake {name}",
                            "inputTokenLimit": 1048576,
                            "outputTokenLimit": 65536,
                            "supportedGenerationMethods": ["generateContent"],
                        },
                    )
                    return
                m = re.fullmatch(r"/v1beta/models/([^/:]+):generateContent", path)
                if method == "POST" and m and fake.generate is not None:
                    self._reply(*fake.generate(body or {}))
                    return
                if method == "POST" and m:
                    self._reply(*fake._structured(key, body or {}))
                    return
                self._reply(
                    404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
                )

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def json_answer(value: Any) -> tuple[int, dict[str, Any]]:
    """A generateContent answer whose text is `value` as JSON (structured output)."""
    return text_answer(json.dumps(value))


def text_answer(text: str, finish_reason: str = "STOP") -> tuple[int, dict[str, Any]]:
    return 200, {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish_reason}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10},
        "modelVersion": "fake",
    }


def error_answer(
    code: int, status: str, message: str, retry_delay: str | None = None
) -> tuple[int, dict[str, Any]]:
    """An error as Gemini sends it; a 429 may say how long to wait (RetryInfo, e.g. "1s")."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if retry_delay is not None:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        ]
    return code, {"error": error}


def made_up(schema: dict[str, Any]) -> Any:
    """A value that satisfies a Gemini response schema (OpenAPI subset, upper-case types)."""
    kind = str(schema.get("type", "STRING")).upper()
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "OBJECT":
        return {name: made_up(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "ARRAY":
        return [made_up(schema.get("items") or {})]
    if kind in ("INTEGER", "NUMBER"):
        return 1
    if kind == "BOOLEAN":
        return True
    return f"example {str(schema.get('title') or 'text').lower()}"
