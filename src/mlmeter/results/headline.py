"""What a run measured, the same way for every kind of run: its metrics (the headline first), its verdict, and
what must match before two runs can be compared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMAS = {  # result schema -> kind of run
    "mlmeter.inference.result": "inference", "mlmeter.loadgen.result": "loadgen",
    "mlmeter.storage.result": "storage", "mlmeter.storage.checkpoint_result": "checkpointing",
    "mlmeter.training.result": "training", "mlmeter.repeat.result": "repeat",
}


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None
    unit: str
    higher_is_better: bool
    percentile: bool = False
    """A tail-latency percentile: intervals come from the bootstrap, not the t distribution."""
    replicates: tuple[float, ...] = field(default=())
    """Values inside one run whose spread estimates the metric's noise, when the run has them."""
    replicated_by: str = ""
    """What the replicates are: "runs", "epochs", "checkpoints" or "batch means" (of a LoadGen timeline)."""


def kind(doc: dict[str, Any]) -> str:
    return SCHEMAS.get(str(doc.get("schema")), "unknown")


def measured_kind(doc: dict[str, Any]) -> str:
    """The kind of benchmark measured: a repeat's is its members'."""
    return str(doc.get("kind")) if kind(doc) == "repeat" else kind(doc)


def _latency_metrics(lg: dict[str, Any]) -> list[Metric]:
    lat = lg.get("query_latency") or lg.get("latency") or {}
    return [Metric(f"p{p} latency", lat[f"p{p}"] / 1e6, "ms", False, True) for p in ("50", "90", "99")
            if lat.get(f"p{p}") is not None]


def _loadgen_headline(lg: dict[str, Any]) -> Metric | None:
    m, scenario = lg.get("metrics") or {}, lg.get("scenario")
    if scenario in ("SingleStream", "MultiStream") and m.get("percentile_latency_ns") is not None:
        pct = (lg.get("settings") or {}).get("effective", {}).get("target_latency_percentile", 0.9)
        return Metric(f"p{pct * 100:g} latency", m["percentile_latency_ns"] / 1e6, "ms", False, True)
    if scenario == "Server" and m.get("scheduled_samples_per_sec") is not None:
        return Metric("scheduled samples/s", m["scheduled_samples_per_sec"], "samples/s", True,
                      replicates=batch_means(lg.get("timeline")), replicated_by="batch means")
    if scenario == "Offline" and m.get("samples_per_second") is not None:
        return Metric("samples/s", m["samples_per_second"], "samples/s", True,
                      replicates=batch_means(lg.get("timeline")), replicated_by="batch means")
    return None


def batch_means(timeline: dict[str, Any] | None, batches: int = 10) -> tuple[float, ...]:
    """Completed samples/s in ``batches`` consecutive stretches of a pass (the method of batch means: the
    spread of these rates estimates the noise of the run's throughput). The last, partial bucket is left out."""
    if not timeline or not timeline.get("completed"):
        return ()
    counts, width = timeline["completed"][:-1], float(timeline["bucket_s"])
    if len(counts) < 2 * batches:
        return ()
    size, extra = divmod(len(counts), batches)
    out, at = [], 0
    for i in range(batches):
        n = size + (1 if i < extra else 0)
        out.append(sum(counts[at:at + n]) / (n * width))
        at += n
    return tuple(out)


def _power_metrics(doc: dict[str, Any]) -> list[Metric]:
    pw = doc.get("power") or {}
    out = []
    if pw.get("average_watts") is not None:
        out.append(Metric("average power", pw["average_watts"], "W", False))
    if pw.get("samples_per_joule") is not None:
        out.append(Metric("samples per joule", pw["samples_per_joule"], "samples/J", True))
    return out


def metrics(doc: dict[str, Any]) -> list[Metric]:
    """The run's metrics, headline first (empty when the run measured nothing)."""
    k = kind(doc)
    out: list[Metric] = []
    if k in ("inference", "loadgen"):
        lg = doc["loadgen"] if k == "inference" else doc
        head = _loadgen_headline(lg)
        out = ([head] if head else []) + [m for m in _latency_metrics(lg) if not head or m.name != head.name]
        for a in doc.get("accuracy") or []:
            out.append(Metric(a["name"], a["value"], "", True))
    elif k == "storage":
        per = doc.get("per_epoch") or {}
        out = [Metric("samples/s", doc.get("samples_per_second"), "samples/s", True,
                      replicates=tuple(per.get("samples_per_second") or ()), replicated_by="epochs"),
               Metric("accelerator utilization", doc.get("au"), "%", True, replicates=tuple(per.get("au") or ()),
                      replicated_by="epochs"),
               Metric("MiB/s", doc.get("mb_per_second"), "MiB/s", True)]
    elif k == "checkpointing":
        for phase in ("save", "load"):
            st = doc.get(phase) or {}
            per = st.get("duration_per_checkpoint_max_over_ranks_s") or []
            size = doc.get("checkpoint_size_GiB") or 0
            out.append(Metric(f"{phase} GiB/s", st.get("throughput_mean_GiB_per_s"), "GiB/s", True,
                              replicates=tuple(size / d for d in per if d), replicated_by="checkpoints"))
    elif k == "training":
        runs = [r["minutes"] for r in doc.get("runs") or [] if r.get("converged") and r.get("minutes") is not None]
        out = [Metric("time to train (olympic)", doc.get("olympic_minutes"), "min", False, replicates=tuple(runs),
                      replicated_by="runs")]
        pw = doc.get("power") or {}
        if pw.get("olympic_energy_j") is not None:
            out.append(Metric("energy to train (olympic)", pw["olympic_energy_j"], "J", False))
        return out
    elif k == "repeat":
        return [Metric(m["name"], m["summary"]["mean"], m["unit"], m["higher_is_better"], m["percentile"],
                       tuple(m["values"]), "runs") for m in doc.get("metrics") or []]
    return [m for m in out if m.value is not None] + _power_metrics(doc)


def verdict(doc: dict[str, Any]) -> str:
    k = kind(doc)
    if k == "inference":
        return str(doc.get("result_validity", ""))
    if k == "loadgen":
        return str(doc.get("verdict", ""))
    if k in ("storage", "checkpointing"):
        return str(doc.get("category", ""))
    if k == "training":
        return "VALID" if doc.get("valid") else "INVALID"
    return str(doc.get("verdict", ""))


def identity(doc: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for two runs to measure the same thing (workload, scenario, settings)."""
    k = kind(doc)
    if k == "inference":
        return {"benchmark": doc.get("benchmark"), "scenario": doc.get("scenario"), "mode": doc.get("mode"),
                "dataset": (doc.get("dataset") or {}).get("name")}
    if k == "loadgen":
        eff = (doc.get("settings") or {}).get("effective") or {}
        keys = {"Server": ("target_qps", "target_latency_ns", "target_latency_percentile"),
                "MultiStream": ("samples_per_query", "target_latency_percentile"),
                "SingleStream": ("target_latency_percentile",)}.get(str(doc.get("scenario")), ())
        return {"scenario": doc.get("scenario"), "mode": doc.get("mode"), **{x: eff.get(x) for x in keys}}
    if k == "storage":
        return {"model": doc.get("model"), "accelerator": doc.get("accelerator"),
                "num_accelerators": doc.get("num_accelerators")}
    if k == "checkpointing":
        return {"model": doc.get("model"), "num_processes": doc.get("num_processes")}
    if k == "training":
        return {"benchmark": doc.get("benchmark"), "quality_target": doc.get("quality_target")}
    if k == "repeat":
        return dict(doc.get("identity") or {})
    return {}


def environment(doc: dict[str, Any]) -> dict[str, Any]:
    """The system and software a run measured: differences make a comparison a comparison of systems."""
    if kind(doc) == "repeat":
        return dict(doc.get("environment") or {})
    s = doc.get("system") or {}
    sw = s.get("software") or {}
    cpu = s.get("cpu") or {}
    env = {"host": s.get("hostname"), "cpu": cpu.get("model"), "logical_cpus": cpu.get("logical_cpus"),
           "memory_bytes": s.get("memory_bytes"), "python": sw.get("python"), "mlmeter": sw.get("mlmeter")}
    env.update({f"package {k}": v for k, v in (sw.get("packages") or {}).items()})
    if kind(doc) == "inference":
        b = doc.get("backend") or {}
        env.update({"backend": b.get("name"), "backend version": b.get("version"), "device": b.get("device")})
    return env
