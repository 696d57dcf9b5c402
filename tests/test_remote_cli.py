"""`fuze login | save | search | recommend | import | export | logout` as a user runs them:
the real command in a process, against a real API process, worker and database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")
DATA = ROOT.parent / "shared" / "data" / "imports"


def fuze(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, api_server: str) -> dict[str, str]:
    """A user's environment: their own config folder, no FUZE_TOKEN."""
    env = {k: v for k, v in os.environ.items() if k not in ("FUZE_TOKEN", "FUZE_SERVER")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), COLUMNS="160")
    return env


async def test_login_save_search_recommend_export_and_logout(api, api_server, api_user, web, home):
    out = fuze(
        "login", "--server", api_server, "--username", api_user.username, "--password-stdin",
        env=home, stdin=api_user.password + "\n",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    stored = Path(home["XDG_CONFIG_HOME"]) / "fuze" / "cli.json"
    assert oct(stored.stat().st_mode & 0o777) == "0o600", "the token is for the user's eyes only"
    r = await api.get("/api/users/me/tokens", headers=api_user.headers)
    assert [(t["name"].startswith("fuze cli on "), t["scope"]) for t in r.json()] == [
        (True, "write")
    ]

    web.route(
        "/cli/pools",
        "<title>Sizing asyncpg pools</title><article><h1>Sizing asyncpg pools</h1><p>Size the "
        "asyncpg connection pool to what PostgreSQL allows, and recycle idle connections.</p>"
        "</article>",
    )
    out = fuze("save", web.url("/cli/pools"), "--tag", "db", "--wait", "180", env=home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ready "), out.stdout
    out = fuze("save", web.url("/cli/pools"), "--json", env=home)
    saved = json.loads(out.stdout)
    assert saved["tags"] == ["db"] and saved["title"] == "Sizing asyncpg pools"

    out = fuze("search", "asyncpg pool", env=home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["score", "title", "url", "id"]
    assert "Sizing asyncpg pools" in lines[2] and saved["id"] in lines[2]
    found = json.loads(fuze("search", "asyncpg", "--json", "--mode", "keyword", env=home).stdout)
    assert [h["bookmark"]["id"] for h in found["items"]] == [saved["id"]]
    out = fuze("search", "medieval tapestry weaving", env=home)
    assert "Nothing in your library matches" in out.stdout

    r = await api.post(
        "/api/projects", headers=api_user.headers,
        json={"title": "Database layer for the API", "description": "asyncpg pools on PostgreSQL"},
    )  # fmt: skip
    out = fuze("recommend", "database layer", env=home)
    assert out.returncode == 0, out.stderr
    assert "Sizing asyncpg pools" in out.stdout and out.stdout.splitlines()[0].split() == [
        "score", "title", "why",
    ]  # fmt: skip
    out = fuze("recommend", "no such project", env=home)
    assert out.returncode == 2 and "no project is called" in out.stderr

    target = Path(home["XDG_CONFIG_HOME"]) / "export.json"
    out = fuze("export", "--format", "json", "-o", str(target), env=home)
    assert out.returncode == 0, out.stderr
    assert [b["url"] for b in json.loads(target.read_text())["bookmarks"]] == [saved["url"]]

    out = fuze("logout", env=home)
    assert out.returncode == 0 and not stored.exists()
    assert (await api.get("/api/users/me/tokens", headers=api_user.headers)).json() == []
    out = fuze("search", "asyncpg", env=home)
    assert out.returncode == 2 and "not signed in" in out.stderr


async def test_import_with_a_token_from_the_environment(api, api_server, api_user, home):
    r = await api.post(
        "/api/users/me/tokens", headers=api_user.headers, json={"name": "script", "scope": "write"}
    )
    env = {**home, "FUZE_SERVER": api_server, "FUZE_TOKEN": r.json()["token"]}
    out = fuze("import", str(DATA / "pinboard_export"), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Imported 3 of 3 (Pinboard"), out.stdout

    async def listed():  # type: ignore[no-untyped-def]
        r = await api.get("/api/bookmarks", headers=api_user.headers, params={"shelf": "all"})
        return len(r.json()["items"]) == 3

    await wait_for(listed, within=60)
    out = fuze("import", "/no/such/file.html", env=env)
    assert out.returncode == 2 and "no such file" in out.stderr
    bad = {**env, "FUZE_TOKEN": "fza_forged"}
    out = fuze("search", "x", env=bad)
    assert out.returncode == 2 and "invalid_token" in out.stderr
