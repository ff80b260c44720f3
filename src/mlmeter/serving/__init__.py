"""Serving: MLPerf's rules for a model server behind an endpoint (OpenAI-compatible), ``mlmeter serve``.

``openai.py`` (requests and the SSE stream), ``endpoint.py`` (the endpoint as a LoadGen SUT), ``mock.py``
(an OpenAI-compatible mock server), ``prompts.py`` (the embedded prompt set), ``bench.py`` (one run -> a run
record of kind ``serving``). The HTTP client and the mock server use aiohttp (the ``serving`` extra).
"""

from mlmeter.errors import MlmeterError


class ServingError(MlmeterError, RuntimeError):
    """An endpoint that cannot be benchmarked (unreachable, no such model, refused key); says what to do."""


def require_aiohttp() -> None:
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        raise ServingError("serving needs aiohttp: pip install 'mlmeter[serving]'") from exc
