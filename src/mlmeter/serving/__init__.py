"""Serving: MLPerf's rules for a model server behind an endpoint (OpenAI-compatible), ``mlmeter serve``.

``openai.py`` (requests and the SSE stream), ``endpoint.py`` (the endpoint as a LoadGen SUT), ``mock.py``
(an OpenAI-compatible mock server), ``prompts.py`` (the embedded prompt set), ``bench.py`` (one run -> a run
record of kind ``serving``). The HTTP client (``http.py``) reads replies with httptools, the mock server is
aiohttp's; both are in the ``serving`` extra. Triton's gRPC stream (``triton_grpc.py``) goes through
``tritonclient``, the ``kserve-grpc`` extra.
"""

import importlib

from mlmeter.errors import MlmeterError


class ServingError(MlmeterError, RuntimeError):
    """An endpoint that cannot be benchmarked (unreachable, no such model, refused key); says what to do."""


def require(module: str) -> None:
    """A one-line error naming the extra when a module of the ``serving`` extra is missing."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ServingError(f"serving needs {module}: pip install 'mlmeter[serving]'") from exc
