"""LLM accuracy as MLPerf scores it: ROUGE-1/2/L/Lsum of the replies against the references (Google's
``rouge_score``, the library under the official ``evaluate`` metric, with its Porter stemmer; each reply and
reference split into sentences for ROUGE-Lsum as the official scripts do with NLTK), the mean per sample x 100,
and the output-length check — all against the targets the submission checker applies.

Offline: NLTK's trained Punkt sentence model is used when its data is installed (``punkt_tab``), else NLTK's
untrained Punkt tokenizer (it only changes ROUGE-Lsum's sentence boundaries); the result says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlmeter.serving import ServingError

ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True)
class Target:
    """The reference scores and the fraction of them a result must reach; the output-length window."""

    reference: dict[str, float]
    fraction: float
    length_metric: str = ""
    """"tokens_per_sample" (mean output tokens, llama2-70b) or "gen_len" (total characters, llama3.1-8b)."""
    length_reference: float = 0.0
    length_window: tuple[float, float] = (0.9, 1.1)
    length_over: int = 0
    """gen_len is a total over the dataset's samples: scaled to the samples scored (0: a mean, not scaled)."""
    source: str = ""


def _cnn_dailymail(benchmark: str, rouge: tuple[float, ...], gen_len: int, samples: int) -> Target:
    """llama3.1-8b's targets on its CNN/DailyMail samples: 99 % of each ROUGE, ``gen_len`` within 10 %."""
    return Target(dict(zip(ROUGE, rouge, strict=True)), 0.99, "gen_len", gen_len, length_over=samples,
                  source=f"MLPerf {benchmark}")


TARGETS = {
    "llama2-70b": Target(
        {"rouge1": 44.4312, "rouge2": 22.0352, "rougeL": 28.6162},
        0.99,
        "tokens_per_sample",
        294.45,
        source="MLPerf llama2-70b-99",
    ),
    "llama2-70b-99.9": Target(
        {"rouge1": 44.4312, "rouge2": 22.0352, "rougeL": 28.6162},
        0.999,
        "tokens_per_sample",
        294.45,
        source="MLPerf llama2-70b-99.9",
    ),
    "llama3_1-8b": _cnn_dailymail("llama3.1-8b", (38.7792, 15.9075, 24.4957, 35.793), 8167644, 13368),
    "llama3_1-8b-edge": _cnn_dailymail("llama3.1-8b-edge", (39.06, 16.1147, 24.6375, 36.124), 3051113, 5000),
    "embedded": Target(
        {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0},
        0.99,
        source="mlmeter's embedded copy tasks (the reference is the sentence to copy); reference score "
        "recorded with SmolLM2-135M-Instruct Q4_1 on llama.cpp's llama-server, greedy, "
        "/v1/completions; 99 % of it, as MLPerf's targets",
    ),
}
"""Keyed by ``--mlperf-model`` (an interactive variant scores as its model; ``-99`` is the plain name)."""


def target_for(mlperf_model: str | None, source: str) -> Target | None:
    if mlperf_model:
        return TARGETS.get(mlperf_model.replace("-interactive", "").removesuffix("-99"))
    return TARGETS["embedded"] if source == "embedded" else None


def _sentence_splitter() -> tuple[Any, str]:
    try:
        import nltk
        from nltk.tokenize.punkt import PunktSentenceTokenizer
    except ImportError as exc:
        raise ServingError("LLM accuracy needs rouge-score and nltk: pip install 'mlmeter[serving]'") from exc
    try:
        nltk.sent_tokenize("A test. Another one.")
        return nltk.sent_tokenize, "NLTK punkt (trained)"
    except LookupError:
        return PunktSentenceTokenizer().tokenize, "NLTK punkt, untrained (the punkt_tab data is not installed)"


def rouge(predictions: Sequence[str], references: Sequence[str]) -> tuple[dict[str, float], str]:
    """Mean ROUGE F-measures x 100 over the samples, and the sentence splitter used."""
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise ServingError("LLM accuracy needs rouge-score and nltk: pip install 'mlmeter[serving]'") from exc
    split, splitter = _sentence_splitter()
    scorer = rouge_scorer.RougeScorer(list(ROUGE), use_stemmer=True)
    totals = dict.fromkeys(ROUGE, 0.0)
    for pred, ref in zip(predictions, references, strict=True):
        p, r = "\n".join(split(pred.strip())), "\n".join(split(ref.strip()))
        for k, s in scorer.score(r, p).items():
            totals[k] += s.fmeasure
    n = max(len(predictions), 1)
    return {k: round(v / n * 100, 4) for k, v in totals.items()}, splitter


def score(
    predictions: Sequence[str], references: Sequence[str], tokens: Sequence[int], target: Target | None
) -> dict[str, Any]:
    """The scores, and per target metric ``{name, value, threshold, pass}`` (what the report's table shows)."""
    scores, splitter = rouge(predictions, references)
    n = len(predictions)
    lengths = {
        "tokens_per_sample": round(sum(tokens) / n, 2) if n else 0.0,
        "gen_len": float(sum(len(p.strip()) for p in predictions)),
        "gen_num": n,
    }
    out: dict[str, Any] = {"scores": scores, **lengths, "sentence_splitter": splitter, "samples": n}
    if target is None:
        out["note"] = "no target for this prompt set: scores only (give --mlperf-model for MLPerf's targets)"
        out["accuracy"] = []
        return out
    rows = [
        {
            "name": k.upper(),
            "value": scores[k],
            "threshold": round(ref * target.fraction, 4),
            "pass": scores[k] >= ref * target.fraction,
        }
        for k, ref in target.reference.items()
    ]
    if target.length_metric:
        ref = target.length_reference * (n / target.length_over if target.length_over else 1)
        lo, hi = (round(ref * f, 4) for f in target.length_window)
        v = lengths[target.length_metric]
        rows.append(
            {"name": target.length_metric.upper(), "value": v, "threshold": lo, "upper": hi, "pass": lo <= v <= hi}
        )
    out.update(accuracy=rows, target=target.source, fraction=target.fraction)
    return out
