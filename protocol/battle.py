"""Battle message kinds and the battle state machine (sans-IO). See issue 6."""
