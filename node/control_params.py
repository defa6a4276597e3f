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
