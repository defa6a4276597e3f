"""Audio queued ahead of a sound device, which plays at its own pace, apart from the event loop.

The event loop hands each frame over when it falls due, and the loop stalls at times (garbage collection, a
burst of gossip, a move to a new parent: 60-190 ms in bench/hostile.py). A device fed straight from the loop
goes silent for every stall. With ``lead`` of audio queued ahead, it rides over any stall shorter than that,
and the loop's catch-up (the jitter buffer releases every frame that fell due at once) fills the queue again.
When it runs dry anyway, it plays silence until ``lead`` has gathered again (one gap, not a crackle of many),
and the gap is counted: what a listener hears, measured where it is heard.

Plain state, no threads or clocks: the sound device's callback pulls from it (``DeviceSink``, under a lock),
and a headless node pulls by the clock to report what a device would have played (``NullSink``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from djmesh.node.live.codec import PCM, SAMPLE_RATE

DEVICE_LEAD_S = 0.25  # audio a device keeps queued: over the longest pause seen in bench/hostile.py (192 ms)
MOST_QUEUED_S = 0.6  # more is dropped, oldest first: the jitter buffer's delay decays into the queue


@dataclass
class _Chunk:
    samples: int
    pcm: PCM | None
    taken: int = 0


@dataclass
class DeviceQueue:
    """Samples handed to a device and not yet played; ``pull`` is the device playing them."""

    lead: int = round(DEVICE_LEAD_S * SAMPLE_RATE)
    most: int = round(MOST_QUEUED_S * SAMPLE_RATE)
    gap_samples: int = 0  # silence played after audio began and before more audio came: what is heard
    underruns: int = 0  # times the device ran dry and audio came after (running dry at the end is none)
    dropped_samples: int = 0  # queued audio dropped to stay under ``most``
    _chunks: deque[_Chunk] = field(default_factory=deque)
    _level: int = 0
    _playing: bool = False  # False: filling up to ``lead`` (at the start and after running dry)
    _heard: bool = False  # some audio has played: silence from now on is a gap
    _silence: int = 0  # silence played since running dry, a gap once audio comes again
    _dry: bool = False  # ran dry after audio: an underrun once audio comes again

    @property
    def level(self) -> int:
        return self._level

    @property
    def gap_ms(self) -> float:
        return self.gap_samples * 1000.0 / SAMPLE_RATE

    def push(self, samples: int, pcm: PCM | None = None) -> None:
        """Queue ``samples`` of audio (``pcm``: the samples themselves; None where only the count matters)."""
        if samples <= 0:
            return
        if self._dry:  # the device ran dry and audio came after all: a gap heard
            self.underruns += 1
            self._dry = False
        self.gap_samples += self._silence  # gathering the lead again is heard too
        self._silence = 0
        self._chunks.append(_Chunk(samples, pcm))
        self._level += samples
        while self._level > self.most and len(self._chunks) > 1:
            oldest = self._chunks.popleft()
            left = oldest.samples - oldest.taken
            self._level -= left
            self.dropped_samples += left
        if not self._playing and self._level >= self.lead:
            self._playing = True

    def pull(self, samples: int, out: PCM | None = None) -> None:
        """The device plays ``samples``: written to ``out`` if given, silence where the queue has none."""
        filled = 0
        while self._playing and filled < samples and self._chunks:
            chunk = self._chunks[0]
            take = min(samples - filled, chunk.samples - chunk.taken)
            if out is not None:
                if chunk.pcm is None:
                    out[filled : filled + take] = 0
                else:
                    out[filled : filled + take] = chunk.pcm[chunk.taken : chunk.taken + take]
            chunk.taken += take
            filled += take
            self._level -= take
            self._heard = True
            if chunk.taken == chunk.samples:
                self._chunks.popleft()
        if filled < samples:
            if out is not None:
                out[filled:samples] = 0
            if self._heard:
                self._dry = self._dry or self._playing
                self._silence += samples - filled
            self._playing = False  # ran dry: gather ``lead`` again before playing on
