"""`fuze backup` / `fuze restore` in subprocesses, on real embedded PostgreSQL and Valkey: a
data folder's bookmarks, vectors, tokens and stored Gemini key come back in a fresh one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi import FastAPI

from alembic import command
from app.bookmarks.jobs import embed_bookmark, extract_bookmark
from app.cli import alembic_config, run_migrations
from app.config import Settings
from app.db import bind_user
from app.embedded import EmbeddedPostgres, EmbeddedValkey
from app.main import create_app
from tests.conftest import ROOT, register_and_login
from tests.fakes.gemini import FakeGemini

FUZE = [sys.executable, "-m", "app.cli"]
GEMINI_KEY = "AIzaSy-backup-test-key-7777"

PAGES = {
    "postgres": (
        "Tuning PostgreSQL indexes",
        "B-tree and GIN indexes, connection pooling with PgBouncer, and reading EXPLAIN plans "
        "make slow PostgreSQL queries fast. Vacuum keeps tables lean and statistics fresh, so "
        "the planner picks an index scan instead of reading the whole table from disk.",
        "making slow database queries faster",
    ),
    "bread": (
        "Sourdough bread at home",
        "A starter of flour and water, a long fermentation and a hot oven give sourdough its "
        "open crumb and crisp crust. Feed the starter the night before, shape the dough gently "
        "and bake it in a covered pot so that the steam lets the loaf rise.",
        "baking a loaf with a fermented starter",
    ),
    "cats": (
        "Living with cats",
        "Cats are independent pets. Kittens need play, scratching posts and regular visits to "
        "the veterinarian to stay healthy; an older cat sleeps most of the day and likes a warm "
        "quiet place, fresh water and a clean litter box.",
        "looking after a kitten",
    ),
}


def _html(title: str, body: str) -> str:
    paragraphs = "".join(f"<p>{body}</p>" for _ in range(3))
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{paragraphs}</article></body></html>"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUZE_")}
    env.update({"FUZE_ENV": "test", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env.update(extra)
    return env


def _fuze(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FUZE, *args], env=_env(**env), cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _settings(data_dir: Path, database_url: str, redis_url: str, **extra: Any) -> Settings:
    # No secret_key: the key is the data folder's file, as under `fuze up`.
    return Settings(
        **extra,
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=None,
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        preload_model=False,
        rate_limit_enabled=False,
    )


@contextlib.asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c


@contextlib.contextmanager
def _postgres(data_dir: Path) -> Iterator[str]:
    pg = EmbeddedPostgres(data_dir / "postgres", log_dir=data_dir / "logs")
    try:
        yield pg.start()
    finally:
        pg.stop()


@pytest.fixture
def folder() -> Iterator[Path]:
    """Not under pytest's tmp_path: a pytest starting elsewhere resets its root to 0700, which
    shuts out the embedded server's own OS user (root runs it as fuze-postgres)."""
    path = Path(tempfile.mkdtemp(prefix="fuze-backup-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def valkey(folder: Path) -> Iterator[EmbeddedValkey]:
    vk = EmbeddedValkey(folder / "valkey")
    vk.start()
    yield vk
    vk.stop()


async def _process(app: FastAPI, bookmark_id: str) -> None:
    """The pipeline's stages for a page whose HTML was sent with it, run here."""
    ctx: dict[str, Any] = {
        "settings": app.state.settings,
        "sessionmaker": app.state.sessionmaker,
        "redis": app.state.redis,
        "embedder": app.state.embedder,
    }
    assert await extract_bookmark(ctx, bookmark_id, 1) == "extracted"
    assert await embed_bookmark(ctx, bookmark_id, 1) == "ready"


def _members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


async def test_a_backup_restores_into_a_fresh_data_folder(
    folder: Path, valkey: EmbeddedValkey, gemini_fake: FakeGemini
):
    source, restored, out = folder / "source", folder / "restored", folder / "out"
    out.mkdir()
    gemini_fake.valid_keys.add(GEMINI_KEY)  # a key is checked with Gemini before it is stored
    with _postgres(source) as source_url:
        await asyncio.to_thread(run_migrations, source_url)  # alembic runs its own loop
        settings = _settings(
            source, source_url, valkey.url(0), gemini_base_url=gemini_fake.base_url
        )
        async with _serving(settings) as (app, client):
            await app.state.embedder.load_async()
            alice = await register_and_login(client, "alice")
            bob = await register_and_login(client, "bob")
            r = await client.post(
                "/api/users/me/tokens", headers=alice.headers, json={"name": "cli"}
            )
            assert r.status_code == 201, r.text
            api_token = r.json()["token"]
            r = await client.put(
                "/api/users/me/gemini-key", headers=alice.headers, json={"api_key": GEMINI_KEY}
            )
            assert r.status_code == 200, r.text
            ids: dict[str, str] = {}
            for key, (title, body, _) in PAGES.items():
                r = await client.post(
                    "/api/bookmarks",
                    headers=alice.headers,
                    json={
                        "url": f"https://example.com/{key}",
                        "html": _html(title, body),
                        "tags": [key],
                    },
                )
                assert r.status_code == 201, r.text
                ids[key] = r.json()["id"]
                await _process(app, ids[key])
            r = await client.post(
                "/api/bookmarks",
                headers=bob.headers,
                json={"url": "https://example.com/bob", "html": _html("Bob", PAGES["cats"][1])},
            )
            await _process(app, r.json()["id"])
        # What a future page archive would leave in the data folder, and what is rebuilt.
        (source / "archives" / "alice").mkdir(parents=True)
        (source / "archives" / "alice" / "page.html").write_text("<p>kept</p>")
        assert (source / "secret_key").is_file()

        # While the embedded server runs (as under `fuze up`), and through FUZE_DATABASE_URL.
        result = _fuze("backup", "--data-dir", str(source), "--output", str(out / "a.tar"))
        assert result.returncode == 0, result.stderr
        assert "fuze backup | backup written" in result.stderr
        by_url = _fuze("backup", "--output", str(out / "b.tar"), FUZE_DATABASE_URL=source_url)
        assert by_url.returncode == 0, by_url.stderr

    archive = out / "a.tar"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    names = _members(archive)
    assert names[:3] == ["manifest.json", "database.dump", "secret_key"]
    assert "data/archives/alice/page.html" in names
    assert not [n for n in names if n.startswith(("data/models", "data/postgres", "data/logs"))]
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["counts"]["bookmarks"] == 4 and manifest["counts"]["bookmark_vectors"] == 4
    assert manifest["counts"]["users"] == 2 and manifest["secret_key_from"] == "file"
    with tarfile.open(out / "b.tar") as tar:
        assert json.load(tar.extractfile("manifest.json"))["counts"] == manifest["counts"]  # type: ignore[arg-type]

    result = _fuze("restore", str(archive), "--data-dir", str(restored))
    assert result.returncode == 0, result.stderr
    assert "restore done" in result.stderr
    assert (restored / "secret_key").read_text() == (source / "secret_key").read_text().strip()
    assert stat.S_IMODE((restored / "secret_key").stat().st_mode) == 0o600
    assert (restored / "archives" / "alice" / "page.html").read_text() == "<p>kept</p>"
    assert not (restored / "models").exists()
    # The query encoder's graph comes from `make install`, or an export the API makes into its
    # data folder when there is none (rebuilt, not restored); copied only to spare the test it.
    if (source / "models").is_dir():
        shutil.copytree(source / "models", restored / "models")

    with _postgres(restored) as restored_url:
        # A Valkey database of its own: nothing the restored app needs comes from the old one.
        settings = _settings(restored, restored_url, valkey.url(1))
        async with _serving(settings) as (app, client):
            me = await client.get("/api/users/me", headers=alice.headers)
            assert me.status_code == 200 and me.json()["username"] == "alice"
            assert me.json()["has_gemini_key"] is True
            by_token = {"Authorization": f"Bearer {api_token}"}
            r = await client.get("/api/bookmarks", headers=by_token)
            assert r.status_code == 200, r.text
            assert {b["id"] for b in r.json()["items"]} == set(ids.values())
            assert all(b["status"] == "ready" for b in r.json()["items"])
            for key, (_, _, query) in PAGES.items():
                r = await client.get(
                    "/api/search", headers=by_token, params={"q": query, "mode": "semantic"}
                )
                assert r.status_code == 200, r.text
                assert r.json()["items"][0]["bookmark"]["id"] == ids[key], (key, r.json())
            r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
            assert r.status_code == 200, r.text

            from app.users import service as users_service
            from app.users.models import User

            async with app.state.sessionmaker() as session:
                await bind_user(session, uuid.UUID(me.json()["id"]))
                user = await session.get(User, uuid.UUID(me.json()["id"]))
                assert users_service.gemini_key(settings, user) == GEMINI_KEY

    # The restored folder now holds data: a second restore into it is refused.
    again = _fuze("restore", str(archive), "--data-dir", str(restored))
    assert again.returncode == 1
    assert "already holds data (2 users, 4 bookmarks)" in again.stderr.splitlines()[-1]
    assert "--force" in again.stderr


def _archive(path: Path, manifest: dict[str, Any], members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in {"manifest.json": json.dumps(manifest).encode(), **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(dump: bytes, **overrides: Any) -> dict[str, Any]:
    return {
        "format": "fuze-backup",
        "format_version": 1,
        "alembic_revision": "e2f3a4b5c6d7",
        "counts": {"users": 1},
        "files": {
            "database.dump": {"bytes": len(dump), "sha256": hashlib.sha256(dump).hexdigest()}
        },
        **overrides,
    }


def test_restore_refuses_a_damaged_or_foreign_archive_in_one_line(tmp_path: Path):
    dump = os.urandom(200_000)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    whole = _archive(tmp_path / "whole.tar", _manifest(dump), {"database.dump": dump})
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(whole.read_bytes()[:100_000])
    cases = {
        junk: "not a Fuze backup",
        truncated: "the archive is damaged",
        _archive(
            tmp_path / "flipped.tar", _manifest(dump), {"database.dump": dump[:-1] + b"!"}
        ): "database.dump does not match its checksum",
        _archive(
            tmp_path / "newer.tar", _manifest(dump, format_version=9), {"database.dump": dump}
        ): "newer than this Fuze reads",
        _archive(
            tmp_path / "ahead.tar",
            _manifest(dump, alembic_revision="ffffffffffff"),
            {"database.dump": dump},
        ): "made by a newer Fuze",
        _archive(tmp_path / "foreign.tar", {"hello": 1}, {}): "not a Fuze backup",
        tmp_path / "missing.tar": "no such file",
    }
    for path, message in cases.items():
        target = tmp_path / f"data-{path.stem}"
        result = _fuze("restore", str(path), "--data-dir", str(target))
        assert result.returncode == 1, (path.name, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("fuze restore | restore failed: ") and message in last, last
        assert "Traceback" not in result.stderr
        assert not target.exists()  # checked before anything was written


def test_an_older_backup_is_migrated_to_head_on_restore(folder: Path):
    source, restored = folder / "source", folder / "restored"
    with _postgres(source) as url:
        run_migrations(url)
        command.downgrade(alembic_config(url), "-1")
        result = _fuze("backup", "--data-dir", str(source), "--output", str(folder / "old.tar"))
        assert result.returncode == 0, result.stderr
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    with tarfile.open(folder / "old.tar") as tar:
        older = json.load(tar.extractfile("manifest.json"))["alembic_revision"]  # type: ignore[arg-type]
    assert older != head

    result = _fuze("restore", str(folder / "old.tar"), "--data-dir", str(restored))
    assert result.returncode == 0, result.stderr
    assert f"migrating the database from {older}" in result.stderr
    pg = EmbeddedPostgres(restored / "postgres")
    pg.start()
    try:
        assert pg.psql("SELECT version_num FROM alembic_version", database="fuze") == head
    finally:
        pg.stop()
