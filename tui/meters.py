"""The live meters the screens draw; they live in ``djmesh.node.live.meters`` (the web overlay uses them too)."""

from djmesh.node.live.meters import BEAT_FLASH_S, PEAK_FALL_DB_PER_S, SAMPLE_RATE, Meter, MeterBank

__all__ = ["BEAT_FLASH_S", "PEAK_FALL_DB_PER_S", "SAMPLE_RATE", "Meter", "MeterBank"]
