"""Progress of a long analysis, reported to whoever shows it (dsp itself draws nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .decode import PcmBlock, StreamInfo

#: Decoding and feature extraction are about 95 % of an analysis's time; tempo, beats, key and
#: segmentation of the extracted features are the rest (0.5 s of 9.9 s for a 10 min WAV).
DECODE_SHARE = 0.95
#: Reports come at most this often: every 0.1 % of the input's length, or every 10 s of audio
#: while the length is unknown.
STEP_FRACTION = 0.001
STEP_SECONDS = 10.0


@dataclass(frozen=True)
class AnalysisProgress:
    """``seconds`` of audio decoded so far; ``fraction`` of the whole analysis done, from 0 to 1
    and never decreasing, or None while the input's length is unknown (a live stream, say)."""

    seconds: float
    fraction: float | None


ProgressCallback = Callable[[AnalysisProgress], None]


def reported(blocks: Iterable[PcmBlock], info: StreamInfo, progress: ProgressCallback) -> Iterator[PcmBlock]:
    """``blocks`` unchanged, telling ``progress`` how far the decoding has got."""
    samples = 0
    last = AnalysisProgress(0.0, None if info.duration is None else 0.0)
    progress(last)
    for block in blocks:
        yield block
        samples += block.native.shape[1]
        seconds = samples / info.sample_rate
        if info.duration is None:
            if seconds - last.seconds >= STEP_SECONDS:
                last = AnalysisProgress(seconds, None)
                progress(last)
            continue
        fraction = DECODE_SHARE * min(1.0, seconds / info.duration)
        if last.fraction is not None and fraction - last.fraction >= STEP_FRACTION:
            last = AnalysisProgress(seconds, fraction)
            progress(last)
