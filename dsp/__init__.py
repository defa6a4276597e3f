"""djmesh.dsp: tempo, beat grid, key, loudness and mix segmentation, offline and live.

Import cost is kept low (numpy, PyAV, scipy.signal) and no UI toolkit is touched.
"""

from __future__ import annotations

from .analysis import analyze_features, analyze_path, analyze_pcm, format_summary
from .errors import AnalysisError
from .live import BeatEvent, KeyUpdate, LevelUpdate, LiveAnalyzer, LiveUpdate, TempoUpdate
from .progress import AnalysisProgress, ProgressCallback

__all__ = [
    "AnalysisError",
    "AnalysisProgress",
    "BeatEvent",
    "KeyUpdate",
    "LevelUpdate",
    "LiveAnalyzer",
    "LiveUpdate",
    "ProgressCallback",
    "TempoUpdate",
    "analyze_features",
    "analyze_path",
    "analyze_pcm",
    "format_summary",
]
