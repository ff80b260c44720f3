"""Reports and comparisons of run directories: a self-contained HTML page, JSON/CSV/Markdown, ``compare``."""

from mlmeter.report.compare import Comparison, NotComparable, compare, format_json, format_text
from mlmeter.report.html import render
from mlmeter.report.runs import RunView, load_runs
from mlmeter.report.tables import as_csv, as_json, as_markdown

__all__ = ["Comparison", "NotComparable", "RunView", "as_csv", "as_json", "as_markdown", "compare", "format_json",
           "format_text", "load_runs", "render"]
