"""djmesh.judge."""
