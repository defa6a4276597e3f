"""Live stream message kinds and signed-segment verification (sans-IO). See issue 5."""
