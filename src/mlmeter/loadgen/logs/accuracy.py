"""``mlperf_log_accuracy.json``: one entry per logged sample, in completion order (spec §13.3)."""

from __future__ import annotations

from collections.abc import Iterable

from mlmeter.loadgen.completer import LogEntry


def entry_text(e: LogEntry, scenario_offline: bool) -> str:
    seq, idx, data, first, n_tok = e
    text = f'{{ "seq_id" : {seq}, "qsl_idx" : {idx}, "data" : "{data.hex().upper()}"'
    if n_tok is not None:
        if not scenario_offline:
            text += f', "token_data" : "{(first or b"").hex().upper()}"'
        text += f', "token_count" : {n_tok}'
    return text + " }"


def accuracy_text(entries: Iterable[LogEntry], scenario_offline: bool) -> str:
    """The whole file: ``[``, entries separated by ``,\\n``, then ``\\n]\\n`` (an empty log is ``[\\n]\\n``)."""
    body = ",\n".join(entry_text(e, scenario_offline) for e in entries)
    return "[\n" + body + ("\n" if body else "") + "]\n"
