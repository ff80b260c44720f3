"""The one error model of mlmeter.

Every error that a user can cause -- a flag, a config file, a path, a model or data file, an unreachable
server -- is an :class:`MlmeterError` whose message names what is wrong and what to do. The CLI turns it into
one line and exit code 2; anything else that escapes is a bug in mlmeter (exit code 3, traceback saved).
"""

from __future__ import annotations


class MlmeterError(Exception):
    """Bad input or an environment that refuses: the message is one line a user can act on."""


def described_os_error(exc: OSError) -> str:
    """One line for an ``OSError`` about a path: what failed on which file, and why."""
    what = exc.strerror or exc.__class__.__name__
    where = f"{exc.filename}" if exc.filename is not None else ""
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    hint = {
        "NotADirectoryError": "a part of the path is a file, not a directory",
        "IsADirectoryError": "expected a file, got a directory",
        "PermissionError": "choose a location you may write to",
        "FileExistsError": "choose another name, or remove it first",
    }.get(exc.__class__.__name__)
    text = f"{where}: {what}" if where else str(exc)
    return f"{text} ({hint})" if hint else text
