"""djmesh.node."""
