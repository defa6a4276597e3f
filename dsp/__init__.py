"""djmesh.dsp: tempo, beat grid, key, loudness and mix segmentation, offline and live.

Import cost is kept low (numpy, PyAV, scipy.signal) and no UI toolkit is touched.

Names are imported when first used (PEP 562): a node that never analyses, or imports only
``djmesh.dsp.live``'s neighbours, does not pay for scipy's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analysis import analyze_features, analyze_path, analyze_pcm, format_summary
    from .errors import AnalysisError
    from .live import BeatEvent, KeyUpdate, LevelUpdate, LiveAnalyzer, LiveUpdate, TempoUpdate
    from .progress import AnalysisProgress, ProgressCallback

_HOMES = {
    "analyze_features": ".analysis",
    "analyze_path": ".analysis",
    "analyze_pcm": ".analysis",
    "format_summary": ".analysis",
    "AnalysisError": ".errors",
    "BeatEvent": ".live",
    "KeyUpdate": ".live",
    "LevelUpdate": ".live",
    "LiveAnalyzer": ".live",
    "LiveUpdate": ".live",
    "TempoUpdate": ".live",
    "AnalysisProgress": ".progress",
    "ProgressCallback": ".progress",
}

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


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
