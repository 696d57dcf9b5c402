"""Write the API's OpenAPI document (`create_app().openapi()`) to a file without starting a server.

    .venv/bin/python scripts/openapi.py [frontend/openapi.json]

The web app's client is generated from it (`npm run gen` in frontend/). Nothing connects to
the database or Redis: the app's clients are lazy and its lifespan never runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    from app.config import Settings
    from app.main import create_app

    out = Path(argv[1]) if len(argv) > 1 else ROOT / "frontend" / "openapi.json"
    # Placeholders: nothing connects, and no key file is created in a data folder.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql+psycopg://openapi@127.0.0.1:1/openapi",
        redis_url="redis://127.0.0.1:1/0",
        secret_key="openapi-" + "x" * 32,
        preload_model=False,
        log_json=False,
    )
    app = create_app(settings)
    spec = app.openapi()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
