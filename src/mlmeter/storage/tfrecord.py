"""TFRecord files without TensorFlow: ``tf.train.Example`` protobuf encoding, record framing with masked
CRC-32C, a streaming reader, and the DALI ``tfrecord2idx`` index (``<offset> <size>`` per record)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, BinaryIO

_crc32c: Any
try:
    from crc32c import crc32c as _crc32c
except ImportError:  # pragma: no cover - the storage extra installs it
    _crc32c = None


class TFRecordError(ValueError):
    """A damaged record; the message names the file and the byte offset."""


def _crc(data: bytes | memoryview) -> int:
    if _crc32c is None:
        raise RuntimeError("TFRecord checksums need the crc32c package: pip install 'mlmeter[storage]'")
    return int(_crc32c(data))


def masked_crc(data: bytes | memoryview) -> int:
    c = _crc(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def example(image: bytes, size: int) -> bytes:
    """A serialised ``tf.train.Example`` with ``image`` (bytes) and ``size`` (int64), as DLIO writes them."""
    image_feature = _field(1, _field(1, image))  # Feature.bytes_list { value: image }
    size_feature = _field(3, _field(1, _varint(size)))  # Feature.int64_list { packed value: size }
    entries = _field(1, _field(1, b"image") + _field(2, image_feature))
    entries += _field(1, _field(1, b"size") + _field(2, size_feature))
    return _field(1, entries)  # Example.features


def frame(record: bytes) -> bytes:
    header = struct.pack("<Q", len(record))
    return header + struct.pack("<I", masked_crc(header)) + record + struct.pack("<I", masked_crc(record))


def read_records(f: BinaryIO, name: str, *, verify: bool = True) -> Iterator[bytes]:
    """The records of an open TFRecord file, checking both CRCs unless ``verify`` is False."""
    offset = 0
    while True:
        header = f.read(12)
        if not header:
            return
        if len(header) < 12:
            raise TFRecordError(f"{name}: truncated record header at byte {offset}")
        (length,) = struct.unpack("<Q", header[:8])
        if verify and struct.unpack("<I", header[8:])[0] != masked_crc(header[:8]):
            raise TFRecordError(f"{name}: corrupt record length at byte {offset}")
        body = f.read(length + 4)
        if len(body) < length + 4:
            raise TFRecordError(f"{name}: truncated record at byte {offset}")
        if verify and struct.unpack("<I", body[length:])[0] != masked_crc(memoryview(body)[:length]):
            raise TFRecordError(f"{name}: corrupt record data at byte {offset}")
        offset += 12 + length + 4
        yield body[:length]


def index_text(record_lengths: list[int]) -> str:
    """The ``tfrecord2idx`` index: one ``<offset> <total record bytes>`` line per record."""
    lines = []
    offset = 0
    for n in record_lengths:
        total = 8 + 4 + n + 4
        lines.append(f"{offset} {total}\n")
        offset += total
    return "".join(lines)
