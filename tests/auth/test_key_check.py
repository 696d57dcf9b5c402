"""One FUZE_SECRET_KEY per database: a process started with another one refuses to start."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from sqlalchemy import text

from app.auth.key_check import fingerprint
from app.embedded import free_port
from app.main import create_app
from tests.conftest import ROOT, make_settings, service_env

OTHER_KEY = "another-secret-" + "y" * 40


async def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a Fuze process to its end (it should stop on its own), off the event loop."""
    return await asyncio.to_thread(
        subprocess.run, args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


async def _stored(app) -> str:  # type: ignore[no-untyped-def]
    async with app.state.engine.begin() as conn:
        await conn.exec_driver_sql("SELECT set_config('fuze.scope', 'system', true)")
        return (
            await conn.execute(text("SELECT fingerprint FROM secret_key_fingerprint"))
        ).scalar_one()


async def test_an_api_with_another_secret_key_refuses_to_start(app, stack, settings):
    # The suite's app has started: the database holds its key's fingerprint, never the key.
    stored = await _stored(app)
    assert stored == fingerprint(settings.resolved_secret_key())
    assert settings.resolved_secret_key() not in stored
    r = await _run(
        [sys.executable, "-m", "app.cli", "api", "--port", str(free_port())],
        service_env(stack, FUZE_SECRET_KEY=OTHER_KEY, FUZE_PRELOAD_MODEL="false"),
    )
    assert r.returncode != 0
    assert "FUZE_SECRET_KEY differs" in r.stdout + r.stderr
    assert await _stored(app) == stored


async def test_a_worker_with_another_secret_key_refuses_to_start(app, stack):
    r = await _run([sys.executable, "-m", "workers"], service_env(stack, FUZE_SECRET_KEY=OTHER_KEY))
    assert r.returncode != 0
    assert "FUZE_SECRET_KEY differs" in r.stdout + r.stderr


async def test_rotating_the_key_makes_it_the_databases(app, stack, settings):
    other = create_app(make_settings(stack, secret_key=OTHER_KEY, secret_key_rotate=True))
    try:
        async with other.router.lifespan_context(other):
            assert await _stored(other) == fingerprint(OTHER_KEY)
        # Now the suite's own key is the odd one out.
        again = create_app(settings)
        try:
            async with again.router.lifespan_context(again):
                raise AssertionError("started with the old key")
        except RuntimeError as exc:
            assert "FUZE_SECRET_KEY differs" in str(exc)
        finally:
            await again.state.engine.dispose()
    finally:
        back = create_app(make_settings(stack, secret_key_rotate=True))
        async with back.router.lifespan_context(back):
            pass
    assert await _stored(app) == fingerprint(settings.resolved_secret_key())
