"""Bit-exact libstdc++ random machinery: ``std::mt19937`` and the distributions the LoadGen uses.

The official LoadGen draws every random choice through libstdc++ (GCC 14). To issue the same samples at the
same nanoseconds, this module reproduces the engine (seeded with ``seed mod 2**32``), Lemire's bounded
integer method, ``std::shuffle``'s paired and classic variants, ``generate_canonical<double, 53>`` and the
exponential distribution. Raw 32-bit draws come in blocks from NumPy's MT19937 (the same engine), so bulk
work is vectorised while the order of consumption stays exactly sequential.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence
from typing import TypeVar

import numpy as np

_M32 = 0xFFFFFFFF
_TWO32 = 1 << 32
_BLOCK = 4096
_TWO64_F = float(1 << 64)
_BELOW_ONE = math.nextafter(1.0, 0.0)

T = TypeVar("T")


def _init_genrand(seed: int) -> np.ndarray:
    """The standard MT19937 state initialisation of a 32-bit seed (the ``init_genrand`` recurrence)."""
    key = [0] * 624
    x = seed & _M32
    key[0] = x
    for i in range(1, 624):
        x = (1812433253 * (x ^ (x >> 30)) + i) & _M32
        key[i] = x
    return np.array(key, dtype=np.uint32)


class MT19937:
    """A ``std::mt19937`` stream with a look-ahead buffer so callers can peek at draws and consume some."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.MT19937()
        self._bits.state = {
            "bit_generator": "MT19937",
            "state": {"key": _init_genrand(seed % _TWO32), "pos": 624},
        }
        self._buf = np.empty(0, dtype=np.uint64)
        self._pos = 0

    def peek(self, n: int) -> np.ndarray:
        """The next ``n`` raw 32-bit draws (as uint64), without consuming them."""
        have = len(self._buf) - self._pos
        if have < n:
            fresh = self._bits.random_raw(max(n - have, _BLOCK))
            self._buf = np.concatenate((self._buf[self._pos :], fresh))
            self._pos = 0
        return self._buf[self._pos : self._pos + n]

    def advance(self, n: int) -> None:
        """Consume ``n`` draws previously seen through :meth:`peek`."""
        self._pos += n

    def raw(self, n: int) -> np.ndarray:
        """Consume and return the next ``n`` raw draws."""
        out = self.peek(n).copy()
        self._pos += n
        return out

    def skip(self, n: int) -> None:
        """Discard ``n`` draws (used to keep a shared stream in step without materialising values)."""
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            return
        n -= have
        self._buf = np.empty(0, dtype=np.uint64)
        self._pos = 0
        while n > 0:
            step = min(n, 1 << 22)
            self._bits.random_raw(step)
            n -= step

    def next(self) -> int:
        """One raw draw."""
        if self._pos >= len(self._buf):
            self.peek(1)
        v = int(self._buf[self._pos])
        self._pos += 1
        return v


def uniform_int(rng: MT19937, a: int, b: int) -> int:
    """``std::uniform_int_distribution<>(a, b)`` for one draw."""
    r = b - a + 1
    if r == _TWO32:
        return a + rng.next()
    p = rng.next() * r
    low = p & _M32
    if low < r:
        threshold = (_TWO32 - r) % r
        while low < threshold:
            p = rng.next() * r
            low = p & _M32
    return a + (p >> 32)


def _bounded(rng: MT19937, ranges: np.ndarray) -> np.ndarray:
    """One Lemire draw for each entry of ``ranges`` (each < 2**32), consumed in order with exact rejection."""
    n = len(ranges)
    out = np.empty(n, dtype=np.uint64)
    thresholds = (np.uint64(_TWO32) - ranges) % ranges
    done = 0
    while done < n:
        todo = ranges[done:]
        x = rng.peek(len(todo))
        p = x * todo
        low = p & np.uint64(_M32)
        bad = np.flatnonzero(low < thresholds[done:])
        good = len(todo) if len(bad) == 0 else int(bad[0])
        out[done : done + good] = p[:good] >> np.uint64(32)
        done += good
        rng.advance(good + (1 if good < len(todo) else 0))
    return out


def uniform_ints(rng: MT19937, a: int, b: int, n: int) -> np.ndarray:
    """``n`` successive draws of ``uniform_int_distribution(a, b)`` as an int64 array."""
    r = b - a + 1
    if r == _TWO32:
        return rng.raw(n).astype(np.int64) + a
    out = np.empty(n, dtype=np.int64)
    threshold = np.uint64((_TWO32 - r) % r)
    rr = np.uint64(r)
    done = 0
    while done < n:
        x = rng.peek(n - done)
        p = x * rr
        keep = (p & np.uint64(_M32)) >= threshold
        accepted = p[keep] >> np.uint64(32)
        out[done : done + len(accepted)] = accepted.astype(np.int64) + a
        done += len(accepted)
        rng.advance(len(x))
    return out


def shuffle(seq: MutableSequence[T], rng: MT19937) -> None:
    """``std::shuffle(seq.begin(), seq.end(), rng)`` in place, libstdc++'s algorithm."""
    n = len(seq)
    if n < 2:
        return
    if (_M32 // n) >= n:
        i = 1
        if n % 2 == 0:
            j = uniform_int(rng, 0, 1)
            seq[1], seq[j] = seq[j], seq[1]
            i = 2
        steps = np.arange(i + 1, n + 1, 2, dtype=np.uint64)  # s = i + 1 for each paired step
        draws = _bounded(rng, steps * (steps + np.uint64(1)))
        hi = (draws // (steps + np.uint64(1))).tolist()
        lo = (draws % (steps + np.uint64(1))).tolist()
        for k in range(len(hi)):
            j1 = hi[k]
            seq[i], seq[j1] = seq[j1], seq[i]
            i += 1
            j2 = lo[k]
            seq[i], seq[j2] = seq[j2], seq[i]
            i += 1
        return
    picks = _bounded(rng, np.arange(2, n + 1, dtype=np.uint64)).tolist()
    for i in range(1, n):
        j = picks[i - 1]
        seq[i], seq[j] = seq[j], seq[i]


def canonicals(rng: MT19937, n: int) -> np.ndarray:
    """``n`` values of ``generate_canonical<double, 53>``: two draws each, low word first."""
    raw = rng.raw(2 * n).astype(np.float64)
    u = (raw[0::2] + raw[1::2] * float(_TWO32)) / _TWO64_F
    u[u >= 1.0] = _BELOW_ONE
    return u


def exponential_ns(rng: MT19937, rate: float, n: int) -> np.ndarray:
    """``n`` exponential(rate) draws in seconds, converted to int64 nanoseconds as ``duration_cast`` does."""
    one_minus_u = (1.0 - canonicals(rng, n)).tolist()
    # math.log is the platform libm's log, the one libstdc++ calls; NumPy's SIMD log may differ by an ulp.
    seconds = [-math.log(v) / rate for v in one_minus_u]
    return np.array([int(s * 1e9) for s in seconds], dtype=np.int64)
