"""A small SoundFont 2 (SF2) sample reader, so benchmarks can play General MIDI instruments.

The key benchmark (``bench/key_eval.py``) needs tonal material from sources the key finder was never
tuned on. A General MIDI soundfont from Debian (``timgm6mb-soundfont``: TimGM6mb.sf2, GPL-2) holds many
recorded instruments of known pitch, and reading its samples takes a page of code, not a synthesizer
dependency. Only what a sampler needs to pitch a note is read: the 16-bit PCM of ``sdta/smpl``, the sample
headers of ``pdta/shdr`` (name, start/end, loop points, rate, original pitch, pitch correction) and the
instruments' zones (``inst``, ``ibag``, ``igen``) for their sample, key range, overriding root key and tuning:
many fonts (TimGM6mb among them) leave the header's original pitch at 60 and give the real root in the zone.
Presets, modulators, envelopes and filters are not read: a note is the sample's attack, then its loop held.

Layout (SoundFont 2.01 specification): ``RIFF sfbk`` holding ``LIST INFO``, ``LIST sdta`` (``smpl``) and
``LIST pdta`` (``shdr`` among others). Chunks are a four-byte id, a little-endian 32-bit size and the data,
padded to an even length. A sample header is 46 bytes; the last one is the terminal ``EOS`` record. Sample
positions count 16-bit sample points from the start of ``smpl``. An instrument is a 22-byte ``inst`` record
(name, first zone), a zone a 4-byte ``ibag`` record (first generator), a generator a 4-byte ``igen`` record
(operator, amount); each list ends with a terminal record, and a zone without a sample is the instrument's
global zone, whose generators are defaults for the others.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
SHDR_SIZE = 46
#: sfSampleType bit of samples held in ROM (no PCM in the file)
ROM = 0x8000
#: generator operators read from instrument zones
KEY_RANGE, COARSE_TUNE, FINE_TUNE, SAMPLE_ID, SAMPLE_MODES, ROOT_KEY = 43, 51, 52, 53, 54, 58


class SoundFontError(ValueError):
    """The file is not a SoundFont 2 this reader can use (not RIFF sfbk, truncated, inconsistent)."""


@dataclass(frozen=True)
class Sample:
    """One recorded sample: PCM in [-1, 1) at ``rate``, loop points relative to its first frame."""

    name: str
    pcm: F32
    rate: int
    root_key: int
    correction_cents: int
    loop_start: int
    loop_end: int

    @property
    def midi(self) -> float:
        """The recording's pitch by its header alone (a zone may override the root key: ``Zone.midi``)."""
        return self.root_key - self.correction_cents / 100.0

    def note(self, seconds: float, rate: int, *, looped: bool = True) -> F32:
        """The sample held for ``seconds`` at ``rate`` as a sampler plays it: the attack, then the loop
        repeated (if ``looped`` and the loop is usable; else it just ends), with a 50 ms release at the end."""
        x = self.pcm
        if looped and self.loop_start >= 0 and self.loop_start + 8 <= self.loop_end <= x.size:
            want = int(np.ceil(seconds * self.rate)) + 1
            loop = x[self.loop_start : self.loop_end]
            reps = max(0, int(np.ceil((want - self.loop_end) / loop.size)))
            x = np.concatenate([x[: self.loop_end], np.tile(loop, reps)])
        if self.rate != rate:  # resample (linear): same pitch at the benchmark's rate
            pos = np.arange(0.0, x.size - 1, self.rate / rate)
            x = np.interp(pos, np.arange(x.size), x).astype(np.float32)
        x = x[: int(seconds * rate)].copy()
        fade = min(x.size, int(0.05 * rate))
        if fade:
            x[x.size - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return x


def _chunks(data: bytes, where: str) -> dict[str, bytes]:
    """The chunks of a RIFF body by id (``LIST`` chunks by their list type, e.g. ``sdta``)."""
    out: dict[str, bytes] = {}
    i = 0
    while i < len(data):
        if i + 8 > len(data):
            raise SoundFontError(f"{where}: truncated chunk header at byte {i}")
        cid = data[i : i + 4].decode("latin-1")
        (size,) = struct.unpack_from("<I", data, i + 4)
        body = data[i + 8 : i + 8 + size]
        if len(body) != size:
            raise SoundFontError(f"{where}: chunk {cid!r} claims {size} bytes, {len(body)} left")
        if cid == "LIST":
            if size < 4:
                raise SoundFontError(f"{where}: LIST chunk without a type")
            out[body[:4].decode("latin-1")] = body[4:]
        else:
            out[cid] = body
        i += 8 + size + (size & 1)
    return out


def _top(data: bytes, where: str) -> dict[str, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError(f"{where}: not a SoundFont 2 file (no RIFF sfbk header)")
    (size,) = struct.unpack_from("<I", data, 4)
    if size < 4 or 8 + size > len(data):
        raise SoundFontError(f"{where}: truncated: RIFF claims {size} bytes, the file has {len(data) - 8}")
    top = _chunks(data[12 : 8 + size], where)
    if "sdta" not in top or "pdta" not in top:
        raise SoundFontError(f"{where}: no sdta or pdta list")
    return top


def _pdta(data: bytes, where: str) -> dict[str, bytes]:
    return _chunks(_top(data, where)["pdta"], f"{where} pdta")


def _read_samples(data: bytes, where: str) -> tuple[dict[int, Sample], int]:
    """The PCM samples by their index in ``shdr`` (ROM samples and the terminal record left out), and how
    many headers there are (the indices a zone may name)."""
    smpl = _chunks(_top(data, where)["sdta"], f"{where} sdta").get("smpl")
    shdr = _pdta(data, where).get("shdr")
    if smpl is None or shdr is None:
        raise SoundFontError(f"{where}: no smpl or shdr chunk")
    pcm = np.frombuffer(smpl[: len(smpl) // 2 * 2], dtype="<i2")
    samples: dict[int, Sample] = {}
    records = _records(shdr, SHDR_SIZE, "<20sIIIIIBbHH", "shdr", where)
    for k, (raw_name, start, end, loop_start, loop_end, rate, root, cents, _link, kind) in enumerate(
        records[:-1]  # the last record is the terminal "EOS"
    ):
        name = bytes(raw_name).split(b"\0", 1)[0].decode("latin-1")
        if kind & ROM:
            continue
        if not start < end <= pcm.size or rate <= 0:
            raise SoundFontError(f"{where}: sample {name!r} spans {start}-{end} of {pcm.size} points")
        samples[k] = Sample(
            name=name,
            pcm=pcm[start:end].astype(np.float32) / 32768.0,
            rate=int(rate),
            root_key=int(root),
            correction_cents=int(cents),
            loop_start=int(loop_start) - int(start),
            loop_end=int(loop_end) - int(start),
        )
    return samples, len(records) - 1


def read_samples(path: Path | str) -> list[Sample]:
    """Every PCM sample of an SF2 file, in file order."""
    return list(_read_samples(Path(path).read_bytes(), str(path))[0].values())


@dataclass(frozen=True)
class Zone:
    """One sample of an instrument as a sampler plays it over ``keys`` (MIDI, inclusive)."""

    instrument: str
    sample: Sample
    keys: tuple[int, int]
    root_key: int
    tune_cents: int
    looped: bool

    @property
    def midi(self) -> float:
        """The pitch heard when the sample plays at its own rate (the key that plays it unshifted, with the
        zone's and the sample's tuning)."""
        return self.root_key - (self.tune_cents + self.sample.correction_cents) / 100.0

    def note(self, seconds: float, rate: int) -> F32:
        """The note this zone plays at its own pitch (``midi``), held for ``seconds`` at ``rate``."""
        return self.sample.note(seconds, rate, looped=self.looped)


def _records(chunk: bytes, size: int, fmt: str, name: str, where: str) -> list[tuple[Any, ...]]:
    """The fixed-size records of a pdta chunk, the terminal record included."""
    if len(chunk) % size or len(chunk) < 2 * size:
        raise SoundFontError(f"{where}: {name} of {len(chunk)} bytes is not whole {size}-byte records")
    return [struct.unpack_from(fmt, chunk, i) for i in range(0, len(chunk), size)]


def read_instruments(path: Path | str) -> list[Zone]:
    """Every zone with a PCM sample of every instrument in an SF2 file, in file order."""
    data = Path(path).read_bytes()
    samples_by_index, headers = _read_samples(data, str(path))
    pdta = _pdta(data, str(path))
    where = str(path)
    for chunk in ("inst", "ibag", "igen"):
        if chunk not in pdta:
            raise SoundFontError(f"{where}: no {chunk} chunk")
    insts = [(raw.split(b"\0", 1)[0].decode("latin-1"), bag) for raw, bag in _inst(pdta["inst"], where)]
    bags = [g for g, _ in _records(pdta["ibag"], 4, "<HH", "ibag", where)]
    gens = _records(pdta["igen"], 4, "<HH", "igen", where)
    zones: list[Zone] = []
    for (name, first), (_, last) in itertools.pairwise(insts):
        defaults: dict[int, int] = {}
        for b in range(first, last):
            if not 0 <= b < len(bags) - 1 or not bags[b] <= bags[b + 1] <= len(gens):
                raise SoundFontError(f"{where}: instrument {name!r} has zone {b} outside ibag/igen")
            zone = dict(defaults)
            zone.update({int(op): int(amount) for op, amount in gens[bags[b] : bags[b + 1]]})
            if SAMPLE_ID not in zone:
                if b == first:  # the global zone
                    defaults = zone
                continue
            if zone[SAMPLE_ID] >= headers:
                raise SoundFontError(
                    f"{where}: instrument {name!r} names sample {zone[SAMPLE_ID]} of {headers}"
                )
            sample = samples_by_index.get(zone[SAMPLE_ID])
            if sample is None:  # a ROM sample: no PCM here
                continue
            lo, hi = zone.get(KEY_RANGE, 0x7F00) & 0xFF, zone.get(KEY_RANGE, 0x7F00) >> 8
            root = zone.get(ROOT_KEY, 0xFFFF)
            root = sample.root_key if root > 127 else root
            coarse = struct.unpack("<h", struct.pack("<H", zone.get(COARSE_TUNE, 0)))[0]
            fine = struct.unpack("<h", struct.pack("<H", zone.get(FINE_TUNE, 0)))[0]
            looped = zone.get(SAMPLE_MODES, 0) & 1 == 1  # 1: loop while held, 3: loop then play out
            zones.append(Zone(name, sample, (lo, hi), root, 100 * coarse + fine, looped))
    return zones


def _inst(chunk: bytes, where: str) -> list[tuple[bytes, int]]:
    return [(bytes(r[0]), int(r[1])) for r in _records(chunk, 22, "<20sH", "inst", where)]
