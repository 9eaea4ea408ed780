"""Protobuf and key encodings of Feast's online store, for whole Arrow columns.

Each function returns a ``large_binary`` array with, per row, the bytes that
Feast 0.67 builds one value at a time in Python: ``Value.SerializeToString()``
for feature values, ``serialize_entity_key`` (version 3) for entity keys, and
``Timestamp.SerializeToString()`` for event times. The bytes are assembled with
numpy and pyarrow compute, so a column of a million values takes milliseconds.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import mmh3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.value_type import ValueType

_BINARY = pa.large_binary()
_EMPTY = pa.scalar(b"", _BINARY)

# Protobuf wire format: a tag is (field number << 3) | wire type.
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
# Field numbers of feast.types.Value (feast/protos/feast/types/Value.proto).
_SCALAR_FIELDS = {
    ValueType.BYTES: (1, _LENGTH),
    ValueType.STRING: (2, _LENGTH),
    ValueType.INT32: (3, _VARINT),
    ValueType.INT64: (4, _VARINT),
    ValueType.DOUBLE: (5, _FIXED64),
    ValueType.FLOAT: (6, _FIXED32),
    ValueType.BOOL: (7, _VARINT),
}
# List type: (field number, element type). Each list is a message whose field
# 1 contains the elements, packed for numbers and booleans.
_LIST_FIELDS = {
    ValueType.BYTES_LIST: (11, ValueType.BYTES),
    ValueType.STRING_LIST: (12, ValueType.STRING),
    ValueType.INT32_LIST: (13, ValueType.INT32),
    ValueType.INT64_LIST: (14, ValueType.INT64),
    ValueType.DOUBLE_LIST: (15, ValueType.DOUBLE),
    ValueType.FLOAT_LIST: (16, ValueType.FLOAT),
    ValueType.BOOL_LIST: (17, ValueType.BOOL),
}
SUPPORTED_VALUE_TYPES = frozenset(_SCALAR_FIELDS) | frozenset(_LIST_FIELDS)
# Type codes of serialize_entity_key (feast.types.ValueType.Enum).
_KEY_TYPE_CODES = {
    ValueType.BYTES: 1,
    ValueType.STRING: 2,
    ValueType.INT32: 3,
    ValueType.INT64: 4,
}
KEY_VALUE_TYPES = frozenset(_KEY_TYPE_CODES)


def encode_values(array: pa.Array, value_type: ValueType) -> pa.Array:
    """Serialize each element of ``array`` as a ``feast.types.Value`` message.

    The result is a ``large_binary`` array with, per element, the bytes that
    ``Value(<field>=element).SerializeToString()`` returns, and empty bytes for
    null. Null elements inside a list become 0, ``""`` or False, as in Feast's
    conversion, except in float lists, where they become NaN.

    Raises:
        ValueError: ``value_type`` is not in :data:`SUPPORTED_VALUE_TYPES`.
    """
    if value_type in _LIST_FIELDS:
        field, element_type = _LIST_FIELDS[value_type]
        encoded = _encode_list(array, field, element_type)
    elif value_type in _SCALAR_FIELDS:
        field, wire_type = _SCALAR_FIELDS[value_type]
        payload = _encode_elements(array, value_type, packed=False)
        encoded = concat_binary(_tag(field, wire_type), payload)
    else:
        msg = (
            f"value type {value_type.name} has no bulk encoder; supported: "
            f"{sorted(t.name for t in SUPPORTED_VALUE_TYPES)}"
        )
        raise ValueError(msg)
    return pc.if_else(array.is_valid(), encoded, _EMPTY)


def encode_entity_keys(
    columns: Mapping[str, pa.Array], value_types: Mapping[str, ValueType]
) -> pa.Array:
    """Serialize one entity key per row as ``serialize_entity_key`` version 3.

    ``columns`` maps each join key to its values, and ``value_types`` to the
    join key's Feast type (STRING, BYTES, INT32 or INT64).

    Raises:
        ValueError: a join key has a null value or an unsupported type.
    """
    names = sorted(columns)
    parts: list[pa.Array | bytes] = [struct.pack("<I", len(names))]
    for name in names:
        # Join key names are always written as strings.
        encoded_name = name.encode("utf8")
        code = _KEY_TYPE_CODES[ValueType.STRING]
        parts.append(struct.pack("<II", code, len(encoded_name)) + encoded_name)
    for name in names:
        column = columns[name]
        if column.null_count:
            msg = f"join key {name} has {column.null_count} null values"
            raise ValueError(msg)
        parts.extend(_entity_value_parts(name, column, value_types[name]))
    return concat_binary(*parts)


def encode_timestamps(micros: np.ndarray) -> pa.Array:
    """Serialize microseconds since the Unix epoch as protobuf Timestamps.

    Each element equals ``Timestamp.FromDatetime(...).SerializeToString()`` of
    the same instant: seconds and nanoseconds, each omitted when zero.
    """
    micros = np.asarray(micros, dtype=np.int64)
    seconds = np.floor_divide(micros, 1_000_000)
    nanos = np.remainder(micros, 1_000_000) * 1000
    seconds_part = concat_binary(_tag(1, _VARINT), _varints(seconds.view(np.uint64)))
    nanos_part = concat_binary(_tag(2, _VARINT), _varints(nanos.view(np.uint64)))
    return concat_binary(
        pc.if_else(pa.array(seconds != 0), seconds_part, _EMPTY),
        pc.if_else(pa.array(nanos != 0), nanos_part, _EMPTY),
    )


def feature_field(view_name: str, feature_name: str) -> bytes:
    """Return the hash field of a feature: murmur3 of ``view:feature``, 4 bytes LE."""
    return struct.pack("<I", mmh3.hash(f"{view_name}:{feature_name}", signed=False))


def binary_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and data of a large_binary array without nulls."""
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    if data_buffer is None:
        return offsets, np.empty(0, dtype=np.uint8)
    return offsets, np.frombuffer(data_buffer, dtype=np.uint8)


def concat_binary(*parts: pa.Array | bytes) -> pa.Array:
    """Concatenate binary arrays and constant bytes element-wise."""
    arguments = [
        pa.scalar(part, _BINARY) if isinstance(part, bytes) else part.cast(_BINARY)
        for part in parts
    ]
    if all(isinstance(argument, pa.Scalar) for argument in arguments):
        msg = "_concat needs at least one array"
        raise ValueError(msg)
    return pc.binary_join_element_wise(*arguments, _EMPTY)


def _encode_list(array: pa.Array, field: int, element_type: ValueType) -> pa.Array:
    """Serialize each list as ``Value(<field>=XList(val=list))``."""
    lengths = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False)
    flat = array.flatten()
    packed = element_type not in (ValueType.STRING, ValueType.BYTES)
    elements = _encode_elements(flat, element_type, packed=packed)
    if not packed:
        # Each string is a field-1 record: tag, length, bytes.
        elements = concat_binary(_tag(1, _LENGTH), elements)
    element_offsets, data = binary_buffers(elements)
    row_offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    body = _binary(element_offsets[row_offsets], data)
    if packed:
        # A packed field: one record of all elements; absent for an empty list.
        body_lengths = pc.binary_length(body).to_numpy(zero_copy_only=False)
        header = concat_binary(
            _tag(1, _LENGTH), _varints(body_lengths.astype(np.uint64))
        )
        body = concat_binary(pc.if_else(pa.array(lengths > 0), header, _EMPTY), body)
    body_lengths = pc.binary_length(body).to_numpy(zero_copy_only=False)
    return concat_binary(
        _tag(field, _LENGTH), _varints(body_lengths.astype(np.uint64)), body
    )


def _encode_elements(array: pa.Array, value_type: ValueType, packed: bool) -> pa.Array:
    """Serialize the bare payload of each element: varint, fixed bytes, or
    length and bytes. Null elements get Feast's list defaults."""
    if value_type in (ValueType.STRING, ValueType.BYTES):
        data = pc.cast(array, _BINARY).fill_null(b"")
        lengths = pc.binary_length(data).to_numpy(zero_copy_only=False)
        return concat_binary(_varints(lengths.astype(np.uint64)), data)
    if value_type in (ValueType.DOUBLE, ValueType.FLOAT):
        dtype = np.dtype("<f8" if value_type == ValueType.DOUBLE else "<f4")
        floats = pc.cast(array, pa.float64()).fill_null(np.nan)
        raw = floats.to_numpy(zero_copy_only=False).astype(dtype)
        return _fixed(raw.view(np.uint8).reshape(len(raw), dtype.itemsize))
    if value_type == ValueType.BOOL:
        flags = array.fill_null(False).to_numpy(zero_copy_only=False)
        return _fixed(flags.astype(np.uint8).reshape(-1, 1))
    # int32 and int64: two's complement as uint64, so negatives take 10 bytes.
    integers = pc.cast(array, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    return _varints(integers.view(np.uint64))


def _entity_value_parts(
    name: str, column: pa.Array, value_type: ValueType
) -> list[pa.Array | bytes]:
    """Return the type code, 4-byte length and bytes of one join key's values."""
    if value_type not in _KEY_TYPE_CODES:
        msg = f"join key {name} has type {value_type.name}; the bulk writer takes "
        msg += f"{sorted(t.name for t in _KEY_TYPE_CODES)}"
        raise ValueError(msg)
    code = struct.pack("<I", _KEY_TYPE_CODES[value_type])
    if value_type in (ValueType.INT32, ValueType.INT64):
        dtype = np.dtype("<i4" if value_type == ValueType.INT32 else "<i8")
        integers = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
        raw = integers.astype(dtype).view(np.uint8).reshape(len(column), -1)
        return [code + struct.pack("<I", dtype.itemsize), _fixed(raw)]
    if value_type == ValueType.STRING:
        column = pc.cast(column, pa.large_string())
    data = pc.cast(column, _BINARY)
    lengths = pc.binary_length(data).to_numpy(zero_copy_only=False)
    size = lengths.astype("<u4").view(np.uint8).reshape(len(column), 4)
    return [code, _fixed(size), data]


def _tag(field: int, wire_type: int) -> bytes:
    return _varint_bytes((field << 3) | wire_type)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varints(values: np.ndarray) -> pa.Array:
    """Base-128 varints of unsigned 64-bit values, as a binary array."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    sizes = np.ones(len(values), dtype=np.int64)
    for group in range(1, 10):
        sizes += values >= np.uint64(1) << np.uint64(7 * group)
    matrix = np.empty((len(values), 10), dtype=np.uint8)
    for group in range(10):
        low_bits = (values >> np.uint64(7 * group)) & np.uint64(0x7F)
        more = (group < sizes - 1).astype(np.uint8) << 7
        matrix[:, group] = low_bits.astype(np.uint8) | more
    data = matrix[np.arange(10) < sizes[:, None]]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return _binary(offsets, data)


def _fixed(rows: np.ndarray) -> pa.Array:
    """Return a binary array of the rows of a 2-D uint8 matrix."""
    count, width = rows.shape
    offsets = np.arange(count + 1, dtype=np.int64) * width
    return _binary(offsets, np.ascontiguousarray(rows).reshape(-1))


def _binary(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    return pa.Array.from_buffers(_BINARY, len(offsets) - 1, buffers)
