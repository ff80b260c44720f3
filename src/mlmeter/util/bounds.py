"""Range checks of numbers given by a user: one sentence per problem, naming the option."""

from __future__ import annotations

import math


def out_of_range(name: str, value: float | int | None, *, minimum: float | None = None,
                 maximum: float | None = None, above: float | None = None) -> str | None:
    """Why ``value`` is unusable for ``name`` (NaN, infinite, below ``minimum``, not above ``above``,
    over ``maximum``), or None when it is fine or not given."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be a finite number, got {value}"
    if above is not None and not value > above:
        return f"{name} must be greater than {above:g}, got {value:g}"
    if minimum is not None and value < minimum:
        return f"{name} must be at least {minimum:g}, got {value:g}"
    if maximum is not None and value > maximum:
        return f"{name} must be at most {maximum:g}, got {value:g}"
    return None
