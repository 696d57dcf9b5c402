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
