"""deploy/nginx.conf in front of two API replicas, one of which dies in the middle of each
save: every save still answers, with the answer of the save that the dying replica committed
(the API's own, uvicorn on the test database, and Debian's nginx)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.embedded import free_port
from tests.cluster import NGINX_CONF, nginx_binary
from tests.conftest import _wait_http

HOP_BY_HOP = {"host", "connection", "content-length", "keep-alive", "transfer-encoding"}


class DyingReplica:
    """Takes a request, lets the real API run it to its commit, then dies without answering:
    a replica killed after its work and before its answer."""

    def __init__(self, live: str) -> None:
        self.live = live
        self.forwarded: list[str] = []
        self.port = free_port()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
            body = await reader.readexactly(length) if length else b""
            keep = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            async with httpx.AsyncClient(base_url=self.live, timeout=60) as client:
                await client.request(method, path, headers=keep, content=body)
            self.forwarded.append(f"{method} {path}")
        finally:
            writer.transport.abort()  # no answer: the connection is reset

    async def __aenter__(self) -> DyingReplica:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def _start_nginx(conf: Path) -> subprocess.Popen[bytes]:
    options = f"daemon off; pid {conf.parent}/nginx.pid;"
    return subprocess.Popen(
        [nginx_binary(), "-c", str(conf), "-e", str(conf.parent / "error.log"), "-g", options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
async def nginx_in_front(
    api_server: str, tmp_path: Path
) -> AsyncIterator[tuple[str, DyingReplica]]:
    live_port = int(api_server.rsplit(":", 1)[1])
    async with DyingReplica(api_server) as dying:
        port = free_port()
        conf = re.sub(
            r"server api:8000 resolve [^;]*;",
            f"server 127.0.0.1:{dying.port} max_fails=0;\n"
            f"        server 127.0.0.1:{live_port} max_fails=0;",
            NGINX_CONF,
        )
        conf = re.sub(r"\n\s*resolver [^;]+;", "\n", conf)
        conf = conf.replace("listen 80 default_server;", f"listen 127.0.0.1:{port};")
        (tmp_path / "nginx.conf").write_text(conf)
        proc = _start_nginx(tmp_path / "nginx.conf")
        base = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(_wait_http, f"{base}/api/health", proc)
            yield base, dying
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 15)


async def test_a_save_on_a_replica_that_dies_is_answered_by_another(api_server, nginx_in_front):
    base, dying = nginx_in_front
    name = f"user{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=api_server, timeout=60) as direct:
        r = await direct.post(
            "/api/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "p" * 12},
        )
        assert r.status_code == 201, r.text
        r = await direct.post("/api/auth/login", json={"login": name, "password": "p" * 12})
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    urls = [f"https://example.com/retried/{n}" for n in range(6)]
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        answers = [
            await client.post(
                "/api/bookmarks",
                headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                json={"url": url},
            )
            for url in urls
        ]
        # Round-robin sent some saves to the dying replica, which committed them: nginx sent
        # each again to the live one, whose answer is the first one, 201 (not "already saved").
        saves = [f for f in dying.forwarded if f == "POST /api/bookmarks"]
        assert len(saves) >= 2, dying.forwarded
        assert [a.status_code for a in answers] == [201] * len(urls), [a.text for a in answers]
        assert [a.json()["url"] for a in answers] == urls
        page = (await client.get("/api/bookmarks", headers=auth, params={"limit": 50})).json()
        assert sorted(b["url"] for b in page["items"]) == sorted(urls)
