"""djmesh.ledger."""
