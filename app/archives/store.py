"""Where page archives live: `archives/<user id>/pages/<bookmark id>/<archive id>.html.gz`
under the data folder (beside the kept PDF and text files, in `fuze backup`), and the raw
page the worker archives from, staged there between extraction and the archive job."""

from __future__ import annotations

import gzip
import shutil
import uuid
from pathlib import Path

from app.extraction.documents import archive_dir


def pages_dir(data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str) -> Path:
    return archive_dir(data_dir, user_id) / "pages" / str(uuid.UUID(str(bookmark_id)))


def archive_file(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str, archive_id: uuid.UUID
) -> Path:
    return pages_dir(data_dir, user_id, bookmark_id) / f"{archive_id}.html.gz"


def staged_file(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str, run: int
) -> Path:
    return pages_dir(data_dir, user_id, bookmark_id) / f"page-{run}.html"


def stage(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)


def write(path: Path, body: bytes) -> int:
    """Writes the archive compressed; returns its size on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(body)
    tmp.replace(path)
    return path.stat().st_size


def keep(path: Path, gzipped: bytes) -> None:
    """Keeps an archive that is already compressed (one brought back by an import)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzipped)
    tmp.replace(path)


def read(path: Path) -> bytes:
    with gzip.open(path, "rb") as f:
        return f.read()


def remove_all(data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str) -> None:
    shutil.rmtree(pages_dir(data_dir, user_id, bookmark_id), ignore_errors=True)
