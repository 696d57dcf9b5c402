"""deploy/ and compose.yaml as an operator runs them: the services and settings they must
name, and nginx's own check of deploy/nginx.conf (Debian's nginx, installed when missing).

There is no Docker engine here, so compose.yaml is read, not run; what can be checked
against the code is (the Redis URL the app parses, the import limit, the worker's grace).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from app.broker import redis_target
from app.config import Settings
from tests.cluster import NGINX_CONF, nginx_binary
from workers.main import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert match and value, value
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_compose_runs_a_streaming_standby_and_reads_from_it():
    replica = SERVICES["postgres-replica"]
    assert replica["image"] == SERVICES["postgres"]["image"]
    script = (ROOT / "deploy" / "postgres" / "replica.sh").read_text()
    assert "pg_basebackup" in script and " -R " in script and "hot_standby_feedback=on" in script
    assert any("replica.sh" in v for v in replica["volumes"])
    # The primary lets it replicate and keeps a slot for it.
    init = (ROOT / "deploy" / "postgres" / "primary-init.sh").read_text()
    assert "host replication" in init
    assert (
        f"pg_create_physical_replication_slot('{replica['environment']['REPLICATION_SLOT']}')"
        in init
    )
    assert any("docker-entrypoint-initdb.d" in v for v in SERVICES["postgres"]["volumes"])
    env = COMPOSE["x-fuze-env"]
    settings = Settings(database_read_urls=env["FUZE_DATABASE_READ_URLS"])
    assert [u.split("@")[1] for u in settings.database_read_urls] == ["postgres-replica:5432/fuze"]


def test_compose_runs_valkey_with_three_sentinels_and_fuze_follows_them():
    for name in ("valkey", "valkey-replica"):
        command = SERVICES[name]["command"]
        assert command[command.index("--appendonly") + 1] == "yes", name
    command = SERVICES["valkey-replica"]["command"]
    assert command[command.index("--replicaof") + 1 :][:2] == ["valkey", "6379"]
    sentinels = [f"sentinel-{n}" for n in (1, 2, 3)]
    script = (ROOT / "deploy" / "valkey" / "sentinel.sh").read_text()
    assert "sentinel monitor fuze valkey 6379 2" in script
    for name in sentinels:
        assert SERVICES[name]["environment"]["SENTINEL_HOST"] == name
        # Its own volume: the configuration a sentinel rewrites survives its restart.
        assert f"{name}:/data" in SERVICES[name]["volumes"]
    target = redis_target(Settings(redis_url=COMPOSE["x-fuze-env"]["FUZE_REDIS_URL"]))
    assert target.sentinel and target.master == "fuze"
    assert [host for host, port in target.sentinels] == sentinels
    for name in ("api", "worker"):
        assert set(sentinels) <= set(SERVICES[name]["depends_on"]), name


def test_workers_finish_their_running_job_before_docker_kills_them():
    wait = WorkerSettings.job_completion_wait
    assert wait >= Settings().pipeline_job_timeout_seconds
    assert _seconds(SERVICES["worker"]["stop_grace_period"]) > wait


def test_api_and_workers_share_a_volume_for_the_exported_query_encoder():
    for name in ("api", "worker"):
        assert "fuze-models:/var/lib/fuze/models" in SERVICES[name]["volumes"], name
    assert "fuze-models" in COMPOSE["volumes"]


def test_nginx_is_pinned_to_a_version_with_upstream_resolve():
    image = SERVICES["nginx"]["image"]
    match = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)-alpine", image)
    assert match, f"pin an exact nginx version, not {image}"
    assert tuple(map(int, match.groups())) >= (1, 27, 3)  # `server ... resolve` in upstream


def test_nginx_takes_bodies_as_large_as_the_import_limit():
    size = re.search(r"client_max_body_size (\d+)m;", NGINX_CONF)
    assert size
    assert int(size[1]) * 1024 * 1024 > Settings().import_max_bytes


def test_nginx_retries_only_saves_on_another_replica():
    blocks = re.findall(r"location ([^{]+)\{([^}]*)\}", NGINX_CONF)
    retrying = [where.strip() for where, body in blocks if "non_idempotent" in body]
    assert retrying == ["= /api/bookmarks"]
    body = dict((w.strip(), b) for w, b in blocks)["= /api/bookmarks"]
    assert re.search(r"proxy_next_upstream error timeout http_502 http_503 non_idempotent;", body)


def test_nginx_accepts_the_deploy_config(tmp_path):
    nginx = nginx_binary()
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    found = tuple(map(int, re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version).groups()))  # type: ignore[union-attr]
    conf = NGINX_CONF
    # Outside Docker there is no `api` host nor Docker's resolver: point the upstream at
    # loopback. Debian's nginx may predate `resolve` (1.27.3); the pinned image has it.
    conf = conf.replace("server api:8000", "server 127.0.0.1:8000")
    conf = re.sub(r"\n\s*resolver [^;]+;", "\n", conf)
    if found < (1, 27, 3):
        conf = conf.replace(" resolve max_fails", " max_fails")
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    r = subprocess.run(
        [nginx, "-t", "-c", str(path), "-e", "/dev/stderr", "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
