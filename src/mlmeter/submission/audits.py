"""The MLPerf Inference compliance audits: what each one changes in a run, and which benchmarks need which.

TEST01 logs a random sample of the performance run's responses (accuracy-in-performance), TEST04 issues one
sample over and over (no caching of results), TEST06 checks an LLM's first token and token counts. Each audit
is an ``audit.config`` in the official ``model.scenario.key = value`` format; mlmeter writes it into the audit's
own run directory and passes that path to the LoadGen, so nothing is read from the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass

AUDIT_SEED = 720381539243781796
"""``accuracy_log_rng_seed`` of every official audit."""

_TEST01_SAMPLING = {"resnet": 4096, "retinanet": 256, "bert-99": 4096, "bert-99.9": 4096, "3d-unet-99": 64,
                    "3d-unet-99.9": 64, "rgat": 4096, "pointpainting": 256, "whisper": 4096,
                    "stable-diffusion-xl": 128, "yolo-95": 64, "yolo-99": 64}
"""TEST01's ``accuracy_log_sampling_target`` per benchmark (4096 for one the rules do not list)."""

CHECKER_MODEL = {"resnet50": "resnet", "mobilenet": "resnet", "llama2-70b": "llama2-70b-99",
                 "llama2-70b-interactive": "llama2-70b-99", "llama3_1-8b": "llama3.1-8b",
                 "llama3_1-8b-interactive": "llama3.1-8b", "llama3_1-8b-edge": "llama3.1-8b-edge",
                 "llama3_1-405b": "llama3.1-405b",
                 "mixtral-8x7b": "mixtral-8x7b", "deepseek-r1": "deepseek-r1"}
"""mlperf.conf's model names -> the benchmark names of the results tree and the submission checker."""

REQUIRED = {"TEST01": frozenset({"resnet", "bert-99", "bert-99.9", "3d-unet-99", "3d-unet-99.9", "rgat",
                                 "stable-diffusion-xl", "whisper", "yolo-95", "yolo-99"}),
            "TEST04": frozenset({"resnet", "stable-diffusion-xl", "wan-2.2-t2v-a14b"}),
            "TEST06": frozenset({"llama2-70b-99.9", "llama2-70b-interactive-99", "llama2-70b-interactive-99.9",
                                 "llama3.1-8b", "llama3.1-8b-interactive", "deepseek-r1"})}
"""The audits a closed-division result needs, by benchmark (MLPerf Inference v6.1, the checker's lists)."""


@dataclass(frozen=True)
class Audit:
    name: str
    purpose: str
    settings: tuple[tuple[str, str, str], ...]
    """(scenario or ``*``, key, value) lines of its ``audit.config`` (the model is always ``*``)."""
    judges_performance: bool = True
    """Whether the audit run's performance rules are part of its verdict (TEST06 judges only its accuracy log:
    100 queries cannot meet early stopping, and the official checker does not ask them to)."""


def _test01(benchmark: str) -> Audit:
    target = _TEST01_SAMPLING.get(benchmark, 4096)
    return Audit("TEST01", "responses logged during a performance run equal the accuracy run's",
                 (("*", "mode", "2"), ("*", "accuracy_log_rng_seed", str(AUDIT_SEED)),
                  ("*", "accuracy_log_sampling_target", str(target))))


def _test04(_benchmark: str) -> Audit:
    lines = [(sc, key, value) for sc in ("MultiStream", "Offline", "SingleStream", "Server")
             for key, value in (("mode", "2"), ("performance_issue_unique", "0"), ("performance_issue_same", "1"),
                                ("performance_issue_same_index", "3"))]
    return Audit("TEST04", "one sample issued over and over is not more than 10 % faster than the real run",
                 tuple(lines))


def _test06(_benchmark: str) -> Audit:
    return Audit("TEST06", "an LLM's first token equals its reply's, replies end in one EOS, token counts agree",
                 (("*", "mode", "2"), ("*", "accuracy_log_rng_seed", str(AUDIT_SEED)),
                  ("*", "accuracy_log_sampling_target", "100"), ("*", "min_query_count", "100"),
                  ("*", "min_duration", "0"), ("*", "sample_concatenate_permutation", "0")), judges_performance=False)


_AUDITS = {"TEST01": _test01, "TEST04": _test04, "TEST06": _test06}
NAMES = tuple(_AUDITS)


def checker_model(loadgen_model: str) -> str:
    """The benchmark name of a result (``resnet50`` -> ``resnet``); a model MLPerf does not know keeps its name."""
    return CHECKER_MODEL.get(loadgen_model, loadgen_model)


def audit(name: str, benchmark: str) -> Audit:
    """The audit ``name`` (one of ``NAMES``, as ``InferConfig`` checked) for ``benchmark``."""
    return _AUDITS[name](benchmark)


def audit_config_text(a: Audit) -> str:
    """The ``audit.config`` file of an audit."""
    head = f"# {a.name} (written by mlmeter): {a.purpose}\n"
    return head + "".join(f"*.{sc}.{key} = {value}\n" for sc, key, value in a.settings)

