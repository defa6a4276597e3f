"""A control request's parameters, read with one set of checks and one wording for every method.

A wrong parameter is the client's error: each reader raises `ControlError` naming the parameter, which the
control server sends back as a one-line answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from djmesh.node.errors import ControlError

if TYPE_CHECKING:
    from djmesh.node.node import Node

Handler = Callable[["Node", dict[str, Any]], Awaitable[Any]]


def text(params: dict[str, Any], name: str, default: str | None = None) -> str:
    value = params.get(name, default)
    if not isinstance(value, str) or not value:
        raise ControlError(f"missing or invalid parameter {name!r}")
    return value


def optional_text(params: dict[str, Any], name: str) -> str | None:
    return None if params.get(name) is None else text(params, name)


def integer(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(f"{name} must be an integer in {low}..{high}")
    return value


def number(params: dict[str, Any], name: str, default: float | None, low: float, high: float) -> float | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ControlError(f"{name} must be a number in {low:g}..{high:g}")
    return float(value)


def hex32(params: dict[str, Any], name: str) -> bytes:
    """A 32-byte ID (content ID, battle ID) as 64 hex digits."""
    try:
        value = bytes.fromhex(text(params, name))
    except ValueError:
        value = b""
    if len(value) != 32:
        raise ControlError(f"{name} must be 64 hex digits")
    return value


def optional_integer(params: dict[str, Any], name: str, low: int, high: int) -> int | None:
    return None if params.get(name) is None else integer(params, name, 0, low, high)


def boolean(params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false")
    return value


def text_list(params: dict[str, Any], name: str, *, max_items: int) -> tuple[str, ...] | None:
    """A list of strings (None when absent); a bare string is refused, not split into characters."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > max_items or not all(isinstance(v, str) for v in value):
        raise ControlError(f"{name} must be a list of at most {max_items} strings")
    return tuple(value)


def text_map(params: dict[str, Any], name: str, *, max_items: int) -> tuple[tuple[str, str], ...] | None:
    """An object of string values, as sorted pairs (None when absent)."""
    value = params.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > max_items
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise ControlError(f"{name} must be an object of at most {max_items} string values")
    return tuple(sorted(value.items()))


def text_or_empty(params: dict[str, Any], name: str) -> str:
    """A string parameter where absent, null and "" all mean "not given" (returned as "")."""
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ControlError(f"{name} must be a string")
    return value
