"""A local HTTP server that speaks the parts of the Gemini REST API Fuze uses.

The real `google-genai` client is pointed at it with HttpOptions(base_url=...). It records the
API key of every call, so tests can check that each user's own key is the one used.
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
                if fake.forced:
                    forced = fake.forced.pop(0)
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
