"""Feature values as bytes: msgpack (msgspec), compact and exact for every feature type.

The Redis backend keeps a value with its event time in front (8 bytes, a big-endian double),
so a Lua script compares event times without decoding the value.
"""

from __future__ import annotations

import struct

import msgspec

from scaleserve.features.views import FeatureValue

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(int | float | str | bool | list[float])
_TIME = struct.Struct(">d")


def encode(value: FeatureValue) -> bytes:
    return _encoder.encode(value)


def decode(raw: bytes) -> FeatureValue:
    value: FeatureValue = _decoder.decode(raw)
    return value


def encode_timed(event_ts: float, value: FeatureValue) -> bytes:
    """``event_ts`` and ``value`` in one string (``decode_timed``'s inverse)."""
    return _TIME.pack(event_ts) + _encoder.encode(value)


def decode_timed(raw: bytes) -> tuple[float, FeatureValue]:
    (event_ts,) = _TIME.unpack_from(raw)
    value: FeatureValue = _decoder.decode(memoryview(raw)[_TIME.size :])
    return event_ts, value
