from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_production_refuses_a_missing_or_default_secret(tmp_path):
    for secret in (None, "change-me", "short"):
        with pytest.raises(ValidationError, match="FUZE_SECRET_KEY"):
            Settings(env="production", secret_key=secret, data_dir=tmp_path)
    ok = Settings(env="production", secret_key="k" * 48, data_dir=tmp_path)
    assert ok.resolved_secret_key() == "k" * 48


def test_development_generates_and_keeps_a_secret(tmp_path):
    first = Settings(env="development", data_dir=tmp_path).resolved_secret_key()
    second = Settings(env="development", data_dir=tmp_path).resolved_secret_key()
    assert first == second and len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_cors_origins_from_a_comma_separated_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FUZE_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings(data_dir=tmp_path).cors_origins == ["https://a.example", "https://b.example"]


def test_api_workers_auto_is_the_usable_cores_at_most_four(monkeypatch, tmp_path):
    import app.config as config

    for cores, processes, threads in ((1, 1, 1), (2, 2, 1), (3, 3, 1), (16, 4, 4)):
        monkeypatch.setattr(config, "usable_cores", lambda cores=cores: cores)
        settings = Settings(data_dir=tmp_path)
        assert settings.api_workers == "auto"
        assert (settings.api_processes(), settings.api_embed_threads()) == (processes, threads)
    # A number is taken as it is; each process's query threads are its share of the cores.
    monkeypatch.setenv("FUZE_API_WORKERS", "6")
    assert Settings(data_dir=tmp_path).api_processes() == 6
    assert Settings(data_dir=tmp_path).api_embed_threads() == 2
    assert Settings(data_dir=tmp_path, embed_threads=3).api_embed_threads() == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_api_workers_must_be_at_least_one_or_auto(monkeypatch, tmp_path, value):
    monkeypatch.setenv("FUZE_API_WORKERS", value)
    with pytest.raises(ValidationError, match="a whole number of at least 1, or auto"):
        Settings(data_dir=tmp_path)
