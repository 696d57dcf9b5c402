"""`fuze save | search | recommend | import | export | login | logout`: Fuze from a terminal,
against any Fuze server, through its REST API.

Where it connects: `FUZE_SERVER` and `FUZE_TOKEN` (a personal API token) when set, else what
`fuze login` stored in the user's config folder (`$XDG_CONFIG_HOME/fuze/cli.json`, readable
by the user alone): the server and a personal API token it made there. Tables are sized to
the terminal; `--json` prints the API's answer as it is, for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"


class CliError(Exception):
    pass


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fuze" / "cli.json"


def _stored() -> dict[str, str]:
    try:
        return json.loads(config_file().read_text())
    except (OSError, ValueError):
        return {}


def connection() -> tuple[str, str]:
    stored = _stored()
    server = os.environ.get("FUZE_SERVER") or stored.get("server") or DEFAULT_SERVER
    token = os.environ.get("FUZE_TOKEN") or stored.get("token")
    if not token:
        raise CliError(
            "not signed in: run `fuze login`, or set FUZE_SERVER and FUZE_TOKEN (a personal "
            "API token from Settings -> API tokens)"
        )
    return server.rstrip("/"), token


def client(server: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server, headers=headers, timeout=120)


def _check(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            error = r.json()["error"]
            message = f"{error['message']} ({error['code']}, HTTP {r.status_code})"
        except Exception:
            message = f"the server answered HTTP {r.status_code}"
        raise CliError(message)
    return r.json() if "json" in r.headers.get("content-type", "") else r.content


def _api() -> httpx.Client:
    return client(*connection())


def table(rows: list[list[str]], headers: list[str], out: Any = None) -> None:
    """Columns as wide as their content, the widest cut (with …) to fit the terminal."""
    out = out or sys.stdout
    width = shutil.get_terminal_size((120, 24)).columns
    cells = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    while sum(widths) + 2 * (len(widths) - 1) > width and max(widths) > 12:
        widths[widths.index(max(widths))] -= 1

    def fit(value: str, w: int) -> str:
        value = " ".join(str(value).split())
        return value if len(value) <= w else value[: w - 1] + "…"

    for i, row in enumerate(cells):
        print(
            "  ".join(fit(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
            file=out,
        )
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


# --- commands ---------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    server = (args.server or os.environ.get("FUZE_SERVER") or DEFAULT_SERVER).rstrip("/")
    login = args.username or input("Username or email: ")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    with client(server, None) as c:
        tokens = _check(c.post("/api/auth/login", json={"login": login, "password": password}))
        session = {"Authorization": f"Bearer {tokens['access_token']}"}
        name = f"fuze cli on {socket.gethostname()}"[:100]
        made = _check(
            c.post(
                "/api/users/me/tokens", headers=session, json={"name": name, "scope": args.scope}
            )
        )
        # The sign-in session is not kept: the token stands for it, and can be revoked alone.
        c.post("/api/auth/logout", headers=session, json={"refresh_token": tokens["refresh_token"]})
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"server": server, "token": made["token"], "token_id": made["id"]}, f)
    print(f"Signed in to {server} as {login}; a {args.scope} token was stored in {path}.")
    return 0


def cmd_logout(_: argparse.Namespace) -> int:
    stored = _stored()
    if not stored.get("token"):
        print("Not signed in.")
        return 0
    with client(stored["server"], stored["token"]) as c:
        r = c.delete(f"/api/users/me/tokens/{stored.get('token_id')}")
        if r.status_code >= 400 and r.status_code != 404:
            print("The server did not revoke the token; revoke it in Settings.", file=sys.stderr)
    config_file().unlink(missing_ok=True)
    print("Signed out; the token was revoked.")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"url": args.url}
    if args.tag:
        body["tags"] = args.tag
    if args.note:
        body["notes"] = args.note
    with _api() as c:
        saved = _check(c.post("/api/bookmarks", json=body))
        deadline = time.monotonic() + args.wait
        while saved["status"] not in ("ready", "failed") and time.monotonic() < deadline:
            time.sleep(1)
            saved = _check(c.get(f"/api/bookmarks/{saved['id']}"))
    if args.json:
        _print_json(saved)
        return 0
    print(f"{saved['status']:<10} {saved['id']}  {saved.get('title') or saved['url']}")
    if saved["status"] == "failed":
        print(f"  {saved.get('error_message')}", file=sys.stderr)
        return 1
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with _api() as c:
        found = _check(
            c.get("/api/search", params={"q": args.query, "mode": args.mode, "limit": args.limit})
        )
    if args.json:
        _print_json(found)
        return 0
    hits = [h for h in found["items"] if args.all or not h["weak"]]
    if not hits:
        print(f"Nothing in your library matches “{args.query}” well.")
        return 0
    table(
        [
            [
                f"{h['score']:.3f}",
                h["bookmark"]["title"] or "",
                h["bookmark"]["url"],
                h["bookmark"]["id"],
            ]
            for h in hits
        ],
        ["score", "title", "url", "id"],
    )
    return 0


def _project_id(c: httpx.Client, wanted: str) -> str:
    projects = _check(c.get("/api/projects", params={"limit": 100}))["items"]
    for p in projects:
        if p["id"] == wanted:
            return p["id"]
    matches = [p for p in projects if wanted.lower() in p["title"].lower()]
    if len(matches) == 1:
        return matches[0]["id"]
    if not matches:
        raise CliError(f"no project is called “{wanted}” (see the titles in the web app)")
    names = ", ".join(f"“{p['title']}”" for p in matches[:5])
    raise CliError(f"“{wanted}” names several projects: {names}; give more of the title")


def cmd_recommend(args: argparse.Namespace) -> int:
    with _api() as c:
        pid = _project_id(c, args.project)
        found = _check(c.get(f"/api/projects/{pid}/recommendations", params={"limit": args.limit}))
    if args.json:
        _print_json(found)
        return 0
    items = [i for i in found["items"] if args.all or not i["weak"]]
    if not items:
        print("Nothing in your library matches this project well yet.")
        return 0
    table(
        [
            [
                f"{i['score']:.2f}",
                i["bookmark"]["title"] or i["bookmark"]["url"],
                " ".join(i["reasons"]),
            ]
            for i in items
        ],
        ["score", "title", "why"],
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    with _api() as c, path.open("rb") as f:
        batch = _check(c.post("/api/imports", files={"file": (path.name, f)}))
        shown = ""
        while batch["status"] not in ("done", "failed"):
            line = f"{batch['status']}: {batch['parsed']}/{batch['total'] or '?'} read, {batch['imported']} new"
            if line != shown and not args.json:
                print(line, file=sys.stderr)
                shown = line
            time.sleep(1)
            batch = _check(c.get(f"/api/imports/{batch['id']}"))
    if args.json:
        _print_json(batch)
        return 0 if batch["status"] == "done" else 1
    if batch["status"] == "failed":
        print(f"The import failed: {batch.get('error_message')}", file=sys.stderr)
        return 1
    print(
        f"Imported {batch['imported']} of {batch['total']} ({batch['format_name']}): "
        f"{batch['duplicates']} already saved, {batch['invalid']} not saved."
    )
    for entry in (batch.get("failed_entries") or {}).get("items", []):
        print(f"  entry {entry['position']}: {entry.get('reason')}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        with _api() as c, c.stream("GET", "/api/exports", params={"format": args.format}) as r:
            if r.status_code >= 400:
                r.read()
                _check(r)
            for chunk in r.iter_bytes():
                out.write(chunk)
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"Exported to {args.output}.", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    login = sub.add_parser(
        "login", help="sign in to a Fuze server and keep a token for these commands"
    )
    login.add_argument(
        "--server", help=f"the server's address (default: FUZE_SERVER or {DEFAULT_SERVER})"
    )
    login.add_argument("--username")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument(
        "--scope", choices=["read", "write", "full"], default="write",
        help="what the stored token may do (default: write: save and change, never delete)",
    )  # fmt: skip
    login.set_defaults(func=cmd_login)
    sub.add_parser("logout", help="revoke and forget the stored token").set_defaults(
        func=cmd_logout
    )

    save = sub.add_parser("save", help="save a page (or PDF) by its address")
    save.add_argument("url")
    save.add_argument("--tag", action="append", help="a tag (repeat for more)")
    save.add_argument("--note")
    save.add_argument(
        "--wait", type=float, default=0, metavar="S", help="wait up to S seconds for it to be ready"
    )
    save.add_argument("--json", action="store_true")
    save.set_defaults(func=cmd_save)

    search = sub.add_parser("search", help="search what you saved")
    search.add_argument("query")
    search.add_argument("--mode", choices=["hybrid", "semantic", "keyword"], default="hybrid")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--all", action="store_true", help="also the weaker matches")
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)

    rec = sub.add_parser(
        "recommend", help="what you saved that helps a project (its id or part of its title)"
    )
    rec.add_argument("project")
    rec.add_argument("--limit", type=int, default=10)
    rec.add_argument("--all", action="store_true", help="also the weaker matches")
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(func=cmd_recommend)

    imp = sub.add_parser("import", help="import a bookmarks file (any format the web app takes)")
    imp.add_argument("file")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser("export", help="export your bookmarks")
    exp.add_argument("--format", choices=["json", "csv", "html"], default="json")
    exp.add_argument("-o", "--output", help="the file to write (default: stdout)")
    exp.set_defaults(func=cmd_export)


def run(func: Any, args: argparse.Namespace) -> int:
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"fuze {args.command}: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"fuze {args.command}: cannot reach the server ({exc})", file=sys.stderr)
        return 2
