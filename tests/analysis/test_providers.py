"""Any LLM provider, per user: an OpenAI-compatible endpoint and Ollama, each a local server
speaking its real API (tests/fakes/llm.py), driven by the real `openai` and `ollama`
clients; the same structured analysis as with Gemini, the same error codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import llm
from app.analysis import service
from app.analysis.schemas import PageAnalysis, ProjectIntent
from tests.bookmarks.test_pipeline import _save, _settled
from tests.conftest import wait_for
from tests.fakes.llm import FakeLLM


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    f = FakeLLM(overrides={"summary": "Summarised by the local model."}).start()
    yield f
    f.stop()


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_a_structured_answer_from_each_provider(settings, fake, kind):
    base = f"{fake.base}/v1" if kind == "openai" else fake.base
    provider = llm.Provider(kind, "small-model", "sk-good", base)
    answer = await service.generate(
        settings,
        provider,
        system="Read the page.",
        prompt="A page about Postgres.",
        schema=PageAnalysis,
    )
    assert isinstance(answer, PageAnalysis) and answer.summary == "Summarised by the local model."
    path, key, body = fake.calls[-1]
    assert path == ("/v1/chat/completions" if kind == "openai" else "/api/chat")
    assert key == "sk-good", "the user's key goes with the call"
    sent = body["response_format"]["json_schema"]["schema"] if kind == "openai" else body["format"]
    assert "$ref" not in str(sent) and set(sent["required"]) >= {"summary", "content_type"}
    assert body["messages"][0] == {"role": "system", "content": "Read the page."}
    intent = await service.generate(
        settings, provider, system="s", prompt="p", schema=ProjectIntent
    )
    assert intent.goal in ("learn", "build", "debug", "research")


async def test_failures_are_sorted_as_with_gemini(settings, fake):
    base = f"{fake.base}/v1"
    bad_key = llm.Provider("openai", "small-model", "sk-wrong", base)
    with pytest.raises(service.GeminiError) as refused:
        await service.generate(settings, bad_key, system="s", prompt="p", schema=PageAnalysis)
    assert (refused.value.code, refused.value.transient) == ("gemini_key_invalid", False)
    missing = llm.Provider("ollama", "no-such-model", None, fake.base)
    with pytest.raises(service.GeminiError) as gone:
        await service.generate(settings, missing, system="s", prompt="p", schema=PageAnalysis)
    assert gone.value.code == "gemini_model_not_found" and "no-such-model" in gone.value.message
    ok = llm.Provider("openai", "small-model", "sk-good", base)
    fake.forced.append((429, {"error": {"message": "Rate limit reached", "type": "requests"}}))
    with pytest.raises(service.GeminiError) as limited:
        await service.generate(settings, ok, system="s", prompt="p", schema=PageAnalysis)
    assert (limited.value.code, limited.value.transient) == ("gemini_quota_exhausted", True)
    fake.forced.append(
        (200, {"id": "x", "object": "chat.completion", "created": 0, "model": "small-model",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "not json"},
                            "finish_reason": "stop"}]})
    )  # fmt: skip
    with pytest.raises(service.GeminiError) as bad:
        await service.generate(settings, ok, system="s", prompt="p", schema=PageAnalysis)
    assert (bad.value.code, bad.value.transient) == ("gemini_bad_output", True)
    unreachable = llm.Provider("ollama", "small-model", None, "http://127.0.0.1:9")
    with pytest.raises(service.GeminiError) as down:
        await service.generate(settings, unreachable, system="s", prompt="p", schema=PageAnalysis)
    assert (down.value.code, down.value.transient) == ("gemini_unreachable", True)


@pytest.mark.usefixtures("pipeline_worker")
@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_a_users_own_provider_analyses_their_pages(api, api_user, web, fake, kind):
    base = f"{fake.base}/v1" if kind == "openai" else fake.base
    body = {"provider": kind, "base_url": base, "model": "small-model"}
    if kind == "openai":
        r = await api.put(
            "/api/users/me/ai-provider",
            headers=api_user.headers,
            json={**body, "api_key": "sk-wrong"},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "ai_provider_refused"
        body["api_key"] = "sk-good"
    r = await api.put(
        "/api/users/me/ai-provider", headers=api_user.headers, json={**body, "model": "huge-model"}
    )
    assert r.status_code == 422 and "huge-model" in r.json()["error"]["message"]
    r = await api.put("/api/users/me/ai-provider", headers=api_user.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "ok"
    me = (await api.get("/api/users/me", headers=api_user.headers)).json()
    assert me["ai_provider"] == {
        "provider": kind, "base_url": base, "model": "small-model",
        "key_last4": "good" if kind == "openai" else None,
    }  # fmt: skip
    assert "sk-good" not in str(me)

    web.route(f"/llm/{kind}", "<title>Connection pools</title><p>Size the pool to the server.</p>")
    saved = await _save(api, api_user, web.url(f"/llm/{kind}"))
    assert (await _settled(api, api_user, saved["id"]))["status"] == "ready"

    async def analysed():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{saved['id']}", headers=api_user.headers)).json()
        return b if b["analysis_status"] in ("ready", "failed") else None

    b = await wait_for(analysed, within=120)
    assert b["analysis_status"] == "ready", b
    assert b["analysis"]["summary"] == "Summarised by the local model."
    chats = [c for c in fake.calls if c[0] in ("/v1/chat/completions", "/api/chat")]
    assert chats and chats[-1][2]["model"] == "small-model"
    assert "Connection pools" in chats[-1][2]["messages"][1]["content"]

    r = await api.delete("/api/users/me/ai-provider", headers=api_user.headers)
    assert r.status_code == 204
    assert (await api.get("/api/users/me", headers=api_user.headers)).json()["ai_provider"] is None
