"""The Python tests' fake Gemini (tests/fakes/gemini.py) as a process for the web app's e2e.

Prints its base URL, then serves until stdin closes. `E2E_GEMINI_KEY` is the one valid key.
Structured answers are made up from the request's schema, with readable breakdown tasks and a
page summary laid over them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.fakes.gemini import FakeGemini

KEY = os.environ.get("E2E_GEMINI_KEY", "e2e-gemini-key")


def overlay(body: dict) -> dict:
    schema = (body.get("generationConfig") or {}).get("responseSchema") or {}
    props = schema.get("properties") or {}
    if "tasks" in props:
        return {
            "tasks": [
                {
                    "title": "Design the search index",
                    "description": "Pick the columns and weights.",
                    "subtasks": [
                        {"title": "Add a tsvector column"},
                        {"title": "Create a GIN index"},
                    ],
                },
                {
                    "title": "Rank results",
                    "description": "",
                    "subtasks": [{"title": "Try ts_rank"}],
                },
            ]
        }
    if "summary" in props and "key_concepts" in props:
        return {"summary": "A page summarised by the fake Gemini.", "suggested_tags": ["fake-ai"]}
    return {}


def main() -> None:
    fake = FakeGemini(valid_keys={KEY}, structured={KEY: overlay}).start()
    print(fake.base_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
