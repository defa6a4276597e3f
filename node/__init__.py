"""djmesh.node: the embeddable node (``from djmesh.node import Node``).

Names are resolved lazily so that light commands (``djmesh id``) do not pay for the
networking stack when they import ``djmesh.node.cli``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.node.config import NodeConfig
    from djmesh.node.errors import NodeError
    from djmesh.node.events import NodeEvent
    from djmesh.node.home import NodeHome
    from djmesh.node.node import Node, NodeOptions

_EXPORTS = {
    "Node": "djmesh.node.node",
    "NodeOptions": "djmesh.node.node",
    "NodeConfig": "djmesh.node.config",
    "NodeError": "djmesh.node.errors",
    "NodeEvent": "djmesh.node.events",
    "NodeHome": "djmesh.node.home",
}
__all__ = ["Node", "NodeConfig", "NodeError", "NodeEvent", "NodeHome", "NodeOptions"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'djmesh.node' has no attribute {name!r}")
