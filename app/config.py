"""One Settings object for the whole service; every variable is read with the FUZE_ prefix."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET = "change-me"
# `FUZE_API_WORKERS=auto` starts no more API processes than this: each holds its own query
# encoder (docs/configuration.md gives its memory).
AUTO_API_WORKERS_CAP = 4


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, bounded by a cgroup CPU quota (a
    container started with `--cpus 2` sees every core of the host but may use two)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def api_workers_value(value: object) -> int | Literal["auto"]:
    """FUZE_API_WORKERS or `fuze up --api-workers`: auto, or a whole number of at least 1."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"API processes: a whole number of at least 1, or auto, not {value!r}")
    return int(text)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUZE_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".fuze")

    # Unset: `fuze up` starts embedded servers and hands their URLs to its children.
    database_url: str | None = None
    # redis://host:6379/0 for one server, or redis+sentinel://host:26379,host:26379/master/0
    # for a primary watched by Sentinel (app/broker.py; docs/configuration.md).
    redis_url: str | None = None
    # Streaming standbys of FUZE_DATABASE_URL, comma-separated: the read pool's statements
    # (sign-in, search, recommendations) go to one when it may (app.db.ReadPool;
    # docs/deployment.md). A user who has just written reads from a standby only once it has
    # replayed that write; a standby further behind than the bound, down or refusing is
    # skipped for the primary, and tried again after the retry interval.
    database_read_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    read_replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    read_replica_poll_seconds: float = Field(default=0.05, gt=0)
    read_replica_retry_seconds: float = Field(default=5.0, gt=0)
    # Sentinel without a URL: `host:port,host:port` and the name the sentinels monitor. When
    # set it wins over FUZE_REDIS_URL's host, whose database number and credentials still apply.
    redis_sentinels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    redis_sentinel_master: str = "fuze"

    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_recycle: int = 300
    db_pool_pre_ping: bool = True
    # The role the API and workers act as once connected: it owns no table, so the database's
    # row-level security policies apply to it (docs/security.md). Migrations, backups and
    # restores keep the login role of FUZE_DATABASE_URL, which owns the tables.
    database_role: str = "fuze_app"

    secret_key: str | None = None
    # Every process on one database must use one secret key; a process with another refuses
    # to start unless this is set, and then its key becomes the database's (app/auth/key_check.py).
    secret_key_rotate: bool = False
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # A stream ticket (POST /api/events/ticket) opens GET /api/events once, within this time.
    events_ticket_ttl_seconds: int = 60
    # An open event stream re-reads whether its session stands at least this often (it also
    # does at once when a session of its user ends, over pub/sub; this covers a lost message).
    events_recheck_seconds: float = 30.0
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "fuze"
    # argon2 cost; tests lower it so that hundreds of logins stay fast.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024

    # Who may create an account: anyone (open), people with an invite code from an
    # administrator (invite), or only administrators through the admin API (closed). Unset:
    # open in development and test, invite in production. The first account of a server can
    # always be created, and is an administrator.
    signup: Literal["open", "invite", "closed"] | None = None
    # Per-user limits, 0 for none; an administrator can set a user's own limit instead.
    max_bookmarks_per_user: int = Field(default=0, ge=0)
    # Page archives (app/archives): a self-contained copy of each saved page, made by the
    # worker. Caps per file fetched and per archive; all of a user's archives together are
    # capped by max_archive_bytes_per_user (or their own limit).
    archive_pages: bool = True
    archive_asset_max_mb: float = Field(default=5, gt=0)
    archive_max_mb: float = Field(default=20, gt=0)
    # What a user's page archives may take on disk, compressed (app/archives).
    max_archive_bytes_per_user: int = Field(default=0, ge=0)
    # The library's card pictures (app/thumbnails): the page's image, fetched up to
    # thumbnail_max_mb and decoded only when it has at most thumbnail_max_pixels.
    thumbnails: bool = True
    thumbnail_max_mb: float = Field(default=8, gt=0)
    thumbnail_max_pixels: int = Field(default=40_000_000, gt=0)

    host: str = "127.0.0.1"
    port: int = 8000
    # API processes under `fuze up` (uvicorn workers sharing the port, stateless like
    # replicas): a number, or auto for the usable cores, at most AUTO_API_WORKERS_CAP.
    api_workers: int | Literal["auto"] = "auto"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:5173", "http://127.0.0.1:5173"]
    )
    # Browser extensions call the API from their own origin.
    cors_origin_regex: str | None = r"^(chrome|moz|safari-web)-extension://[A-Za-z0-9\-_.@{}]+$"
    max_body_bytes: int = 2 * 1024 * 1024
    max_save_body_bytes: int = 12 * 1024 * 1024

    rate_limit_enabled: bool = True
    rate_limit_ip_per_minute: int = 600
    rate_limit_user_per_minute: int = 300
    rate_limit_auth_ip_per_minute: int = 20
    rate_limit_login_failures: int = 10
    rate_limit_login_failure_window_seconds: int = 15 * 60

    # Fetching saved pages.
    fetch_timeout_seconds: float = 15.0
    fetch_max_bytes: int = 10 * 1024 * 1024
    fetch_max_redirects: int = 5
    fetch_user_agent: str = "FuzeBot/0.1 (+https://github.com/fuze; self-hosted bookmark manager)"
    # PDFs (linked or uploaded) and uploaded Markdown or text files: the largest file taken,
    # the pages whose text is read (the rest are counted, not read), and how long a PDF may
    # take to read before it fails. Kept files live in <data_dir>/archives (docs/pdfs.md).
    pdf_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    pdf_max_pages: int = Field(default=500, ge=1)
    pdf_timeout_seconds: float = Field(default=60.0, gt=0)
    # Off: loopback, private, link-local, multicast and metadata addresses are refused (SSRF).
    # Self-hosters saving intranet pages, and tests against a local server, turn it on.
    allow_private_networks: bool = False
    # Webhooks (app/webhooks): the waits between a failed delivery's tries (then it fails),
    # how many deliveries in a row may fail before the endpoint is paused, and how long one
    # call may take. Endpoints must be https unless private networks are allowed.
    webhook_retry_seconds: list[float] = Field(default=[30, 120, 600, 3600, 21600])
    webhook_pause_after_failures: int = Field(default=5, ge=1)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    gemini_base_url: str | None = None
    # The AI for users without their own (app/llm.py): gemini, openai (any OpenAI-compatible
    # endpoint) or ollama, with its address, model and key. Unset: users bring their own.
    llm_provider: Literal["gemini", "openai", "ollama"] | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_timeout_seconds: float = 20.0
    # Content analysis and project breakdowns (app/analysis).
    gemini_analysis_max_chars: int = 24_000  # page text sent to Gemini per bookmark
    gemini_concurrency_per_user: int = 2  # Gemini calls of one user at once, across workers
    gemini_max_tries: int = 4  # tries of one analysis on 429/5xx/timeouts before it fails
    gemini_max_new_tags: int = 2  # suggested tags the user does not have yet, at most

    # The pipeline's jobs.
    pipeline_job_timeout_seconds: int = 120
    pipeline_retry_base_seconds: float = 5.0
    worker_max_jobs: int = 32
    # How often a busy worker looks at its queues (workers.main.PromptWorker; arq's 0.5 s when
    # idle). arq starts at most the free slots' worth of jobs per look, and a page's stages
    # take 30-150 ms, so at 0.5 s the wait between looks, not the work, bounded a worker.
    worker_poll_seconds: float = Field(default=0.05, gt=0, le=5)
    embed_batch_size: int = 32
    embed_threads: int | None = None  # parallel model threads; default: the cores
    # Load the model when the API starts (in the background) rather than at the first search.
    preload_model: bool = True
    sweep_interval_seconds: float = 30.0
    sweep_stale_seconds: float = 120.0

    # Imports: the file size cap, and the lower-priority queue (its own arq worker, inside each
    # worker process unless import_worker_inline is off) that saves and processes their entries.
    import_max_bytes: int = 64 * 1024 * 1024
    import_batch_size: int = 500
    import_worker_inline: bool = True
    import_worker_max_jobs: int = 8
    import_job_timeout_seconds: int = 1800
    import_watch_interval_seconds: float = 2.0

    worker_heartbeat_seconds: int = 10
    worker_heartbeat_ttl_seconds: int = 45

    # Prometheus metrics (GET /metrics; docs/deployment.md, "Metrics"): answered to clients on
    # loopback (unless turned off) and to a bearer of the token. A worker serves its own on
    # worker_metrics_port (0: none; the API's /metrics covers workers that share its
    # PROMETHEUS_MULTIPROC_DIR, as under `fuze up`).
    metrics_token: str | None = None
    metrics_allow_loopback: bool = True
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)

    _secret_cache: str | None = PrivateAttr(default=None)

    log_level: str = "INFO"
    # auto: plain text lines (coloured on a terminal) in development, JSON lines otherwise.
    log_format: Literal["auto", "json", "text"] = "auto"
    # The older switch (true: json, false: text); wins over log_format when set. Resolved to a
    # bool once the settings are read, so that readers only ask it.
    log_json: bool | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("database_read_urls", "redis_sentinels", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("api_workers", mode="before")
    @classmethod
    def _check_api_workers(cls, value: object) -> object:
        return api_workers_value(value)

    @model_validator(mode="after")
    def _resolve_log_json(self) -> Settings:
        if self.log_json is None:
            auto = "text" if self.env == "development" else "json"
            self.log_json = (auto if self.log_format == "auto" else self.log_format) == "json"
        return self

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.env == "production" and (
            not self.secret_key or self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "FUZE_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development (e.g. `python -c 'import secrets;print(secrets.token_urlsafe(48))'`)"
            )
        return self

    @property
    def signup_policy(self) -> Literal["open", "invite", "closed"]:
        if self.signup is not None:
            return self.signup
        return "invite" if self.env == "production" else "open"

    def api_processes(self) -> int:
        """How many API processes serve: api_workers, with auto resolved."""
        if self.api_workers == "auto":
            return min(usable_cores(), AUTO_API_WORKERS_CAP)
        return self.api_workers

    def api_embed_threads(self) -> int:
        """Query-encoding threads of one API process: its share of the cores, so that the API
        processes together run no more encodings at once than there are cores."""
        return self.embed_threads or max(1, usable_cores() // self.api_processes())

    @property
    def is_dev(self) -> bool:
        return self.env != "production"

    def resolved_secret_key(self) -> str:
        """The signing secret; in development it is generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        if self._secret_cache is None:
            path = self.data_dir / "secret_key"
            if not path.exists():
                self.data_dir.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
                tmp.write_text(secrets.token_urlsafe(48))
                tmp.chmod(0o600)
                try:
                    os.link(tmp, path)  # atomic, and never replaces a key another process made
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            self._secret_cache = path.read_text().strip()
        return self._secret_cache


@lru_cache
def get_settings() -> Settings:
    return Settings()
