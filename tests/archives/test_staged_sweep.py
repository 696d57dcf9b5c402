"""Staged pages whose archive job was never queued (Redis down at the extract stage, a worker
stopped in between) are queued again by the sweeper, on the real Valkey, and given up after
a day; a page still fresh is left to its job."""

from __future__ import annotations

import os
import time
import uuid

from app.archives import jobs as archive_jobs
from app.archives import store


async def test_the_sweeper_queues_the_archive_of_a_page_left_staged(settings, redis, tmp_path):  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"data_dir": tmp_path})
    user = uuid.uuid4()
    lost, fresh, ancient = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    paths = {}
    for bookmark, age in ((lost, 3600), (fresh, 0), (ancient, 2 * 24 * 3600)):
        path = store.staged_file(tmp_path, user, bookmark, 3)
        store.stage(path, "<html><body>staged</body></html>")
        os.utime(path, (time.time() - age, time.time() - age))
        paths[bookmark] = path
    (tmp_path / "archives" / str(user) / "pages" / "not-a-bookmark").mkdir()
    (tmp_path / "archives" / str(user) / "pages" / "not-a-bookmark" / "page-1.html").write_text("")

    ctx = {"settings": settings, "redis": redis}
    assert await archive_jobs.sweep_staged(ctx) == 1
    queued = [j.decode() for j in await redis.zrange("arq:queue", 0, -1)]
    assert f"archive_page:{lost}:3" in queued
    assert not any(str(fresh) in j or str(ancient) in j for j in queued)
    assert paths[lost].is_file() and paths[fresh].is_file()  # the job reads, then removes it
    assert not paths[ancient].exists()
    # Swept again while its job is still queued: not queued twice.
    await archive_jobs.sweep_staged(ctx)
    queued = [j.decode() for j in await redis.zrange("arq:queue", 0, -1)]
    assert queued.count(f"archive_page:{lost}:3") == 1
