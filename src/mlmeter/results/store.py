"""The run store: every run directory registered in a local SQLite index, listed, shown and removed by id.

Run directories are the truth; the index only points at them and can be rebuilt from them (``rebuild``). A run
is immutable once registered: its ``result.json`` hash is recorded and ``show`` says when the file changed.
Default location ``$MLMETER_STORE`` or ``~/.local/share/mlmeter`` (``--store DIR`` to choose).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlmeter import events
from mlmeter.errors import MlmeterError
from mlmeter.results.record import RecordError, RunRecord, load_record


class StoreError(MlmeterError, RuntimeError):
    """An unusable store or run directory; the message says which and why."""


def default_store() -> Path:
    if os.environ.get("MLMETER_STORE"):
        return Path(os.environ["MLMETER_STORE"])
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "mlmeter"


@dataclass(frozen=True)
class Run:
    id: int
    path: str
    kind: str
    benchmark: str
    scenario: str
    verdict: str
    headline: str
    registered: str
    sha256: str


def register(paths: list[Path], store: Path | None = None) -> list[str]:
    """Register finished run directories; returns one line per problem (a read-only store does not fail a run)."""
    problems = []
    try:
        rs = RunStore(store)
    except StoreError as exc:
        return [f"runs not registered: {exc}"]
    try:
        for p in paths:
            try:
                rs.add(p)
            except StoreError as exc:
                problems.append(f"run not registered: {exc}")
    finally:
        rs.close()
    return problems


class Registrar(events.Observer):
    """Subscribes the run store to the event stream: every run written is registered; a store problem is kept
    in ``problems`` (a read-only store never fails a run)."""

    def __init__(self, store: Path | None = None) -> None:
        self.store = store
        self.problems: list[str] = []

    def on_run_written(self, event: events.RunWritten) -> None:
        self.problems += register([event.path], self.store)


def read_result(run_dir: Path) -> RunRecord:
    """The run's ``result.json`` as a checked, migrated :class:`RunRecord` (``StoreError`` when it is not one)."""
    try:
        return load_record(run_dir)
    except RecordError as exc:
        raise StoreError(str(exc)) from exc


def _summary(rec: RunRecord) -> tuple[str, str, str, str, str]:
    ident = rec.identity
    bench = ident.get("benchmark") or ident.get("model") or rec.body.get("sut_name") or ""
    scenario = ident.get("scenario") or ident.get("accelerator") or ""
    head = rec.headline
    text = f"{head.name} {head.value:.6g} {head.unit}".strip() if head and head.value is not None else ""
    return rec.kind, str(bench), str(scenario), rec.verdict.value, text


class RunStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_store()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.root / "runs.sqlite")
            self.db.execute("create table if not exists runs (id integer primary key, path text unique, kind text, "
                            "benchmark text, scenario text, verdict text, headline text, registered text, "
                            "sha256 text)")
            self.db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.root}: cannot use the run store here ({exc}); choose one with --store") from exc

    def close(self) -> None:
        self.db.close()

    def add(self, run_dir: Path) -> Run:
        run_dir = run_dir.resolve()
        rec = read_result(run_dir)
        digest = hashlib.sha256((run_dir / "result.json").read_bytes()).hexdigest()
        kind, bench, scenario, verdict, headline = _summary(rec)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            with self.db:
                self.db.execute("insert or ignore into runs (path, kind, benchmark, scenario, verdict, headline, "
                                "registered, sha256) values (?,?,?,?,?,?,?,?)",
                                (str(run_dir), kind, bench, scenario, verdict, headline, now, digest))
        except sqlite3.Error as exc:
            raise StoreError(f"{self.root}: cannot write the run store ({exc})") from exc
        return self.get_path(run_dir)

    def get_path(self, run_dir: Path) -> Run:
        row = self.db.execute("select * from runs where path = ?", (str(run_dir.resolve()),)).fetchone()
        if row is None:
            raise StoreError(f"{run_dir}: not in the run store")
        return Run(*row)

    def get(self, run_id: int) -> Run:
        row = self.db.execute("select * from runs where id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run with id {run_id} in {self.root}")
        return Run(*row)

    def runs(self, kind: str | None = None) -> list[Run]:
        q, args = "select * from runs", ()
        args_t: tuple[str, ...] = args
        if kind:
            q, args_t = q + " where kind = ?", (kind,)
        return [Run(*r) for r in self.db.execute(q + " order by id", args_t)]

    def changed(self, run: Run) -> bool:
        """True when the run's result.json is no longer what was registered (runs are immutable)."""
        f = Path(run.path) / "result.json"
        return not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != run.sha256

    def remove(self, run_id: int) -> Run:
        run = self.get(run_id)
        with self.db:
            self.db.execute("delete from runs where id = ?", (run_id,))
        return run

    def rebuild(self, roots: list[Path]) -> tuple[int, list[str]]:
        """Forget the index and register every run directory found under ``roots``; returns (count, problems).

        Every root must be an existing directory (checked before the index is touched).
        """
        bad = [str(r) for r in roots if not r.is_dir()]
        if bad:
            raise StoreError(f"{', '.join(bad)}: not a directory; the index was left as it was")
        with self.db:
            self.db.execute("delete from runs")
        count, problems = 0, []
        for root in roots:
            for f in sorted(root.rglob("result.json")):
                try:
                    self.add(f.parent)
                    count += 1
                except StoreError as exc:
                    problems.append(str(exc))
        return count, problems
