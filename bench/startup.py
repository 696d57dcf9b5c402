"""Time from `fuze up` to its ready line, on a fresh data folder (cold: initdb, migrations,
the query encoder's one-time ONNX export, both model loads) and again on the same folder
(warm). Prints the seconds of each and the machine's load average at the start.

    .venv/bin/python bench/startup.py [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _until_ready(data: Path, port: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUZE_")}
    env |= {"FUZE_ENV": "development", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--data-dir", str(data), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    took = None
    for line in proc.stdout:
        if "Fuze is ready" in line:
            took = time.monotonic() - started
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    if took is None:
        raise SystemExit(f"fuze up exited with {proc.returncode} before it was ready")
    return took


def main() -> None:
    from app.embedded import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            data, port = Path(folder) / "data", free_port()
            load = os.getloadavg()[0]
            cold = _until_ready(data, port)
            warm = _until_ready(data, port)
            print(f"cold {cold:.1f} s, warm {warm:.1f} s (load average {load:.1f} at the start)")


if __name__ == "__main__":
    main()
