"""djmesh.tui."""
