"""A local HTTP server that speaks the parts of the OpenAI chat-completions API and of Ollama's
API that Fuze uses, so the real `openai` and `ollama` clients can be pointed at it.

OpenAI-compatible: GET /v1/models, POST /v1/chat/completions (a bearer key from `keys`, else
401; a model from `models`, else 404; `response_format.json_schema.schema` answered with a
made-up value that fits it, with `overrides` laid over it). Ollama: POST /api/show and
POST /api/chat (its `format` schema answered the same way). Every call is recorded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def made_up(schema: dict[str, Any]) -> Any:
    """A value that fits a JSON Schema (the subset Pydantic writes)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return made_up(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    kind = schema.get("type", "string")
    if kind == "object":
        return {k: made_up(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [made_up(schema.get("items") or {})]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return f"example {str(schema.get('title') or 'text').lower()}"


@dataclass
class FakeLLM:
    keys: set[str] = field(default_factory=lambda: {"sk-good"})
    models: list[str] = field(default_factory=lambda: ["small-model"])
    overrides: dict[str, Any] = field(default_factory=dict)
    # Forced answers, consumed in order: (status, body) for the next chat call.
    forced: list[tuple[int, Any]] = field(default_factory=list)
    calls: list[tuple[str, str | None, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, schema: dict[str, Any]) -> str:
        value = made_up(schema)
        if isinstance(value, dict):
            value.update(self.overrides)
        return json.dumps(value)

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def key(self) -> str | None:
                auth = self.headers.get("Authorization") or ""
                return auth.removeprefix("Bearer ").strip() or None

            def do_GET(self) -> None:
                fake.calls.append((self.path, self.key(), None))
                if self.path == "/v1/models":
                    if self.key() not in fake.keys:
                        return self.reply(
                            401,
                            {
                                "error": {
                                    "message": "Incorrect API key provided",
                                    "type": "invalid_request_error",
                                    "code": "invalid_api_key",
                                }
                            },
                        )
                    return self.reply(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                                for m in fake.models
                            ],
                        },
                    )
                self.reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"
                )
                fake.calls.append((self.path, self.key(), body))
                model = body.get("model")
                if self.path == "/v1/chat/completions":
                    if self.key() not in fake.keys:
                        return self.reply(
                            401,
                            {
                                "error": {
                                    "message": "Incorrect API key provided",
                                    "type": "invalid_request_error",
                                    "code": "invalid_api_key",
                                }
                            },
                        )
                    if fake.forced:
                        return self.reply(*fake.forced.pop(0))
                    if model not in fake.models:
                        return self.reply(
                            404,
                            {
                                "error": {
                                    "message": f"The model `{model}` does not exist",
                                    "type": "invalid_request_error",
                                    "code": "model_not_found",
                                }
                            },
                        )
                    schema = body["response_format"]["json_schema"]["schema"]
                    return self.reply(200, {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": fake.answer(schema)}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    })  # fmt: skip
                if self.path in ("/api/show", "/api/chat"):
                    if model not in fake.models:
                        return self.reply(
                            404, {"error": f'model "{model}" not found, try pulling it first'}
                        )
                    if self.path == "/api/show":
                        return self.reply(
                            200,
                            {
                                "modelfile": "",
                                "parameters": "",
                                "template": "",
                                "details": {"format": "gguf", "family": "fake"},
                                "model_info": {},
                            },
                        )
                    if fake.forced:
                        return self.reply(*fake.forced.pop(0))
                    return self.reply(200, {
                        "model": model, "created_at": "2026-12-04T00:00:00Z",
                        "message": {"role": "assistant", "content": fake.answer(body["format"])},
                        "done": True, "done_reason": "stop",
                    })  # fmt: skip
                self.reply(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
