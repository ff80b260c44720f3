"""The prompts a serving run sends, with the references accuracy is scored against when the set has them.

- **Embedded** (offline, the default): 64 copy tasks — a one-shot "copy the sentence" prompt whose reference
  is the sentence itself, so the score is verifiable and any model that follows the pattern can meet it. Each
  prompt is unique after a shared prefix (a server's prompt cache cannot turn a benchmark into a cache test).
  Requests stop at the end of the line.
- **MLPerf's files**: llama2-70b's OpenOrca pickle and llama3.1-8b's CNN/DailyMail JSON (columns ``input``,
  ``tok_input``, ``output``): ``input`` is sent, ``output`` is the reference.
- **Your own**: a JSON list of strings or of objects with ``prompt`` (and optionally ``reference``), or one
  prompt per line of a text file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmeter.serving import ServingError

_WHO = ("The old sailor", "A young painter", "My neighbour", "The head chef")
_DID = ("carried", "repaired", "painted", "counted")
_WHAT = ("seven wooden chairs", "a broken lantern", "the blue bicycles", "three heavy baskets")
_WHERE = ("before sunrise on Monday.", "in the quiet harbour.", "behind the village school.", "during the long storm.")
EXAMPLE = (
    "Copy the sentence exactly.\nSentence: The tall farmer planted two apple trees near the river.\n"
    "Copy: The tall farmer planted two apple trees near the river.\n"
)


def _embedded_sentences() -> tuple[str, ...]:
    """64 distinct sentences: each subject, verb, object and place appears equally often."""
    out = []
    for k in range(64):
        w, d, o = _WHO[k % 4], _DID[(k // 4) % 4], _WHAT[(k // 16) % 4]
        out.append(f"{w} {d} {o} {_WHERE[(k + k // 4 + k // 16) % 4]}")
    return tuple(out)


@dataclass(frozen=True)
class PromptSet:
    prompts: list[str]
    references: list[str] | None
    """What each reply is scored against (None: the set cannot be scored)."""
    source: str
    stop: tuple[str, ...] = ()
    """Stop sequences the set's prompts need (the embedded copy tasks end at a newline)."""

    def head(self, count: int | None) -> PromptSet:
        if count is None:
            return self
        if count > len(self.prompts):
            raise ServingError(
                f"--count {count}: there are {len(self.prompts)} prompts; give at most {len(self.prompts)}"
            )
        refs = self.references[:count] if self.references is not None else None
        return PromptSet(self.prompts[:count], refs, self.source, self.stop)


def embedded() -> PromptSet:
    sentences = _embedded_sentences()
    return PromptSet([f"{EXAMPLE}Sentence: {s}\nCopy:" for s in sentences], list(sentences), "embedded", ("\n",))


def load_prompts(path: Path | None, count: int | None = None) -> PromptSet:
    """The embedded set, or ``path``: a ``.pkl`` (OpenOrca), a JSON file, or one prompt per line."""
    if path is None:
        return embedded().head(count)
    if path.suffix in (".pkl", ".pickle"):
        return _columns(_pickle(path), path).head(count)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServingError(f"--prompts {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if text.lstrip()[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ServingError(f"--prompts {path}: not valid JSON ({exc})") from exc
        found = _json(data, path)
    else:
        found = PromptSet([line for line in text.splitlines() if line.strip()], None, str(path))
    if not found.prompts:
        raise ServingError(f"--prompts {path}: no prompts in the file")
    return found.head(count)


def _pickle(path: Path) -> Any:
    try:
        import pandas as pd
    except ImportError as exc:
        raise ServingError(f"--prompts {path}: reading a pickled dataset needs pandas: pip install pandas") from exc
    try:
        return pd.read_pickle(path)  # noqa: S301 -- MLPerf's own dataset format; the user's file
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure is a bad file, named
        raise ServingError(f"--prompts {path}: not a readable pickled DataFrame ({type(exc).__name__}: {exc})") from exc


def _json(data: Any, path: Path) -> PromptSet:
    if isinstance(data, dict):  # pandas' default orient: {"input": {"0": ...}, "output": {...}}
        return _columns(data, path)
    if not isinstance(data, list):
        raise ServingError(f"--prompts {path}: expected a JSON list of prompts or a table with an 'input' column")
    if data and isinstance(data[0], dict) and "input" in data[0]:
        return _columns(
            {k: [row.get(k) if isinstance(row, dict) else None for row in data] for k in ("input", "output")}, path
        )
    prompts, refs = [], []
    for k, item in enumerate(data):
        p = item.get("prompt") if isinstance(item, dict) else item
        if not isinstance(p, str) or not p.strip():
            raise ServingError(f'--prompts {path}: item {k} is not a prompt (a string or {{"prompt": ...}})')
        prompts.append(p)
        refs.append(item.get("reference") if isinstance(item, dict) else None)
    scored = all(isinstance(r, str) for r in refs) and bool(refs)
    return PromptSet(prompts, [str(r) for r in refs] if scored else None, str(path))


def _columns(table: Any, path: Path) -> PromptSet:
    """MLPerf's table (a DataFrame or a dict of columns): ``input`` prompts, ``output`` references."""
    try:
        columns = list(table.keys())
        inputs = _column(table["input"])
    except (KeyError, AttributeError, TypeError):
        raise ServingError(
            f"--prompts {path}: no 'input' column (MLPerf's datasets have input, tok_input, output); "
            f"found {list(table.keys()) if hasattr(table, 'keys') else type(table).__name__}"
        ) from None
    refs = _column(table["output"]) if "output" in columns else None
    for name, col in (("input", inputs), ("output", refs or [])):
        for row, value in enumerate(col):
            if not isinstance(value, str):
                raise ServingError(f"--prompts {path}: row {row}: column {name!r} is {type(value).__name__}, not text")
    return PromptSet(inputs, refs, str(path))


def _column(col: Any) -> list[Any]:
    if isinstance(col, dict):
        return [col[k] for k in sorted(col, key=lambda k: int(k) if str(k).isdigit() else str(k))]
    return list(col.tolist() if hasattr(col, "tolist") else col)


class PromptQSL:
    """The prompts as a LoadGen QSL (nothing to load: the prompts are in memory)."""

    name = "mlmeter-prompts"

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts
        self.total_sample_count = self.performance_sample_count = len(prompts)

    def load_samples(self, indices: object) -> None:
        pass

    def unload_samples(self, indices: object) -> None:
        pass
