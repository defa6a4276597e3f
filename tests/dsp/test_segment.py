"""Segmentation of a continuous mix built with known transition times and beat offsets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from djmesh.dsp import analyze_pcm
from tests.helpers.audio import chord_progression, crossfade_mix, drum_pattern
from tests.helpers.bench import bench_set, judge_material

if TYPE_CHECKING:
    from djmesh.judge.synth import BuiltSet

SR = 44100


def _track(bpm: float, style: str, tonic: int, minor: bool, dur: float) -> tuple[np.ndarray, float, float]:
    drums, _ = drum_pattern(bpm, dur, style=style, start=0.1, sr=SR)
    return (drums + 0.6 * chord_progression(tonic, minor, dur, sr=SR)).astype(np.float32), bpm, 0.1


@pytest.fixture(scope="module")
def mix_result() -> tuple[dict[str, object], list[dict[str, float]]]:
    tracks = [
        _track(124.0, "house", 60, False, 70.0),
        _track(124.0, "offbeat", 57, True, 70.0),
        _track(126.0, "syncopated", 62, True, 70.0),
    ]
    mix, truth = crossfade_mix(tracks, sr=SR, fade_s=16.0, offsets_ms=[0.0, 35.0])
    return analyze_pcm(mix, SR), truth


def test_tracks_with_their_own_tempo_and_key(
    mix_result: tuple[dict[str, object], list[dict[str, float]]],
) -> None:
    r, _ = mix_result
    tracks = r["tracks"]
    assert isinstance(tracks, list) and len(tracks) == 3
    assert [t["bpm"] for t in tracks] == pytest.approx([124.0, 124.0, 126.0], abs=0.02)
    assert [t["key"] for t in tracks] == ["C major", "A minor", "D minor"]


def test_transitions_found_with_centre_and_beat_offset(
    mix_result: tuple[dict[str, object], list[dict[str, float]]],
) -> None:
    r, truth = mix_result
    found = r["transitions"]
    assert isinstance(found, list) and len(found) == 2
    for est, ref in zip(found, truth, strict=True):
        assert est["centre"] == pytest.approx(ref["centre"], abs=2.0)
        assert est["start"] < ref["centre"] < est["end"]
    # beat-matched transition: phase offset within a few ms of zero
    assert found[0]["beat_offset_ms"] == pytest.approx(truth[0]["beat_offset_ms"], abs=5.0)
    # 124 -> 126 BPM: the offset drifts ~8 ms per second, so compare where the centre was found
    assert abs(found[1]["beat_offset_ms"]) > 40.0


def test_single_track_has_no_transitions() -> None:
    x = _track(128.0, "house", 62, False, 90.0)[0]
    r = analyze_pcm(x, SR)
    assert r["transitions"] == []
    assert len(r["tracks"]) == 1  # type: ignore[arg-type]


def test_tempo_step_inside_a_track_splits_it() -> None:
    a, _ = drum_pattern(124.0, 60.0, style="house", start=0.1, sr=SR)
    b, _ = drum_pattern(130.0, 60.0, style="house", start=0.0, sr=SR)
    chords = chord_progression(57, True, 60.0, sr=SR)
    r = analyze_pcm(np.concatenate([a + 0.5 * chords, b + 0.5 * chords]), SR)
    tracks = r["tracks"]
    assert isinstance(tracks, list)
    assert [t["bpm"] for t in tracks] == pytest.approx([124.0, 130.0], abs=0.02)
    assert tracks[0]["end"] == pytest.approx(60.0, abs=4.0)
    assert r["transitions"] == []  # a tempo step is not a crossfade


def test_steady_tempo_is_not_split() -> None:
    x = _track(126.0, "syncopated", 60, False, 120.0)[0]
    r = analyze_pcm(x, SR)
    assert len(r["tracks"]) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("fade_out_s", [0.0, 16.0])
def test_breakdown_inside_a_track_is_not_a_transition(fade_out_s: float) -> None:
    # drums cut (or fade) out for 24 s and come back: same track, no new sound
    drums, _ = drum_pattern(126.0, 130.0, style="house", start=0.1, sr=SR)
    a, b = int(50 * SR), int(74 * SR)
    if fade_out_s:
        n = int(fade_out_s * SR)
        drums[a - n : a] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    drums[a:b] = 0.0
    r = analyze_pcm(drums + 0.6 * chord_progression(57, True, 130.0, sr=SR), SR)
    assert r["transitions"] == []
    assert len(r["tracks"]) == 1  # type: ignore[arg-type]


def test_long_blends_of_slow_tracks_are_found() -> None:
    # hip hop tempo, 8-bar (22.6 s) fades between 68 s tracks: most of the mix is a blend, which once
    # lifted the novelty's median so far that no boundary stood above it
    bpm, fade = 85.0, 8 * 4 * 60.0 / 85.0
    tracks = [
        _track(bpm, "syncopated", 60, False, 68.0),
        _track(bpm, "house", 57, True, 68.0),
        _track(bpm, "syncopated", 62, True, 68.0),
        _track(bpm, "house", 55, False, 68.0),
    ]
    mix, truth = crossfade_mix(tracks, sr=SR, fade_s=fade)
    got = [float(t["centre"]) for t in analyze_pcm(mix, SR)["transitions"]]  # type: ignore[union-attr]
    assert len(got) == len(truth)
    for t, g in zip(truth, got, strict=True):
        assert abs(g - t["centre"]) <= 4.0


@pytest.mark.parametrize("first_track", [15, 18])
def test_blends_of_tracks_45_s_apart_are_all_found(lmms_dir: Path, first_track: int) -> None:
    # six lmms tracks at 85 BPM, 24 bars each with 8-bar fades: blends 45 s apart, whose novelty peaks
    # once fell 36-39 s apart, and the weaker was dropped (5 tracks found, a false rules flag)
    from djmesh.judge.synth import SetSpec, build_set

    built = build_set(SetSpec(bpm=85.0, bars_per_track=24, first_track=first_track, seed=first_track))
    fade = 8 * 4 * 60.0 / 85.0
    got = [float(t["centre"]) for t in analyze_pcm(built.samples, built.sample_rate)["transitions"]]  # type: ignore[union-attr]
    assert len(got) == 5
    for cue, g in zip(built.cues[1:], got, strict=True):
        assert abs(g - (cue + fade / 2)) <= 4.0


def assert_blends_centred(built: BuiltSet) -> None:
    """Every blend of ``built`` found, one transition each, within 4 s of its centre."""
    got = [float(t["centre"]) for t in analyze_pcm(built.samples, built.sample_rate)["transitions"]]  # type: ignore[union-attr]
    assert len(got) == len(built.centres)
    for truth, g in zip(built.centres, got, strict=True):
        assert abs(g - truth) <= 4.0


@pytest.mark.parametrize(
    ("bpm", "blend_bars", "first_track"), [(85.0, 16, 7), (126.0, 32, 0), (85.0, 32, 4), (85.0, 32, 3)]
)
def test_long_blends_are_centred_within_4_s(
    lmms_dir: Path, bpm: float, blend_bars: int, first_track: int
) -> None:
    # 45-90 s linear blends: the first measure's references (12-36 s either side of the novelty peak) lie
    # inside the blend, so its centre stayed where the novelty peaked, 5-26 s off; these found 0 of 2.
    # The last (tracks 3-5) has no novelty peak at either blend: both were missing
    from djmesh.judge.synth import Defects, SetSpec, build_set

    spec = SetSpec(
        bpm=bpm,
        tracks=3,
        bars_per_track=2 * blend_bars + 16,
        first_track=first_track,
        seed=first_track,
        defects=Defects(fade_bars=blend_bars),
    )
    assert_blends_centred(build_set(spec))


def test_eq_swap_blends_are_centred_where_the_lows_swap(lmms_dir: Path) -> None:
    # 90 s EQ swaps (32 bars at 85 BPM): the highs cross over the whole blend, the lows swap at its
    # middle; a line through the share of all bands put these centres 4.6 and 8.4 s off
    from djmesh.judge.synth import Defects, SetSpec, build_set

    spec = SetSpec(
        bpm=85.0,
        tracks=3,
        bars_per_track=80,
        first_track=0,
        seed=0,
        defects=Defects(fade_bars=32, blend="eq_swap"),
    )
    assert_blends_centred(build_set(spec))


def assert_hydrogen_crossfades_centred(bpm: float, first_track: int) -> None:
    """Three hydrogen kits sequenced to one pattern (bench/judge_material.py), 80 bars each, crossfaded
    over 32 bars: both transitions found, each within 4 s of its blend's centre."""
    from djmesh.judge.synth import Defects, SetSpec, build_set

    material = judge_material()
    if not material.HYDROGEN.is_dir():
        pytest.skip("hydrogen drum kits not installed (scripts/setup installs hydrogen-drumkits)")
    spec = SetSpec(
        bpm=bpm,
        tracks=3,
        bars_per_track=80,
        first_track=first_track,
        seed=first_track,
        defects=Defects(fade_bars=32),
    )
    assert_blends_centred(build_set(spec, make_track=material.hydrogen_track))


def test_a_90_s_crossfade_of_two_drum_kits_is_centred_within_4_s() -> None:
    # hip hop at 85 BPM: the share of all bands sat off the fader through the second blend, 7.2 s off;
    # the median of the centres that six groups of bands and pitch classes give is 3.6 s off
    assert_hydrogen_crossfades_centred(85.0, first_track=1)


def test_a_crossfade_whose_lows_change_sharply_is_centred_on_the_fade() -> None:
    # kits 7 -> 0 at 174 BPM (44 s): the share of the low bands passes 0.2-0.8 quickly enough to read as
    # an EQ swap, and the swap's count put the centre 12.3 s early; an EQ swap's lows swap near the
    # blend's own centre (within 0.11 of its length), these 0.34 away
    assert_hydrogen_crossfades_centred(174.0, first_track=23)


def test_a_crossfade_measured_under_50_s_is_not_centred_late() -> None:
    # kits 7 -> 0 at 126 BPM (32 bars, 61 s): the first blend measures 46 s, and blends under 50 s took the
    # share of all columns alone, which sits off the fader for this pair: 5.0 s late (a miss and a false
    # transition); the median of the six groups' centres, used now for every re-centred crossfade, 0.9 s
    assert_hydrogen_crossfades_centred(126.0, first_track=15)


def test_a_90_s_crossfade_read_as_two_halves_is_one_transition(lmms_dir: Path) -> None:
    # six lmms tracks at 85 BPM with 32-bar (90 s) crossfades: the third blend peaked twice at the 12 s
    # scale, near its quarters, and was reported as two transitions (435 and 470 s, truth 451.8 s);
    # between them the sound is a mix of the tracks either side, so they are one blend
    from djmesh.judge.synth import Defects, SetSpec, build_set

    spec = SetSpec(bpm=85.0, bars_per_track=80, first_track=49, seed=49, defects=Defects(fade_bars=32))
    assert_blends_centred(build_set(spec))


@pytest.mark.parametrize(
    ("bpm", "first_track", "gain_db"), [(85.0, 6, 3.0), (85.0, 18, 3.0), (126.0, 22, 3.0), (85.0, 3, 0.0)]
)
def test_a_track_brought_in_louder_than_the_last_is_still_a_new_track(
    lmms_dir: Path, bpm: float, first_track: int, gain_db: float
) -> None:
    # the third blend's incoming track 3 dB too loud (or, set 3, 4.5 dB louder as rendered) contains the
    # outgoing one's sound in every band: main read its blend as a breakdown's end and found 4-5 tracks of 6
    from djmesh.judge.synth import Defects, SetSpec, build_set

    bars = 24 if bpm < 100 else 32
    defects = Defects(gain_jump_db=gain_db, only_transition=3) if gain_db else Defects()
    spec = SetSpec(bpm=bpm, bars_per_track=bars, first_track=first_track, seed=first_track, defects=defects)
    assert_blends_centred(build_set(spec))


def test_a_level_step_alone_does_not_make_a_boundary() -> None:
    """The step is taken out only to ask whether each side has sound of its own: the same sound, or a
    breakdown's remaining parts, at any level is no new track."""
    from djmesh.dsp.segment import MIN_STEPPED_CONTENT, N_TIMBRE_BANDS, new_content_past_step

    rng = np.random.default_rng(3)
    width = N_TIMBRE_BANDS + 12
    track = rng.uniform(0.5, 1.5, width)
    other = rng.uniform(0.5, 1.5, width)
    track[[1, 5, 9, 20]] *= 0.05  # sound only the other track has ...
    other[[3, 7, 12, 17]] *= 0.05  # ... and sound only this one has
    w = 12

    def past_step(left: np.ndarray, right: np.ndarray) -> float:
        return new_content_past_step(
            np.vstack([np.tile(left, (3 * w, 1)), np.tile(right, (3 * w, 1))]), 3 * w, w
        )

    breakdown = track.copy()
    breakdown[:6] *= 0.01  # the drums drop out: the lows and low mids go, the rest plays on
    for db in (-9.0, -6.0, -3.0, 0.0, 3.0, 6.0, 9.0):
        gain = 10.0 ** (db / 10.0)
        assert past_step(track, other * gain) >= MIN_STEPPED_CONTENT
        assert past_step(track, track * gain) < MIN_STEPPED_CONTENT
        assert past_step(breakdown, track * gain) < MIN_STEPPED_CONTENT


def test_a_long_crossfade_keeps_its_centre_where_the_level_steps_inside_it() -> None:
    # six hydrogen kits at 85 BPM, 32-bar (90 s) crossfades: at the fourth blend's centre the mixes either
    # side step 4 dB apart and, that step out, have new sound. Asked alongside the first peaks, the centre
    # counted beside the blend's own peak 42 s before it, and neither span could be measured (blend lost)
    from djmesh.judge.synth import Defects, SetSpec, build_set

    material = judge_material()
    if not material.HYDROGEN.is_dir():
        pytest.skip("hydrogen drum kits not installed (scripts/setup installs hydrogen-drumkits)")
    spec = SetSpec(bpm=85.0, bars_per_track=80, first_track=14, seed=14, defects=Defects(fade_bars=32))
    built = build_set(spec, make_track=material.hydrogen_track)
    got = [float(t["centre"]) for t in analyze_pcm(built.samples, built.sample_rate)["transitions"]]  # type: ignore[union-attr]
    # (the third blend, 452 s, reads at 485 s whichever way: a miss of its own, left alone here)
    assert any(abs(g - built.centres[3]) <= 4.0 for g in got)


@pytest.mark.parametrize(("bpm", "first_track"), [(85.0, 141), (174.0, 143)])
def test_tracks_that_share_samples_are_still_new_tracks(bpm: float, first_track: int) -> None:
    # sonic-pi sets of bench/judge_eval.py: the sequencer cycles through two closed hats and a few bass
    # notes, so a track's sound partly returns two tracks later; its boundaries read 0.094-0.118 on
    # ``comes_back``, under the old 0.12 that marks a breakdown's edge, and main found 5 and 4 tracks of 6
    assert_blends_centred(bench_set("sonic-pi", bpm, first_track))


@pytest.mark.parametrize(
    ("set_number", "align_attacks"),
    [
        # a track's seconds alternate between half bars and read as a little of the next track: the
        # blend at 102 s measured 55 s long, wider than its span, and was dropped; measured again between
        # the two sides' own share levels, 23 s
        (120, True),
        # close novelty peaks measured all five blends, but two centres not yet re-centred lay 39.7 s
        # apart and the answer was refused for MIN_TRACK_S (40 s)
        (162, True),
        # two 8-bar blends and the 45 s track between them read as one blend at the 36 s scale and
        # replaced a right one: its middle is no mix of the sound beside it (0.28 and 0.33 unexplained)
        (9, True),
        (144, True),
        # the blend at 192 s could not be measured from the peak 6 s after it, and that peak had kept the
        # peaks nearer the blend from being picked; picked again without it
        (147, False),
    ],
)
def test_sparse_kit_beats_at_85_bpm_read_all_their_blends(set_number: int, align_attacks: bool) -> None:
    # hydrogen sets of bench/judge_eval.py (with --align-attacks: each one-shot's attack on its step),
    # whose clean renderings main read as 5 tracks
    assert_blends_centred(bench_set("hydrogen", 85.0, set_number, align_attacks=align_attacks))
