"""The prompts a serving run sends: a small embedded set (offline, unique prompts so no server's prompt cache
turns a benchmark into a cache test), or a file of one prompt per line or a JSON list."""

from __future__ import annotations

import json
from pathlib import Path

from mlmeter.serving import ServingError

_TOPICS = ("the water cycle", "how a bicycle stays upright", "why the sky is blue", "the history of the printing press",
           "how vaccines train the immune system", "the rules of chess", "how a compiler works", "photosynthesis",
           "the causes of the seasons", "how bees make honey", "the basics of supply and demand", "plate tectonics",
           "how a refrigerator cools", "the life cycle of a star", "how the internet routes packets",
           "the invention of the telephone")
_FORMS = ("Explain {} to a ten-year-old in three sentences.", "Write a short paragraph about {}.",
          "List three surprising facts about {}.", "Summarise {} in one sentence.")
EMBEDDED = tuple(f.format(t) + f" (#{i * len(_TOPICS) + j})" for i, f in enumerate(_FORMS) for j, t in enumerate(_TOPICS))
"""64 unique prompts."""


def load_prompts(path: Path | None, count: int | None = None) -> list[str]:
    """The embedded set, or ``path`` (a JSON list of strings or of objects with ``prompt``, else one per line)."""
    if path is None:
        prompts = list(EMBEDDED)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ServingError(f"--prompts {path}: {exc.strerror or exc}") from exc
        prompts = _parse(text, path)
    if not prompts:
        raise ServingError(f"--prompts {path}: no prompts in the file")
    if count is not None:
        if count > len(prompts):
            raise ServingError(f"--count {count}: there are {len(prompts)} prompts; give at most {len(prompts)}")
        prompts = prompts[:count]
    return prompts


def _parse(text: str, path: Path) -> list[str]:
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ServingError(f"--prompts {path}: not valid JSON ({exc})") from exc
        out = []
        for k, item in enumerate(data):
            p = item.get("prompt") if isinstance(item, dict) else item
            if not isinstance(p, str) or not p.strip():
                raise ServingError(f"--prompts {path}: item {k} is not a prompt (a string or {{\"prompt\": ...}})")
            out.append(p)
        return out
    return [line for line in text.splitlines() if line.strip()]


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
