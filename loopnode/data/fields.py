"""Strict readers for inbound JSON values (loop-protocol §1) and the `DataError` they raise.

Every reader ("check") has the signature ``check(value, path, round_ints) -> converted value`` and raises
`DataError` with a message that starts with the field path, e.g. ``box_detections[3].x: expected int, got 'a'``.
Records build their ``from_dict`` from these checks through `Reader`.
"""
from __future__ import annotations

import math
import numbers
from enum import Enum
from typing import Any, Callable, Mapping, Protocol, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
Check = Callable[[Any, str, bool], T]

_MAX_SHOWN = 80


class DataError(ValueError):
    """Inbound data does not match its record; the message names the field path."""


class FromDict(Protocol):
    """Anything with the strict ``from_dict`` of our records."""

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Any: ...


def at(path: str, key: str) -> str:
    """Path of ``key`` inside the object at ``path`` (``a.b``, or ``b`` at top level)."""
    return f"{path}.{key}" if path else key


def show(value: Any) -> str:
    """repr of a value for error messages, shortened so a huge payload does not flood the log."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def type_error(path: str, expected: str, value: Any) -> DataError:
    """``<path>: expected <expected>, got <repr>`` (no path prefix at top level)."""
    message = f"expected {expected}, got {show(value)}"
    return DataError(f"{path}: {message}" if path else message)


def as_str(value: Any, path: str, round_ints: bool = False) -> str:
    """A JSON string."""
    if isinstance(value, str):
        return value
    raise type_error(path, "str", value)


def as_bool(value: Any, path: str, round_ints: bool = False) -> bool:
    """A JSON boolean (numbers are not booleans)."""
    if isinstance(value, bool):
        return value
    raise type_error(path, "bool", value)


def as_int(value: Any, path: str, round_ints: bool = False) -> int:
    """An int; an integral float (3.0) is accepted, a fractional one only with ``round_ints`` (rounded).

    Rounding uses Python's ``round`` (nearest int, halves to even). Bools and strings are never numbers.
    """
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise type_error(path, "int", value)
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    if number.is_integer():
        return int(number)
    if round_ints and math.isfinite(number):
        return round(number)
    raise type_error(path, "int", value)


def as_float(value: Any, path: str, round_ints: bool = False) -> float:
    """A finite number as float (ints accepted; NaN/Infinity rejected because they are not valid JSON)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise type_error(path, "float", value)
    number = float(value)
    if not math.isfinite(number):
        raise type_error(path, "float", value)
    return number


def as_object(value: Any, path: str, round_ints: bool = False) -> dict[str, Any]:
    """Any JSON object, kept opaque (shallow copy)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise type_error(path, "object", value)


def as_any(value: Any, path: str, round_ints: bool = False) -> Any:
    """Any JSON value, unchecked."""
    return value


def list_of(check: Check[T]) -> Check[list[T]]:
    """A JSON array whose items all pass ``check``; item paths are ``path[i]``."""
    def check_list(value: Any, path: str, round_ints: bool = False) -> list[T]:
        if not isinstance(value, (list, tuple)):
            raise type_error(path, "list", value)
        return [check(item, f"{path}[{i}]", round_ints) for i, item in enumerate(value)]
    return check_list


def dict_of(check: Check[T]) -> Check[dict[str, T]]:
    """A JSON object whose values all pass ``check``; value paths are ``path.key``."""
    def check_dict(value: Any, path: str, round_ints: bool = False) -> dict[str, T]:
        if not isinstance(value, Mapping):
            raise type_error(path, "object", value)
        return {key: check(item, at(path, str(key)), round_ints) for key, item in value.items()}
    return check_dict


def enum_of(enum_type: type[E]) -> Check[E]:
    """One of the string values of ``enum_type``."""
    allowed = ", ".join(repr(member.value) for member in enum_type)

    def check_enum(value: Any, path: str, round_ints: bool = False) -> E:
        if isinstance(value, str):
            try:
                return enum_type(value)
            except ValueError:
                pass
        raise type_error(path, f"one of {allowed}", value)
    return check_enum


def record(record_type: type[FromDict]) -> Check[Any]:
    """A nested record read with its own strict ``from_dict``."""
    def check_record(value: Any, path: str, round_ints: bool = False) -> Any:
        return record_type.from_dict(value, path=path, round_ints=round_ints)
    return check_record


def enum_value(value: Any) -> Any:
    """The wire form of an enum member (other values pass through)."""
    return value.value if isinstance(value, Enum) else value


class Reader:
    """Reads the fields of one inbound JSON object; unknown keys are ignored (loop-protocol §1)."""

    __slots__ = ("data", "path", "round_ints")

    def __init__(self, data: Any, path: str = "", round_ints: bool = False) -> None:
        if not isinstance(data, Mapping):
            raise type_error(path, "object", data)
        self.data = data
        self.path = path
        self.round_ints = round_ints

    def required(self, key: str, check: Check[T]) -> T:
        """A field that must be present and not null."""
        field_path = at(self.path, key)
        if key not in self.data:
            raise DataError(f"{field_path}: missing required field")
        return check(self.data[key], field_path, self.round_ints)

    def optional(self, key: str, check: Check[T], default: Any = None) -> Any:
        """A field that may be missing or null (then ``default``)."""
        value = self.data.get(key)
        if value is None:
            return default
        return check(value, at(self.path, key), self.round_ints)

    def nullable(self, key: str, check: Check[T]) -> T | None:
        """A field whose key must be present but whose value may be null."""
        field_path = at(self.path, key)
        if key not in self.data:
            raise DataError(f"{field_path}: missing required field")
        value = self.data[key]
        return None if value is None else check(value, field_path, self.round_ints)
