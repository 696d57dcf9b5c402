"""Prometheus metrics (app/metrics.py): what real requests, a real arq worker and the caches
leave in GET /metrics, and who may read it."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from tests.conftest import close_app, make_settings, wait_for


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sample's value, 0 when there is none (yet)."""
    return _samples(text).get((name, frozenset(labels.items())), 0.0)


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "metrics_forbidden"
    assert "FUZE_METRICS_TOKEN" in error["message"]


async def test_requests_are_counted_by_route_template_method_and_status(client, alice):
    missing = uuid.uuid4()
    before = (await client.get("/metrics")).text
    r = await client.get(f"/api/bookmarks/{missing}", headers=alice.headers)
    assert r.status_code == 404
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    labels = {"route": "/api/bookmarks/{bookmark_id}", "method": "GET"}
    counted = "fuze_http_requests_total"
    assert (
        value(r.text, counted, **labels, status="404")
        == value(before, counted, **labels, status="404") + 1
    )
    assert value(r.text, "fuze_http_request_duration_seconds_count", **labels) >= 1
    # The template, never the address itself (no ids in labels).
    assert str(missing) not in r.text
    # An address that no route answers is one label, whatever the address.
    await client.get(f"/no/such/{missing}")
    r = await client.get("/metrics")
    assert value(r.text, counted, route="other", method="GET", status="200") >= 1


async def test_metrics_are_refused_to_other_clients_unless_they_bear_the_token(app, stack):
    remote = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://testserver") as c:
        _refused(await c.get("/metrics"))

    with_token = create_app(make_settings(stack, metrics_token="s3cret-metrics-token"))
    try:
        remote = httpx.ASGITransport(app=with_token, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=remote, base_url="http://testserver") as c:
            _refused(await c.get("/metrics"))
            _refused(await c.get("/metrics", headers={"Authorization": "Bearer wrong"}))
            r = await c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
            assert r.status_code == 200
            assert "fuze_http_requests_total" in r.text
    finally:
        await close_app(with_token)

    no_loopback = create_app(make_settings(stack, metrics_allow_loopback=False))
    try:
        local = httpx.ASGITransport(app=no_loopback, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=local, base_url="http://testserver") as c:
            _refused(await c.get("/metrics"))
    finally:
        await close_app(no_loopback)


@pytest.mark.usefixtures("pipeline_worker")
async def test_a_real_api_and_worker_count_saves_jobs_searches_and_caches(
    api, api_user, pipeline_worker
):
    """The live API process and arq worker share a multiprocess folder (as under `fuze up`):
    the API's /metrics adds up both."""
    h = api_user.headers
    before = (await api.get("/metrics")).text
    page = "<html><head><title>Watercolor basics</title></head><body><p>{}</p></body></html>"
    text = page.format("Painting landscapes with watercolors, washes and wet brushes. " * 20)
    url = f"https://example.com/metrics-{uuid.uuid4().hex}"
    r = await api.post("/api/bookmarks", headers=h, json={"url": url, "html": text})
    assert r.status_code == 201, r.text
    saved = r.json()["id"]

    async def settled() -> bool:
        b = (await api.get(f"/api/bookmarks/{saved}", headers=h)).json()
        return b["status"] == "ready" and b["analysis_status"] not in (None, "pending")

    await wait_for(settled, within=180, interval=0.2)

    # The API process loads the model at its first search: slow on a busy machine.
    for _ in range(2):
        r = await api.get("/api/search", headers=h, params={"q": "watercolor washes"}, timeout=180)
        assert r.status_code == 200, r.text
    body = {"text": "painting landscapes with watercolors", "limit": 3}
    answers = []
    for _ in range(2):
        r = await api.post("/api/recommendations", headers=h, json=body, timeout=180)
        assert r.status_code == 200, r.text
        answers.append(r.json()["cached"])
    assert answers == [False, True]

    async def counted() -> str | None:
        # The worker's counts reach the folder as its jobs end.
        now = (await api.get("/metrics")).text
        done = value(now, "fuze_jobs_total", stage="embedding", outcome="ok") > value(
            before, "fuze_jobs_total", stage="embedding", outcome="ok"
        )
        return now if done else None

    now = await wait_for(counted, within=60)

    def grew(name: str, **labels: str) -> float:
        return value(now, name, **labels) - value(before, name, **labels)

    assert (
        grew("fuze_http_requests_total", route="/api/bookmarks", method="POST", status="201") >= 1
    )
    assert grew("fuze_http_requests_total", route="/api/search", method="GET", status="200") >= 2
    assert (
        grew("fuze_http_requests_total", route="/api/recommendations", method="POST", status="200")
        >= 2
    )
    # The captured page went through extraction and embedding in the worker.
    assert grew("fuze_jobs_total", stage="extraction", outcome="ok") >= 1
    assert grew("fuze_job_duration_seconds_count", stage="extraction") >= 1
    assert grew("fuze_jobs_total", stage="embedding", outcome="ok") >= 1
    # The page's text was embedded once (a miss); the same query's vector was then reused.
    assert grew("fuze_cache_requests_total", cache="embeddings", result="miss") >= 1
    assert grew("fuze_cache_requests_total", cache="query_vectors", result="hit") >= 1
    assert grew("fuze_cache_requests_total", cache="recommendations", result="miss") >= 1
    assert grew("fuze_cache_requests_total", cache="recommendations", result="hit") >= 1
    assert grew("fuze_db_reads_total", target="primary") >= 1
    assert re.search(r'^fuze_queue_depth\{queue="default"\} \d', now, re.M)
    assert re.search(r'^fuze_queue_depth\{queue="imports"\} \d', now, re.M)
    # No user data in any label.
    assert url not in now and saved not in now and api_user.username not in now

    # The worker's own endpoint answers too (FUZE_WORKER_METRICS_PORT).
    assert pipeline_worker.metrics_url
    async with httpx.AsyncClient(timeout=30) as c:
        r = await wait_for(lambda: _get_ok(c, pipeline_worker.metrics_url), within=60)
    assert value(r.text, "fuze_jobs_total", stage="embedding", outcome="ok") >= 1


async def _get_ok(c: httpx.AsyncClient, url: str) -> httpx.Response | None:
    try:
        r = await c.get(url)
    except httpx.HTTPError:
        return None
    return r if r.status_code == 200 else None


async def test_a_real_api_refuses_a_forwarded_remote_client(api):
    """Behind a proxy on loopback (nginx), the client is the one it forwards: a remote one
    is refused."""
    _refused(await api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}))
    r = await api.get("/metrics")
    assert r.status_code == 200


def test_the_dashboard_reads_only_metrics_that_exist():
    """deploy/grafana's dashboard stays in step with what app/metrics.py exports."""
    import json
    from pathlib import Path

    from app import metrics

    dashboard = json.loads(
        (Path(__file__).resolve().parents[1] / "deploy/grafana/fuze-dashboard.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", n) for e in exprs for n in re.findall(r"fuze_\w+", e)
    }
    exported = {
        m._name + ("_total" if m._type == "counter" else "")
        for m in vars(metrics).values()
        if hasattr(m, "_type") and hasattr(m, "_name")
    } | {"fuze_queue_depth"}
    assert used and used <= exported, used - exported
    shown = {n.removesuffix("_total") for n in used}
    for name in ("fuze_http_requests", "fuze_db_reads", "fuze_jobs", "fuze_cache_requests"):
        assert name in shown


def test_a_workers_own_endpoint_keeps_to_the_same_rules():
    from app.metrics import serve_worker_metrics

    server = serve_worker_metrics("127.0.0.1", 0, "worker-token", loopback=False)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        _refused(httpx.get(url, timeout=30))
        _refused(httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=30))
        r = httpx.get(url, headers={"Authorization": "Bearer worker-token"}, timeout=30)
        assert r.status_code == 200 and "fuze_jobs_total" in r.text
    finally:
        server.shutdown()
        server.server_close()
