"""``mlmeter report``: one self-contained HTML page (inline CSS, inline SVG, a few lines of inline JS, no network)
for one or more run directories of any kind."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from html import escape
from itertools import accumulate
from typing import Any

from mlmeter import __version__
from mlmeter.report.charts import PALETTE, Mark, Series, bars, fmt, histogram, xy_chart
from mlmeter.report.runs import RunView, quality_curves
from mlmeter.report.sources import embed
from mlmeter.serving.server_info import label

CSS = """
:root{--ok:#15803d;--bad:#b91c1c;--warn:#b45309;--ink:#111827;--mute:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--ink);
margin:0;background:#f3f4f6}header.top{background:#111827;color:#fff;padding:18px 32px}
header.top h1{margin:0;font-size:20px}header.top p{margin:4px 0 0;color:#d1d5db}
main{max-width:1440px;margin:0 auto;padding:16px 24px}section.run{background:#fff;border:1px solid var(--line);
border-radius:10px;margin:18px 0;padding:18px 22px}h2{margin:0 0 4px;font-size:18px}h3{margin:18px 0 8px;
font-size:15px}.path{color:var(--mute);font-size:12px;word-break:break-all}.badge{display:inline-block;
padding:2px 10px;border-radius:999px;font-weight:600;font-size:13px;color:#fff;margin-left:8px;vertical-align:2px}
.VALID,.pass{background:var(--ok)}.INVALID,.fail{background:var(--bad)}.other{background:var(--mute)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid var(--line);border-radius:8px;
padding:8px 14px;min-width:150px}.card .v{font-size:22px;font-weight:650}.card .n{color:var(--mute);font-size:12px}
.card.head{border-color:#2563eb;background:#eff6ff}.reasons{color:var(--bad);margin:6px 0}
.warn{color:var(--warn)}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:12px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:8px;padding:4px}figure.chart svg{width:100%;
height:auto;display:block}table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid
var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:#f9fafb}td.num{text-align:right;
font-variant-numeric:tabular-nums}details{margin:8px 0}summary{cursor:pointer;font-weight:600}
.ct{font:600 13px system-ui,sans-serif;text-anchor:middle}.al{font:12px system-ui,sans-serif;fill:#374151;
text-anchor:middle}.tx{font:11px system-ui,sans-serif;fill:#4b5563;text-anchor:middle}.ty{font:11px system-ui,
sans-serif;fill:#4b5563;text-anchor:end}.lg{font:11px system-ui,sans-serif;fill:#111827}.ml{font:11px system-ui,
sans-serif}.pa{fill:#fff;stroke:#d1d5db}.gr{stroke:#eef0f3}.ln{stroke-width:1.8}.mk{stroke-dasharray:5 4;
stroke-width:1.4}.bar{fill:#60a5fa;stroke:#2563eb;stroke-width:.5}
"""

# Counts the charts that actually laid out with a size: the browser test reads the result from the DOM.
JS = """
window.addEventListener('load',function(){var n=0;document.querySelectorAll('figure.chart svg').forEach(function(s){
var b=s.getBoundingClientRect();if(b.width>0&&b.height>0&&s.querySelector('text'))n++;});
document.body.setAttribute('data-charts-rendered',String(n));});
"""


def _badge(v: str) -> str:
    cls = v if v in ("VALID", "INVALID") else "other"
    return f'<span class="badge {cls}">{escape(v or "?")}</span>'


def _table(rows: list[tuple[Any, ...]], head: tuple[str, ...] | None = None) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>")
    for r in rows:
        cells = []
        for c in r:
            num = isinstance(c, (int, float)) and not isinstance(c, bool)
            text = fmt(float(c)) if isinstance(c, float) else str(c)
            cells.append(f'<td class="num">{escape(text)}</td>' if num else f"<td>{escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def _flat(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict):
        return [x for k, v in d.items() for x in _flat(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), json.dumps(d) if isinstance(d, (list, dict)) else str(d))]


def _cards(v: RunView) -> str:
    out = []
    for i, m in enumerate(v.metrics[:8]):
        if m.value is None:
            continue
        out.append(f'<div class="card{" head" if i == 0 else ""}"><div class="v">{escape(fmt(m.value))} '
                   f'<small>{escape(m.unit)}</small></div><div class="n">{escape(m.name)}'
                   f'{" (headline)" if i == 0 else ""}</div></div>')
    return f'<div class="cards">{"".join(out)}</div>'


def _why(v: RunView) -> str:
    d = v.doc
    reasons = [f"{c.reason()}{'. ' + c.advice if c.advice and c.advice not in c.reason() else ''}"
               for c in v.record.checks if not c.passed]
    if not v.record.complete:
        reasons.insert(0, v.record.reasons[0] + ": the figures are incomplete")
    out = "".join(f"<li>{escape(r)}</li>" for r in dict.fromkeys(reasons))
    warns = "".join(f'<li class="warn">{escape(w)}</li>' for w in d.get("warnings") or [] if isinstance(w, str))
    return f'<ul class="reasons">{out}{warns}</ul>' if out or warns else ""


def _latency_charts(lg: dict[str, Any]) -> list[str]:
    h = lg.get("latency_histogram") or {}
    edges, counts = [e / 1e6 for e in h.get("edges_ns") or []], h.get("counts") or []
    lat = lg.get("query_latency") or lg.get("latency") or {}
    marks = [Mark(lat[k] / 1e6, f"{k} {fmt(lat[k] / 1e6)} ms", True, c) for k, c in
             (("p50", "#16a34a"), ("p90", "#ea580c"), ("p99", "#dc2626")) if lat.get(k)]
    which = "query" if lg.get("query_latency") else "sample"
    charts = [histogram(f"{which} latency distribution", edges, counts, "latency (ms, log scale)", marks=marks)]
    total = sum(counts)
    if total:
        cdf = [100.0 * c / total for c in accumulate(counts)]
        charts.append(xy_chart(f"{which} latency CDF", [Series("CDF", edges[1:], cdf, "step")],
                               "latency (ms, log scale)", "samples at or below (%)", marks=marks, log_x=True))
    return charts


def _timeline_charts(lg: dict[str, Any]) -> list[str]:
    t = lg.get("timeline") or {}
    b = t.get("bucket_s")
    if not b or not t.get("completed"):
        return []
    xs = [(i + 1) * b for i in range(len(t["completed"]))]
    cum = [Series("issued", xs, list(accumulate(t["issued"])), "step"),
           Series("completed", xs, list(accumulate(t["completed"])), "step")]
    rate = [Series("completed", xs, [c / b for c in t["completed"]], "line", PALETTE[1])]
    if lg.get("scenario") != "Offline":  # Offline issues everything at once: a spike that hides the rest
        rate.insert(0, Series("issued", xs, [c / b for c in t["issued"]], "line", PALETTE[0]))
    return [xy_chart("issued vs completed samples", cum, "time since the pass began (s)", "samples"),
            xy_chart("throughput over time", rate, "time since the pass began (s)", f"samples/s (per {fmt(b)} s)")]


def _level(trial: dict[str, Any]) -> str:
    return f"{trial['streams']} streams" if "streams" in trial else f"{trial['target_qps']:.3f} QPS"


def _find_peak_chart(lg: dict[str, Any]) -> list[str]:
    """The LoadGen's FindPeakPerformance trials, or a serving run's validity-aware search (``peak``)."""
    eff = (lg.get("settings") or {}).get("effective") or {}
    peak = lg.get("peak")
    x_key, x_label = "target_qps", "target QPS"
    if peak and "probed_streams" in peak:
        trials, top, what, x_key, x_label = peak.get("trials") or [], peak.get("streams"), "p99 TTFT", "streams", "streams"
        bound = ((lg.get("concurrency") or {}).get("bounds_ns") or {}).get("ttft")
        good, bad, title = "met the bounds", "missed", "latency vs concurrency (find-peak, not MLPerf)"
    elif peak:
        trials, top, what = peak.get("trials") or [], peak.get("qps"), "p99 TTFT"
        bound = eff.get("ttft_latency") if lg.get("tokens") else eff.get("target_latency_ns")
        good, bad, title = "VALID (probe or confirmation)", "not VALID", "Server latency vs load (validity-aware find-peak)"
    else:
        trials, top, what = lg.get("find_peak_trials") or [], lg.get("find_peak_qps"), "p99 latency"
        bound, good, bad, title = eff.get("target_latency_ns"), "met the bound", "missed", "Server latency vs load (find-peak)"
    if not trials:
        return []
    ok = [t for t in trials if t["passed"] and t["p99_latency_ns"] is not None]
    miss = [t for t in trials if not t["passed"] and t["p99_latency_ns"] is not None]
    marks = [Mark(bound / 1e6, f"bound {fmt(bound / 1e6)} ms", False, "#dc2626")] if bound else []
    if top:
        marks.append(Mark(top, f"peak {fmt(top)} {x_label}", True, "#16a34a"))
    series = [Series(name, [t[x_key] for t in group], [t["p99_latency_ns"] / 1e6 for t in group], "points", color,
                     [f"{_level(t)}: {what} {t['p99_latency_ns'] / 1e6:.3f} ms" for t in group])
              for name, group, color in ((good, ok, "#16a34a"), (bad, miss, "#dc2626")) if group]
    return [xy_chart(title, series, x_label, f"{what} (ms)", marks=marks)]


def _power_block(pw: dict[str, Any] | None) -> str:
    if not pw:
        return ""
    parts = [f"<h3>Power</h3><p>{escape(pw.get('measured') or '')}; boundary: "
             f"{escape(pw.get('boundary') or 'no readable source')}</p>"]
    if pw.get("unavailable"):
        parts.append("<ul>" + "".join(f'<li class="warn">{escape(u)}</li>' for u in pw["unavailable"]) + "</ul>")
    rows = [(k.replace("_", " "), pw[k]) for k in ("average_watts", "energy_j", "duration_s", "power_metric",
                                                   "power_unit", "samples_per_joule", "olympic_energy_j")
            if pw.get(k) is not None]
    if rows:
        parts.append(_table(rows))
    tr = pw.get("trace") or {}
    if tr.get("watts"):
        parts.append(xy_chart("power over time", [Series("watts", tr["t_s"], tr["watts"], "line")],
                              "time since the window began (s)", "W"))
    return "".join(parts)


def _storage_charts(doc: dict[str, Any]) -> list[str]:
    per = doc.get("per_epoch") or {}
    au, sps = per.get("au") or [], per.get("samples_per_second") or []
    labels = [f"{i + 1}" for i in range(len(au))]
    out = []
    if au:
        th = doc.get("au_threshold")
        out.append(bars("accelerator utilization per epoch", labels, au, "AU (%)",
                        marks=[Mark(th, f"threshold {fmt(th)} %", False, "#dc2626")] if th is not None else []))
    if sps:
        out.append(bars("throughput per epoch", labels, sps, "samples/s"))
    return out


def _checkpoint_charts(doc: dict[str, Any]) -> list[str]:
    out = []
    for phase in ("save", "load"):
        per = (doc.get(phase) or {}).get("duration_per_checkpoint_max_over_ranks_s") or []
        if per:
            out.append(bars(f"{phase}: slowest rank per checkpoint", [str(i + 1) for i in range(len(per))], per,
                            "seconds"))
    return out


def _training_charts(doc: dict[str, Any]) -> list[str]:
    curves = quality_curves(doc)
    target = doc.get("quality_target")
    marks = [Mark(target, f"target {fmt(target)}", False, "#dc2626")] if target is not None else []
    out = []
    if curves:
        out.append(xy_chart("quality vs time", [Series(n, x, y, "line") for n, x, y in curves],
                            "minutes since run_start", "eval_accuracy", marks=marks, y_zero=False))
    runs = doc.get("runs") or []
    if runs:
        out.append(bars("time to train per run", [str(i) for i in range(len(runs))],
                        [r["minutes"] if r.get("minutes") is not None else math.nan for r in runs], "minutes"))
    return out


def _repeat_charts(doc: dict[str, Any]) -> list[str]:
    out = []
    for m in doc.get("metrics") or []:
        s, vals = m["summary"], m["values"]
        lo, hi = s["ci95"]
        marks = [Mark(s["mean"], f"mean {fmt(s['mean'])}", False, "#2563eb")]
        if lo is not None:
            marks += [Mark(lo, f"95% CI low {fmt(lo)}", False, "#9ca3af"), Mark(hi, f"95% CI high {fmt(hi)}", False,
                                                                                 "#9ca3af")]
        out.append(xy_chart(f"{m['name']} per run", [Series(m["name"], list(range(1, len(vals) + 1)), vals,
                                                             "points")],
                            "run", m["unit"], marks=marks, y_zero=False, integer_x=True))
    return out


def _system_block(s: dict[str, Any] | None) -> str:
    if not s:
        return ""
    cpu, sw = s.get("cpu") or {}, s.get("software") or {}
    rows = [("host", s.get("hostname")), ("CPU", f"{cpu.get('model')} — {cpu.get('sockets')} socket(s), "
                                                 f"{cpu.get('physical_cores')} cores, {cpu.get('logical_cpus')} threads"),
            ("memory", f"{(s.get('memory_bytes') or 0) / 2**30:.1f} GiB"),
            ("OS", f"{(s.get('operating_system') or {}).get('distribution')} "
                   f"(kernel {(s.get('operating_system') or {}).get('kernel')})"),
            ("accelerators", ", ".join(a.get("name", "?") for a in s.get("accelerators") or []) or "none visible"),
            ("virtualization", ", ".join((s.get("virtualization") or {}).get("hints") or []) or "none detected"),
            ("software", f"mlmeter {sw.get('mlmeter')} ({(sw.get('mlmeter_git_commit') or 'no git')[:12]}), "
                         f"{sw.get('python')}; " + ", ".join(f"{k} {v}" for k, v in (sw.get("packages") or {}).items()))]
    if s.get("storage"):
        st = s["storage"]
        rows.append(("storage", f"{st.get('path')}: {st.get('filesystem')} on {st.get('device', st.get('source'))}"))
    return "<h3>System</h3>" + _table([(k, str(v)) for k, v in rows])


def _settings(v: RunView) -> str:
    d = v.doc
    if v.kind in ("inference", "loadgen"):
        lg = v.loadgen or {}
        chosen = {"effective": (lg.get("settings") or {}).get("effective")}
        if v.kind == "inference":
            chosen.update({"harness": d.get("harness"), "backend": d.get("backend"), "model": d.get("model"),
                           "dataset": d.get("dataset")})
    elif v.kind == "storage":
        chosen = {"category": d.get("category"), "steps_per_epoch": d.get("steps_per_epoch"), "epochs": d.get("epochs")}
    elif v.kind == "checkpointing":
        chosen = {"settings": d.get("settings")}
    elif v.kind == "repeat":
        chosen = {"identity": d.get("identity"), "runs": d.get("runs")}
    else:
        chosen = {"runs": d.get("runs"), "required_runs": d.get("required_runs")}
    rows = [(k, val) for k, val in _flat(chosen) if val not in ("None", "")]
    return f"<details><summary>Resolved settings ({len(rows)})</summary>{_table(rows)}</details>" if rows else ""


def _checks(v: RunView) -> str:
    checks = v.record.checks
    if not checks:
        return ""
    rows = "".join(f"<tr><td>{'✔' if c.passed else '✘'}</td><td>{escape(c.name)}</td>"
                   f"<td>{escape(c.expected)}</td><td>{escape(c.actual)}</td>"
                   f"<td>{escape(c.advice) if not c.passed else ''}</td></tr>" for c in checks)
    return ("<h3>Validity checks</h3><table><tr><th></th><th>check</th><th>required</th><th>measured</th>"
            f"<th>advice</th></tr>{rows}</table>")


_PCTS = ("p50", "p90", "p95", "p97", "p99", "p99.9")


def _token_percentiles(doc: dict[str, Any]) -> list[str]:
    """TTFT and TPOT (the LoadGen's) at each reported percentile, with their bounds."""
    tok = doc.get("tokens") or {}
    eff = (doc.get("settings") or {}).get("effective") or {}
    series, marks = [], []
    for k, name, color in (("ttft", "TTFT", PALETTE[0]), ("tpot", "TPOT", PALETTE[1])):
        st = tok.get(k) or {}
        xs = [float(p[1:]) for p in _PCTS if st.get(p) is not None]
        if xs:
            series.append(Series(name, xs, [st[p] / 1e6 for p in _PCTS if st.get(p) is not None], "line", color))
        if eff.get(f"{k}_latency"):
            marks.append(Mark(eff[f"{k}_latency"] / 1e6, f"{name} bound {fmt(eff[f'{k}_latency'] / 1e6)} ms", False,
                              color))
    if not series:
        return []
    return [xy_chart("token latencies by percentile", series, "percentile", "ms", marks=marks, log_y=True)]


def _serving_charts(doc: dict[str, Any]) -> list[str]:
    """Token latencies by percentile; what the client saw over time: output tokens/s and completed requests/s."""
    tl = (doc.get("serving") or {}).get("timeline")
    if not tl:
        return _token_percentiles(doc)
    per = f"per {fmt(tl['bucket_s'])} s"
    return [*_token_percentiles(doc), xy_chart("output tokens/s over time (client)", [Series("tokens/s", tl["t_s"], tl["tokens_per_s"], "line")],
                     "time since the first request (s)", f"tokens/s ({per})"),
            xy_chart("completed requests/s over time (client)",
                     [Series("requests/s", tl["t_s"], tl["requests_per_s"], "line", PALETTE[1])],
                     "time since the first request (s)", f"requests/s ({per})")]


def _client(doc: dict[str, Any]) -> str:
    """A serving run's client figures: what the load generator's own side measured."""
    s = doc.get("serving")
    if not s:
        return ""
    lag, itl, good = s.get("send_lag_ms") or {}, s.get("inter_token_latency_ms") or {}, s.get("goodput") or {}
    issue = s.get("issue_lag_ms") or {}
    servers = "; ".join(f"{i.get('endpoint')}: {label(i)}" for i in s.get("servers") or []) or "not told"
    rows = [("endpoints", ", ".join(s.get("endpoints") or [])), ("server", servers), ("requests (failed)",
            f"{s.get('requests')} ({s.get('failed_requests')})"), ("output tokens from", str(s.get("output_tokens_from"))),
            ("send lag from the schedule p50 / p99 (ms)", f"{fmt(lag.get('p50') or 0)} / {fmt(lag.get('p99') or 0)}"),
            ("of which the LoadGen's issue lag p50 / p99 (ms)",
             f"{fmt(issue.get('p50') or 0)} / {fmt(issue.get('p99') or 0)}"),
            ("inter-token latency p50 / p99 (ms)", f"{fmt(itl.get('p50') or 0)} / {fmt(itl.get('p99') or 0)}"),
            ("goodput (requests/s, share)", f"{fmt(good.get('requests_per_second') or 0)}, "
                                            f"{(good.get('share') or 0):.1%}")]
    c = s.get("client") or {}
    if c:
        rows += [("client", f"{c.get('event_loop')}; {fmt(c.get('cpu_ms_per_request') or 0)} ms CPU per request"),
                 *([("warning", str(c["warning"]))] if c.get("warning") else [])]
    return "<h3>Client</h3>" + _table(rows)


def _accuracy(doc: dict[str, Any]) -> str:
    acc = doc.get("accuracy")
    if not acc:
        return ""
    rows = [(a["name"], a["value"], f"{a['threshold']} to {a['upper']}" if "upper" in a else a["threshold"],
             "pass" if a["pass"] else "FAIL") for a in acc]
    return "<h3>Accuracy</h3>" + _table(rows, ("metric", "value", "required", "verdict"))


def run_section(v: RunView, anchor: str) -> str:
    d = v.doc
    charts: list[str] = []
    lg = v.loadgen
    if lg:
        charts += _latency_charts(lg) + _timeline_charts(lg) + _find_peak_chart(lg)
    charts += {"storage": _storage_charts, "checkpointing": _checkpoint_charts, "training": _training_charts,
               "repeat": _repeat_charts, "serving": _serving_charts}.get(v.kind, lambda _d: [])(d)
    summary = d.get("summary") if isinstance(d.get("summary"), str) else ""
    return (f'<section class="run" id="{anchor}"><h2>{escape(v.title)}{_badge(v.verdict)}</h2>'
            f'<div class="path">{escape(str(v.path.resolve()))}</div>'
            + (f"<p>{escape(summary)}</p>" if summary else "") + _why(v) + _cards(v) + _accuracy(d)
            + (f'<div class="grid">{"".join(charts)}</div>' if charts else "") + _checks(v) + _client(d) + _power_block(v.record.power)
            + _system_block(v.record.system) + _settings(v) + "</section>")


def _overview(views: list[RunView]) -> str:
    rows = []
    for i, v in enumerate(views):
        head = v.metrics[0] if v.metrics else None
        value = f"{fmt(head.value)} {head.unit}" if head and head.value is not None else "-"
        rows.append(f'<tr><td><a href="#run{i}">{escape(v.title)}</a></td><td>{_badge(v.verdict)}</td>'
                    f"<td>{escape(head.name if head else '-')}</td><td class=\"num\">{escape(value)}</td></tr>")
    return ("<section class=\"run\"><h2>Runs</h2><table><tr><th>run</th><th>verdict</th><th>headline</th>"
            f"<th>value</th></tr>{''.join(rows)}</table></section>")


def render(views: list[RunView]) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (_overview(views) if len(views) > 1 else "") + "".join(run_section(v, f"run{i}") for i, v in
                                                                   enumerate(views))
    title = views[0].title if len(views) == 1 else f"{len(views)} runs"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>mlmeter report — {escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header class=\"top\"><h1>mlmeter report — {escape(title)}</h1><p>made by mlmeter {__version__} "
            f"on {now}; every figure comes from the runs' result.json (and training MLLOG files)</p></header>"
            f"<main>{body}</main><script>{JS}</script>{embed(views)}</body></html>\n")
