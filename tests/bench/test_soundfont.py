"""The benchmarks' SoundFont 2 reader (bench/soundfont.py) on tiny SF2 files built here byte by byte.

What the key benchmark relies on: the PCM and its loop come out as written, a note's pitch is the zone's
root key with its tuning (the header's own root key is often a placeholder), a held note repeats its loop at
the benchmark's rate without changing pitch, and a damaged file is refused with a clear error.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.helpers.bench import BENCH


def _load_soundfont() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soundfont", BENCH / "soundfont.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


sf = _load_soundfont()


def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def riff_list(kind: bytes, *chunks: bytes) -> bytes:
    return chunk(b"LIST", kind + b"".join(chunks))


def shdr_record(
    name: bytes, start: int, end: int, loop: tuple[int, int], rate: int, root: int, cents: int
) -> bytes:
    return struct.pack("<20sIIIIIBbHH", name, start, end, loop[0], loop[1], rate, root, cents, 0, 1)


def gens(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack("<HH", op, amount & 0xFFFF) for op, amount in pairs)


def build_sf2(
    pcm: np.ndarray, *, rate: int = 22050, root: int = 60, cents: int = 0, loop: tuple[int, int]
) -> bytes:
    """One sample, one instrument "Test": a global zone (loop while held) and one zone playing the sample over
    keys 40-80 with root key 69 and -10 cents of fine tune (the header says ``root``)."""
    smpl = pcm.astype("<i2").tobytes() + b"\0" * 92  # spec: 46 zero points after each sample
    shdr = shdr_record(b"Test Sample", 0, pcm.size, loop, rate, root, cents)
    shdr += shdr_record(b"EOS", 0, 0, (0, 0), 0, 0, 0)
    inst = struct.pack("<20sH", b"Test", 0) + struct.pack("<20sH", b"EOI", 2)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0) + struct.pack("<HH", 5, 0)
    igen = gens((54, 1))  # global zone: sampleModes = loop
    igen += gens(
        (43, (80 << 8) | 40), (58, 69), (52, -10), (53, 0)
    )  # keyRange, root key, fine tune, sampleID
    igen += gens((0, 0))  # terminal
    body = b"sfbk" + riff_list(b"INFO", chunk(b"ifil", struct.pack("<HH", 2, 1)))
    body += riff_list(b"sdta", chunk(b"smpl", smpl))
    body += riff_list(
        b"pdta", chunk(b"inst", inst), chunk(b"ibag", ibag), chunk(b"igen", igen), chunk(b"shdr", shdr)
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def sine(n: int, period: int) -> np.ndarray:
    return np.round(12000 * np.sin(2 * np.pi * np.arange(n) / period)).astype(np.int16)


def test_reads_the_pcm_rate_root_key_and_loop(tmp_path: Path) -> None:
    pcm = sine(1000, 50)
    path = tmp_path / "one.sf2"
    path.write_bytes(build_sf2(pcm, rate=22050, root=57, cents=-7, loop=(200, 900)))
    (sample,) = sf.read_samples(path)
    assert sample.name == "Test Sample"
    assert np.array_equal(sample.pcm, pcm / 32768.0)
    assert (sample.rate, sample.root_key, sample.correction_cents) == (22050, 57, -7)
    assert (sample.loop_start, sample.loop_end) == (200, 900)
    assert sample.midi == pytest.approx(57.07)


def test_a_zone_gives_the_pitch_the_range_and_the_global_loop_mode(tmp_path: Path) -> None:
    path = tmp_path / "one.sf2"
    path.write_bytes(build_sf2(sine(1000, 50), root=60, cents=5, loop=(200, 900)))
    (zone,) = sf.read_instruments(path)
    assert (zone.instrument, zone.sample.name, zone.keys, zone.root_key) == (
        "Test",
        "Test Sample",
        (40, 80),
        69,
    )
    assert zone.looped
    # heard unshifted: the root key, less the zone's fine tune (-10) and the sample's correction (+5)
    assert zone.midi == pytest.approx(69.05)


def test_a_held_note_repeats_the_loop_at_the_benchmarks_rate_and_keeps_its_pitch(tmp_path: Path) -> None:
    path = tmp_path / "one.sf2"
    path.write_bytes(
        build_sf2(sine(1000, 50), rate=22050, loop=(200, 900))
    )  # 441 Hz, 14 whole periods looped
    (zone,) = sf.read_instruments(path)
    note = zone.note(1.0, 44100)
    assert note.size == 44100  # the 1000-point sample (45 ms) held for a second
    body = note[: 44100 - 2205]  # before the release
    crossings = np.count_nonzero(np.diff(np.signbit(body).astype(np.int8)) != 0)
    assert crossings / 2 / (body.size / 44100) == pytest.approx(441.0, rel=0.01)
    assert np.max(np.abs(body[30000:])) > 0.3  # still sounding long after the sample's end


def test_refuses_a_truncated_or_foreign_file(tmp_path: Path) -> None:
    whole = build_sf2(sine(1000, 50), loop=(200, 900))
    path = tmp_path / "bad.sf2"
    path.write_bytes(whole[:-30])
    with pytest.raises(sf.SoundFontError, match="truncated"):
        sf.read_samples(path)
    path.write_bytes(b"RIFF" + whole[4:8] + b"WAVE" + whole[12:])
    with pytest.raises(sf.SoundFontError, match="not a SoundFont 2"):
        sf.read_instruments(path)


def test_refuses_a_sample_header_that_points_past_the_pcm(tmp_path: Path) -> None:
    whole = build_sf2(sine(1000, 50), loop=(200, 900))
    at = whole.index(b"Test Sample")
    end = struct.pack("<I", 10**6)
    path = tmp_path / "bad.sf2"
    path.write_bytes(whole[: at + 24] + end + whole[at + 28 :])  # dwEnd follows the name and dwStart
    with pytest.raises(sf.SoundFontError, match="spans"):
        sf.read_samples(path)


def test_refuses_a_zone_naming_a_sample_that_does_not_exist(tmp_path: Path) -> None:
    whole = build_sf2(sine(1000, 50), loop=(200, 900))
    sample_id = struct.pack("<HH", 53, 0)
    at = whole.index(sample_id)
    path = tmp_path / "bad.sf2"
    path.write_bytes(whole[:at] + struct.pack("<HH", 53, 7) + whole[at + 4 :])
    with pytest.raises(sf.SoundFontError, match="names sample 7 of 1"):
        sf.read_instruments(path)
