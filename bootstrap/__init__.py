"""djmesh.bootstrap."""
