"""Projects, tasks and subtasks through the API: CRUD, order, cascades, the wall between users,
and the embedding of their text (the real model)."""

from __future__ import annotations

import asyncio
import math
import uuid

from sqlalchemy import text


async def _vector(db, table: str, row_id: str) -> list[float] | None:  # type: ignore[no-untyped-def]
    value = (
        await db.execute(
            text(f"SELECT embedding::text FROM {table} WHERE id = :id"), {"id": row_id}
        )
    ).scalar()
    return None if value is None else [float(x) for x in value.strip("[]").split(",")]


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def _project(client, account, **fields):  # type: ignore[no-untyped-def]
    body = {"title": "Fuze", **fields}
    r = await client.post("/api/projects", headers=account.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _task(client, account, project_id: str, title: str, **fields):  # type: ignore[no-untyped-def]
    r = await client.post(
        f"/api/projects/{project_id}/tasks",
        headers=account.headers,
        json={"title": title, **fields},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _titles(client, account, project_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    r = await client.get(f"/api/projects/{project_id}/tasks", headers=account.headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [t["position"] for t in items] == list(range(len(items)))
    return [t["title"] for t in items]


async def test_a_project_is_created_listed_edited_and_deleted(client, alice):
    created = await _project(
        client,
        alice,
        title="  Fix the   memory leak in our API ",
        description="The worker crashes after a day; find the leak and fix it.",
        technologies=["Python", "python", " asyncio "],
    )
    assert created["title"] == "Fix the memory leak in our API"
    assert created["technologies"] == ["Python", "asyncio"]
    assert created["status"] == "active" and created["task_count"] == 0
    # No Gemini key: the intent comes from keywords, and says so.
    assert created["intent_status"] == "skipped"
    assert created["intent"]["goal"] == "debug" and created["intent"]["source"] == "rules"

    learn = await _project(client, alice, title="Learn Rust", description="Study ownership.")
    assert learn["intent"]["goal"] == "learn"

    page = (await client.get("/api/projects", headers=alice.headers)).json()
    assert [p["id"] for p in page["items"]] == [learn["id"], created["id"]]

    r = await client.patch(
        f"/api/projects/{created['id']}", headers=alice.headers, json={"status": "done"}
    )
    assert r.status_code == 200 and r.json()["status"] == "done"
    done = (await client.get("/api/projects?status=done", headers=alice.headers)).json()
    assert [p["id"] for p in done["items"]] == [created["id"]]

    r = await client.delete(f"/api/projects/{created['id']}", headers=alice.headers)
    assert r.status_code == 204
    r = await client.get(f"/api/projects/{created['id']}", headers=alice.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "project_not_found"


async def test_projects_are_paged_with_a_cursor(client, alice):
    ids = [(await _project(client, alice, title=f"P{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/projects?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=alice.headers)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    r = await client.get("/api/projects?cursor=nonsense", headers=alice.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"


async def test_bad_project_input_is_a_422(client, alice):
    for body in ({"title": "   "}, {"title": ""}, {"title": "x", "status": "sleeping"}, {}):
        r = await client.post("/api/projects", headers=alice.headers, json=body)
        assert r.status_code == 422, body
    r = await client.post(
        "/api/projects",
        headers=alice.headers,
        json={"title": "x", "technologies": ["a"] * 0 + [str(i) for i in range(31)]},
    )
    assert r.status_code == 422


async def test_tasks_keep_their_order_through_inserts_moves_and_deletes(client, alice):
    project = await _project(client, alice)
    a = await _task(client, alice, project["id"], "A")
    b = await _task(client, alice, project["id"], "B")
    c = await _task(client, alice, project["id"], "C")
    assert [a["position"], b["position"], c["position"]] == [0, 1, 2]
    await _task(client, alice, project["id"], "First", position=0)
    assert await _titles(client, alice, project["id"]) == ["First", "A", "B", "C"]
    await _task(client, alice, project["id"], "Last", position=99)
    assert await _titles(client, alice, project["id"]) == ["First", "A", "B", "C", "Last"]

    r = await client.patch(f"/api/tasks/{c['id']}", headers=alice.headers, json={"position": 0})
    assert r.status_code == 200 and r.json()["position"] == 0
    assert await _titles(client, alice, project["id"]) == ["C", "First", "A", "B", "Last"]
    await client.patch(f"/api/tasks/{c['id']}", headers=alice.headers, json={"position": 3})
    assert await _titles(client, alice, project["id"]) == ["First", "A", "B", "C", "Last"]

    r = await client.delete(f"/api/tasks/{a['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert await _titles(client, alice, project["id"]) == ["First", "B", "C", "Last"]

    r = await client.patch(
        f"/api/tasks/{b['id']}", headers=alice.headers, json={"status": "done", "title": "B2"}
    )
    assert r.json()["status"] == "done" and r.json()["title"] == "B2"
    got = (await client.get(f"/api/projects/{project['id']}", headers=alice.headers)).json()
    assert got["task_count"] == 4 and got["done_task_count"] == 1
    todo = (
        await client.get(f"/api/projects/{project['id']}/tasks?status=done", headers=alice.headers)
    ).json()
    assert [t["title"] for t in todo["items"]] == ["B2"]

    page = (
        await client.get(f"/api/projects/{project['id']}/tasks?limit=3", headers=alice.headers)
    ).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = (
        await client.get(
            f"/api/projects/{project['id']}/tasks?limit=3&cursor={page['next_cursor']}",
            headers=alice.headers,
        )
    ).json()
    assert [t["title"] for t in rest["items"]] == ["Last"] and rest["next_cursor"] is None


async def test_subtasks_are_ordered_ticked_and_go_with_their_task_and_project(client, alice, db):
    project = await _project(client, alice)
    task = await _task(
        client, alice, project["id"], "Ship it", subtasks=[{"title": "one"}, {"title": "two"}]
    )
    assert [s["title"] for s in task["subtasks"]] == ["one", "two"]
    r = await client.post(
        f"/api/tasks/{task['id']}/subtasks",
        headers=alice.headers,
        json={"title": "zero", "position": 0},
    )
    assert r.status_code == 201
    zero = r.json()
    listed = (await client.get(f"/api/tasks/{task['id']}/subtasks", headers=alice.headers)).json()
    assert [s["title"] for s in listed["items"]] == ["zero", "one", "two"]
    assert [s["position"] for s in listed["items"]] == [0, 1, 2]

    r = await client.patch(
        f"/api/subtasks/{zero['id']}", headers=alice.headers, json={"done": True, "position": 2}
    )
    assert r.status_code == 200 and r.json()["done"] is True and r.json()["position"] == 2
    got = (await client.get(f"/api/tasks/{task['id']}", headers=alice.headers)).json()
    assert [(s["title"], s["done"]) for s in got["subtasks"]] == [
        ("one", False),
        ("two", False),
        ("zero", True),
    ]
    one = got["subtasks"][0]
    assert (
        await client.delete(f"/api/subtasks/{one['id']}", headers=alice.headers)
    ).status_code == 204
    got = (await client.get(f"/api/tasks/{task['id']}", headers=alice.headers)).json()
    assert [(s["title"], s["position"]) for s in got["subtasks"]] == [("two", 0), ("zero", 1)]

    # Deleting the project takes its tasks and subtasks with it.
    assert (
        await client.delete(f"/api/projects/{project['id']}", headers=alice.headers)
    ).status_code == 204
    left = (
        await db.execute(
            text(
                "SELECT (SELECT count(*) FROM tasks WHERE project_id = :p),"
                " (SELECT count(*) FROM subtasks WHERE task_id = :t)"
            ),
            {"p": project["id"], "t": task["id"]},
        )
    ).one()
    assert tuple(left) == (0, 0)
    assert (await client.get(f"/api/tasks/{task['id']}", headers=alice.headers)).status_code == 404


async def test_another_users_projects_tasks_and_subtasks_are_404(client, alice, bob):
    project = await _project(client, alice)
    task = await _task(client, alice, project["id"], "Mine", subtasks=[{"title": "s"}])
    sub = task["subtasks"][0]
    missing = str(uuid.uuid4())
    attempts = [
        ("GET", f"/api/projects/{project['id']}", None),
        ("PATCH", f"/api/projects/{project['id']}", {"title": "hijack"}),
        ("DELETE", f"/api/projects/{project['id']}", None),
        ("GET", f"/api/projects/{project['id']}/tasks", None),
        ("POST", f"/api/projects/{project['id']}/tasks", {"title": "intruder"}),
        ("POST", f"/api/projects/{project['id']}/breakdown", {}),
        ("POST", f"/api/projects/{project['id']}/breakdown/accept", {"tasks": [{"title": "x"}]}),
        ("GET", f"/api/tasks/{task['id']}", None),
        ("PATCH", f"/api/tasks/{task['id']}", {"title": "hijack"}),
        ("DELETE", f"/api/tasks/{task['id']}", None),
        ("GET", f"/api/tasks/{task['id']}/subtasks", None),
        ("POST", f"/api/tasks/{task['id']}/subtasks", {"title": "intruder"}),
        ("GET", f"/api/subtasks/{sub['id']}", None),
        ("PATCH", f"/api/subtasks/{sub['id']}", {"done": True}),
        ("DELETE", f"/api/subtasks/{sub['id']}", None),
    ]
    for method, path, body in attempts:
        theirs = await client.request(method, path, headers=bob.headers, json=body)
        nothing = await client.request(
            method,
            path.replace(project["id"], missing)
            .replace(task["id"], missing)
            .replace(sub["id"], missing),
            headers=bob.headers,
            json=body,
        )
        assert theirs.status_code == 404, (method, path, theirs.text)
        assert theirs.json()["error"]["code"] == nothing.json()["error"]["code"], path
    # Nothing of Alice's changed.
    got = (await client.get(f"/api/tasks/{task['id']}", headers=alice.headers)).json()
    assert got["title"] == "Mine" and got["subtasks"][0]["done"] is False
    assert (await client.get("/api/projects", headers=bob.headers)).json()["items"] == []
    assert (await client.get("/api/projects")).status_code == 401


async def test_every_project_task_and_subtask_gets_a_vector_of_its_text(client, alice, db):
    project = await _project(
        client,
        alice,
        title="Learn PostgreSQL query tuning",
        description="Indexes, EXPLAIN ANALYZE and vacuum.",
        technologies=["PostgreSQL"],
    )
    task = await _task(
        client,
        alice,
        project["id"],
        "Read query plans",
        description="Understand sequential scans versus index scans.",
        subtasks=[{"title": "Try EXPLAIN ANALYZE on a slow join"}],
    )
    sub_id = task["subtasks"][0]["id"]
    other = await _task(client, alice, project["id"], "Bake sourdough bread for the team party")

    vectors = {
        "project": await _vector(db, "projects", project["id"]),
        "task": await _vector(db, "tasks", task["id"]),
        "subtask": await _vector(db, "subtasks", sub_id),
        "other": await _vector(db, "tasks", other["id"]),
    }
    for name, vector in vectors.items():
        assert vector is not None and len(vector) == 384, name
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)
    # The vectors mean something: the query-plan task is closer to the project than bread is.
    assert (
        _cos(vectors["project"], vectors["task"]) > _cos(vectors["project"], vectors["other"]) + 0.2
    )

    # A status change keeps the vector; a new text gets a new one.
    await client.patch(
        f"/api/projects/{project['id']}", headers=alice.headers, json={"status": "paused"}
    )
    assert await _vector(db, "projects", project["id"]) == vectors["project"]
    await client.patch(f"/api/tasks/{task['id']}", headers=alice.headers, json={"status": "done"})
    assert await _vector(db, "tasks", task["id"]) == vectors["task"]
    await client.patch(f"/api/subtasks/{sub_id}", headers=alice.headers, json={"done": True})
    assert await _vector(db, "subtasks", sub_id) == vectors["subtask"]

    await client.patch(
        f"/api/projects/{project['id']}",
        headers=alice.headers,
        json={"description": "Kubernetes autoscaling for the workers."},
    )
    changed = await _vector(db, "projects", project["id"])
    assert changed is not None and changed != vectors["project"]
    await client.patch(
        f"/api/tasks/{task['id']}", headers=alice.headers, json={"title": "Bake sourdough bread"}
    )
    retitled = await _vector(db, "tasks", task["id"])
    # (its description is unchanged and still counts)
    assert retitled is not None
    assert _cos(retitled, vectors["other"]) > _cos(vectors["task"], vectors["other"]) + 0.1
    await client.patch(f"/api/subtasks/{sub_id}", headers=alice.headers, json={"title": "Knead"})
    assert await _vector(db, "subtasks", sub_id) != vectors["subtask"]


async def test_when_the_api_cannot_embed_a_worker_does(client, alice, db, app, redis, job_ctx):
    from app.projects import jobs
    from app.projects.router import get_vectors
    from app.projects.service import Vectors

    app.dependency_overrides[get_vectors] = lambda: Vectors(None, app.state.redis)
    try:
        project = await _project(client, alice, title="Tune the crawler")
        task = await _task(
            client, alice, project["id"], "Respect robots.txt", subtasks=[{"title": "Parse it"}]
        )
    finally:
        app.dependency_overrides.pop(get_vectors)
    sub_id = task["subtasks"][0]["id"]
    assert await _vector(db, "projects", project["id"]) is None
    queued = sorted(j.args for j in await redis.queued_jobs() if j.function == "embed_context")
    assert queued == sorted([("project", project["id"]), ("task", task["id"])])

    for kind, row_id in queued:
        await jobs.embed_context(job_ctx, kind, row_id)
    for table, row_id in (("projects", project["id"]), ("tasks", task["id"]), ("subtasks", sub_id)):
        vector = await _vector(db, table, row_id)
        assert vector is not None and len(vector) == 384, table


async def test_concurrent_adds_and_moves_keep_positions_dense(live_client):
    from tests.conftest import register_and_login

    account = await register_and_login(live_client)
    project = await _project(live_client, account)
    created = await asyncio.gather(
        *(_task(live_client, account, project["id"], f"T{i}") for i in range(8))
    )
    assert sorted(t["position"] for t in created) == list(range(8))
    # Moves and deletes racing each other still leave 0..n-1.
    await asyncio.gather(
        *(
            live_client.patch(
                f"/api/tasks/{t['id']}", headers=account.headers, json={"position": 7 - i}
            )
            for i, t in enumerate(created[:4])
        ),
        live_client.delete(f"/api/tasks/{created[5]['id']}", headers=account.headers),
    )
    titles = await _titles(live_client, account, project["id"])  # asserts 0..n-1
    assert len(titles) == 7
