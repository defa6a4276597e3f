"""A set settles what one track alone leaves ambiguous (dsp/set_phase.py): the half beat and the bar
line of each track's grid, from its neighbours at the blends, without hiding a real mistake."""

from __future__ import annotations

import numpy as np
import pytest

from djmesh.dsp.beats import BeatGrid
from djmesh.dsp.set_phase import (
    bar_offsets,
    beat_offset,
    edge_downbeats,
    on_one_beat,
    pattern_match,
    settle_bars,
    settle_beat_phases,
)
from djmesh.judge.scoring import read_bpm_range
from djmesh.protocol.battle import Rules
from tests.helpers.bench import bench_set

PERIOD = 50.0  # frames per beat (120 BPM at 100 frames/s)
SPAN = 2000  # frames per piece


BLEND = 800.0  # frames of crossfade (16 beats)


def _set(phases: list[float]) -> tuple[list[BeatGrid], list[tuple[float, float]]]:
    """Consecutive pieces of SPAN frames with the given grid phases, and their blends (start, end)."""
    grids = [BeatGrid(PERIOD, p, k * SPAN, (k + 1) * SPAN) for k, p in enumerate(phases)]
    return grids, [((k + 1) * SPAN - BLEND / 2, (k + 1) * SPAN + BLEND / 2) for k in range(len(phases) - 1)]


def test_a_track_whose_grid_sits_half_a_beat_off_is_moved_back() -> None:
    # track 2's grid chose the off-beat (its kick band misled it); its own middle band votes weakly
    grids, blends = _set([0.0, 0.0, 25.0, 0.0, 0.0])
    moves = settle_beat_phases(grids, blends, [-0.3, -0.2, -0.1, -0.3, -0.2])
    assert moves == [0, 0, 2, 0, 0]


def test_a_half_beat_mistake_at_one_blend_is_not_explained_away() -> None:
    # the DJ dropped track 3 half a beat late: every track from 3 on is consistently off from 0-2
    grids, blends = _set([0.0, 0.0, 0.0, 25.0, 25.0, 25.0])
    moves = settle_beat_phases(grids, blends, [-0.3] * 6)
    assert moves == [0] * 6
    assert abs(beat_offset(grids[2], grids[3], 3.0 * SPAN)) == 25.0


def test_an_end_track_follows_its_neighbour_even_against_its_own_vote() -> None:
    # the middle band votes wrong often on sequenced material (bass notes and hats between the beats)
    grids, blends = _set([0.0, 0.0, 0.0, 25.0])
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, -0.3, 0.4])[3] == 2
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, -0.3, -0.6])[3] == 2


def test_two_end_tracks_stay_off_only_when_both_votes_hold_firmly() -> None:
    # sonic-pi 126 BPM sets like 4: the last two grids were right, but both votes said move; moving them
    # left one blend half a beat off, where the chain had found none
    grids, blends = _set([0.0] * 6)
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, -0.3, -0.3, 0.5, 0.4]) == [0] * 6
    grids, blends = _set([0.0, 0.0, 0.0, 0.0, 25.0, 25.0])
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, -0.3, -0.3, 0.2, 0.1])[4:] == [2, 2]
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, -0.3, -0.3, -0.6, -0.6])[4:] == [0, 0]


def test_a_track_whose_grid_sits_a_quarter_beat_off_is_moved_back_when_its_onsets_lean_there() -> None:
    # a drum & bass track whose grid followed its bass riff: its blends both sit a quarter beat off,
    # and all its other bands peak a quarter beat later than its grid
    grids, blends = _set([0.0, 0.0, 37.5, 0.0, 0.0])
    quarters = [(-0.8, -0.8), (-0.8, -0.8), (0.4, 0.1), (-0.8, -0.8), (-0.8, -0.8)]
    assert settle_beat_phases(grids, blends, [-0.3] * 5, quarters) == [0, 0, 1, 0, 0]
    # without its own onsets leaning there, a quarter move costs more than the two blends it mends
    quarters[2] = (-0.8, -0.8)
    assert settle_beat_phases(grids, blends, [-0.3] * 5, quarters) == [0] * 5


def test_a_quarter_beat_mistake_at_one_blend_is_not_explained_away() -> None:
    # the DJ dropped track 3 a quarter beat late (86 ms at 174 BPM), and the tracks after it follow it
    grids, blends = _set([0.0, 0.0, 0.0, 12.5, 12.5, 12.5])
    quarters = [(-0.8, -0.8)] * 3 + [(0.2, 0.2)] * 3
    assert settle_beat_phases(grids, blends, [-0.3] * 6, quarters) == [0] * 6


def test_a_loop_grid_never_moves_its_neighbours_follow_it() -> None:
    # a loop's grid starts on its first sample, a beat for certain, even against its own vote
    grids, blends = _set([0.0, 25.0, 0.0])
    grids[1] = BeatGrid(PERIOD, 25.0, SPAN, 2 * SPAN, loop=True)
    assert settle_beat_phases(grids, blends, [0.0, 1.0, 0.0]) == [2, 0, 2]


def _scores(best: int, lead: float = 1.0) -> np.ndarray:
    s = np.zeros(4)
    s[best] = lead
    return s


def test_a_misread_bar_line_in_the_middle_follows_both_neighbours() -> None:
    grids, blends = _set([0.0] * 5)  # every piece starts on a beat a whole number of bars in
    # track 2's own downbeat score points one beat late, weakly
    scores = [_scores(0), _scores(0), _scores(1, 0.8), _scores(0), _scores(0)]
    assert settle_bars(grids, blends, scores) == [0, 0, 0, 0, 0]


def test_a_blend_off_the_bar_in_the_middle_of_a_set_stays() -> None:
    grids, blends = _set([0.0] * 6)
    # the tracks from 3 on entered one beat off, and each one's own downbeat says so
    scores = [_scores(0), _scores(0), _scores(0), _scores(1), _scores(1), _scores(1)]
    assert settle_bars(grids, blends, scores) == [0, 0, 0, 1, 1, 1]


def test_a_track_alone_keeps_its_own_best_downbeat() -> None:
    grids, _ = _set([0.0])
    assert settle_bars(grids, [], [_scores(2)]) == [2]


def test_a_blend_whose_tempi_drift_apart_says_nothing() -> None:
    # track 2 plays 2 % faster: over a 16-beat blend its beats drift a third of a beat against track 1's,
    # so where they happen to sit at the centre is chance, and nothing moves because of it
    grids, blends = _set([0.0, 0.0, 25.0])
    grids[2] = BeatGrid(PERIOD / 1.02, 25.0, 2 * SPAN, 3 * SPAN)
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, -0.1]) == [0, 0, 0]
    # nor does a track's own vote move it alone: it only weighs in where a blend can be compared
    assert settle_beat_phases(grids, blends, [-0.3, -0.3, 0.8]) == [0, 0, 0]
    scores = [_scores(0), _scores(0), _scores(1, 0.5)]
    assert settle_bars(grids, blends, scores) == [0, 0, 1]


#: a blend's ``bar_off`` past this reads as off the bar: well above what a clean set's blends read
#: (0.01-0.05 here), and under the 0.25 of one beat where every reading agrees
OFF = 0.15


def test_an_end_track_that_misreads_its_downbeat_does_not_flip_the_set_reading() -> None:
    # a clean set whose last track's own downbeat points one beat late by about 2 standard deviations,
    # as an lmms loop with its strongest low hit on beat 2 does: the best chain puts a break at the last
    # blend or none depending on a tenth of a standard deviation (two renderings of the same set)
    grids, blends = _set([0.0] * 6)
    weaker = [_scores(0)] * 5 + [_scores(1, 1.9)]
    stronger = [_scores(0)] * 5 + [_scores(1, 2.1)]
    assert settle_bars(grids, blends, weaker)[-1] != settle_bars(grids, blends, stronger)[-1]
    a, b = bar_offsets(grids, blends, weaker), bar_offsets(grids, blends, stronger)
    assert all(x is not None and y is not None and abs(x - y) < 0.01 for x, y in zip(a, b, strict=True))
    assert max(x for x in a + b if x is not None) < OFF  # in line either way


def test_a_real_one_beat_mistake_reads_at_its_blend() -> None:
    grids, blends = _set([0.0] * 6)
    # track 3 entered one beat late: it and every track after it read their downbeat one beat on
    for lead in (1.0, 0.5):
        scores = [_scores(0)] * 3 + [_scores(1, lead)] * 3
        off = bar_offsets(grids, blends, scores)
        assert off[2] is not None and off[2] >= OFF, off
        assert all(x is not None and x < OFF for k, x in enumerate(off) if k != 2), off


def test_bar_offsets_of_a_clean_set_are_near_zero_and_none_without_beats() -> None:
    grids, blends = _set([0.0] * 4)
    off = bar_offsets(grids, blends, [_scores(0)] * 4)
    assert all(x is not None and x < 0.05 for x in off)
    # a blend whose incoming piece has no beat grid has nothing to compare
    grids[2] = BeatGrid(0.0, 0.0, 2 * SPAN, 3 * SPAN)
    assert bar_offsets(grids, blends, [_scores(0)] * 4)[1] is None
    assert bar_offsets(grids[:1], [], [_scores(0)]) == []


def test_bar_offsets_count_a_blend_a_fraction_of_a_beat_off() -> None:
    # the incoming grid sits 10 frames (a fifth of a beat) late on every blend: bar lines meet 0.05 bar
    # apart, where every track is sure of its downbeat
    grids, blends = _set([0.0, 10.0, 20.0])
    off = bar_offsets(grids, blends, [_scores(0, 10.0)] * 3)
    assert all(x is not None and abs(x - 0.05) < 0.01 for x in off), off


def _groove(downbeat: int) -> np.ndarray:
    """A ``beats.bar_profile`` whose bar starts on beat index ``downbeat``: kick on one and three, snare on
    two and four, hats between the beats, the loudest hit on four (a snare with a bass note, as sonic-pi
    126 BPM tracks play)."""
    low, broad = np.zeros((4, 4)), np.full((4, 4), 0.1)
    low[:, 0] = (2.0, 0.2, 1.5, 1.8)
    broad[:, 0] = (1.0, 1.2, 0.8, 2.5)
    broad[:, 2] = 0.5
    bands = [np.roll((b - b.mean()) / b.std(), downbeat, axis=0) for b in (low, broad)]
    return np.stack(bands)


def test_two_grooves_match_best_where_their_bar_lines_meet() -> None:
    for s in range(4):
        for t in range(4):
            for j in (0, 5, 14):
                match = pattern_match(_groove(s), _groove(t), j)
                assert int(np.argmax(match)) == (j - s + t) % 4, (s, t, j, match)


def test_grooves_keep_a_clean_set_in_line_where_the_downbeat_cues_mislead() -> None:
    # sonic-pi 126 BPM: a bass note on beat four outweighs the one, and the middle tracks' own downbeat
    # scores point one beat early (beat four) or half a bar off; the set's edges fix the end tracks
    grids, blends = _set([0.0] * 6)
    scores = [
        _scores(0, 10.0),
        _scores(3, 1.2),
        _scores(2, 1.0),
        _scores(3, 1.5),
        _scores(2, 0.8),
        _scores(0, 10.0),
    ]
    grooves = [_groove(0)] * 6
    unaided = bar_offsets(grids, blends, scores)
    assert max(x for x in unaided if x is not None) >= OFF, unaided  # what the cues alone read
    off = bar_offsets(grids, blends, scores, grooves)
    assert all(x is not None and x < OFF for x in off), off
    assert settle_bars(grids, blends, scores, grooves) == [0] * 6


def test_grooves_sharpen_a_one_beat_mistake_that_the_cues_only_hint_at() -> None:
    grids, blends = _set([0.0] * 6)
    # track 3 entered one beat late (it and every track after it); their own cues lean that way, weakly
    scores = [_scores(0, 10.0), *[_scores(0, 0.5)] * 2, *[_scores(1, 0.3)] * 2, _scores(1, 10.0)]
    grooves = [_groove(0)] * 3 + [_groove(1)] * 3
    unaided = bar_offsets(grids, blends, scores)
    off = bar_offsets(grids, blends, scores, grooves)
    assert off[2] is not None and unaided[2] is not None and off[2] > max(unaided[2], 0.2), (unaided, off)
    assert all(
        x is not None and y is not None and x < y
        for k, (x, y) in enumerate(zip(off, unaided, strict=True))
        if k != 2
    )
    assert settle_bars(grids, blends, scores, grooves) == [0, 0, 0, 1, 1, 1]


def _drums(kicks: list[tuple[int, int]]) -> np.ndarray:
    """A groove of kicks on these (beat, sixteenth) steps, with a hat on every sixteenth."""
    low, broad = np.zeros((4, 4)), np.full((4, 4), 0.8)
    for beat, step in kicks:
        low[beat, step] += 1.0
        broad[beat, step] += 1.0
    return np.stack([(b - b.mean()) / b.std() for b in (low, broad)])


def _turned(groove: np.ndarray, steps: int) -> np.ndarray:
    """``groove`` as a grid ``steps`` sixteenths late reads it (each of its bins holds what plays later)."""
    bands = groove.shape[0]
    return np.roll(groove.reshape(bands, -1), -steps, axis=1).reshape(groove.shape)


def test_a_grid_a_quarter_beat_off_is_found_by_its_groove() -> None:
    # sonic-pi 174 BPM: track 2's grid sat on the bass riff, a sixteenth late; its own onsets do not say
    # so (quarter votes 0), and its two blends read a quarter beat out
    grids, blends = _set([0.0, 0.0, PERIOD / 4, 0.0, 0.0])
    votes, quarters = [-0.3] * 5, [(0.0, 0.0)] * 5
    grooves = [_groove(0), _groove(0), _turned(_groove(0), 1), _groove(0), _groove(0)]
    assert settle_beat_phases(grids, blends, votes, quarters) == [0] * 5
    assert settle_beat_phases(grids, blends, votes, quarters, grooves) == [0, 0, 3, 0, 0]


def test_a_quarter_beat_mistake_is_not_explained_away_by_the_grooves() -> None:
    # the DJ dropped track 3 a sixteenth late: every grid sits right on its own track, and so do the grooves
    grids, blends = _set([0.0, 0.0, 0.0, PERIOD / 4, PERIOD / 4, PERIOD / 4])
    votes, quarters = [-0.3] * 6, [(0.3, 0.3)] * 6
    grooves = [_groove(0)] * 6
    assert settle_beat_phases(grids, blends, votes, quarters, grooves) == [0] * 6


def test_different_grooves_move_no_bar_line() -> None:
    # a four-on-the-floor loop against a broken beat lines up as well at every beat (as the lmms loops of
    # a set mostly do): that says nothing, and the set reads as its downbeat cues alone read it
    grids, blends = _set([0.0] * 5)
    scores = [_scores(0, 10.0), _scores(1, 0.8), _scores(0), _scores(3, 0.5), _scores(0, 10.0)]
    four, broken = _drums([(0, 0), (1, 0), (2, 0), (3, 0)]), _drums([(0, 0), (1, 2), (2, 0), (3, 3)])
    assert len({round(m, 9) for m in pattern_match(four, broken, 0)}) == 1
    grooves = [four, broken, four, broken, four]
    assert bar_offsets(grids, blends, scores, grooves) == bar_offsets(grids, blends, scores)
    assert settle_bars(grids, blends, scores, grooves) == settle_bars(grids, blends, scores)


def _edge_audio(first: int, last: int, n: int = 2400) -> tuple[np.ndarray, np.ndarray]:
    """Onset strength with a hit on every beat from frame ``first`` to ``last`` (inclusive, PERIOD apart)
    and a steady level at 5 level frames per second (20 onset frames each) while it plays."""
    env = np.zeros(n)
    env[np.arange(first, last + 1, int(PERIOD))] = 1.0
    rms = np.zeros(n // 20, np.float32)
    rms[first // 20 : (last + int(PERIOD)) // 20] = 0.1
    return env, rms


def test_a_set_starts_on_a_bar_line_and_stops_on_one() -> None:
    # the first track's grid counts beats from frame 0, and the set's first hit is at frame 150 (after
    # a second and a half of silence): that hit, the grid's fourth beat (index 3), is a downbeat
    grid = BeatGrid(PERIOD, 0.0, 0, 2400)
    env, rms = _edge_audio(150, 2350)
    assert edge_downbeats(grid, env, rms, 0.05, True, 150) == 3
    # the last hit is the grid's beat 47 (frame 2350): the bar line after it, where the audio stops,
    # is beat 48, so downbeats are the beats 0, 4, 8, ...
    assert edge_downbeats(grid, env, rms, 0.05, False, 2400) == 0
    env, rms = _edge_audio(150, 2300)  # stops a beat earlier: after beat 46, bar lines on 3, 7, ...
    assert edge_downbeats(grid, env, rms, 0.05, False, 2350) == 3


def test_a_set_that_fades_or_starts_off_the_grid_fixes_no_bar_line() -> None:
    grid = BeatGrid(PERIOD, 0.0, 0, 2400)
    env, rms = _edge_audio(0, 2350)
    faded = rms.copy()
    faded[:20] = np.linspace(0.0, 0.1, 20)  # a fade-in over the first four seconds
    assert edge_downbeats(grid, env, faded, 0.05, True, 0) is None
    faded = rms.copy()
    faded[-20:] = np.linspace(0.1, 0.0, 20)  # a fade-out
    assert edge_downbeats(grid, env, faded, 0.05, False, 2400) is None
    # the first sound is an off-beat hat half a beat before the first beat of the grid
    env[25] = 0.5
    assert edge_downbeats(grid, env, rms, 0.05, True, 25) is None
    # the audio rings on for two beats after the last hit: no bar line is where it stops
    assert edge_downbeats(grid, env, rms, 0.05, False, 2350 + 150) is None


def test_the_last_grid_counts_as_on_the_beat_only_in_line_with_the_first() -> None:
    # where a set stops is known to a level frame (0.2 s): the last track's bar line is read from it
    # only when every blend lines the grids up, so a last grid half a beat off is never anchored
    grids, blends = _set([0.0, 3.0, 0.0])
    assert on_one_beat(grids, blends)
    grids, blends = _set([0.0, 0.0, 25.0])
    assert not on_one_beat(grids, blends)
    grids, blends = _set([0.0, 0.0, 0.0])
    assert not on_one_beat(grids, [blends[0], None])


@pytest.mark.parametrize(("bpm", "set_number"), [(174.0, 23), (126.0, 4), (126.0, 19)])
def test_clean_sequenced_sets_read_every_blend_in_line(bpm: float, set_number: int) -> None:
    # sonic-pi sets of bench/judge_eval.py, every blend lined up on the beat: main read one track of the
    # 174 BPM set a quarter beat off (its grid followed the bass riff) and a blend of each 126 BPM set
    # half a beat off (two or three grids moved by their middle band's votes)
    from djmesh.dsp import analyze_pcm

    built = bench_set("sonic-pi", bpm, set_number)
    genre = "house" if bpm <= 150 else "dnb"
    rules = Rules.for_genre(genre)
    result = analyze_pcm(built.samples, built.sample_rate, bpm_range=read_bpm_range(rules))
    beat_ms = 60000.0 / bpm
    transitions = result["transitions"]
    assert isinstance(transitions, list)
    offsets = [float(t["beat_offset_ms"]) for t in transitions]
    assert len(offsets) == 5
    assert all(abs(o) < 0.1 * beat_ms for o in offsets), offsets


@pytest.mark.parametrize(("source", "set_number"), [("hydrogen", 13), ("sonic-pi", 16)])
def test_alike_grooves_put_a_blend_a_beat_off_the_bar_at_that_blend(source: str, set_number: int) -> None:
    # bench/judge_eval.py sets at 126 BPM, where neighbours play alike grooves: main read the clean hydrogen set
    # 0.15 bars off at its end blends, and both copies with the third blend a beat late read the mistake weakly
    # or at another blend (a track's own downbeat cues, near tied, outweighed where the grooves meet)
    from djmesh.dsp import analyze_pcm
    from djmesh.judge.synth import Defects

    bpm_range = read_bpm_range(Rules.for_genre("house"))
    offsets = []
    for defects in (Defects(), Defects(bar_shift_beats=1, only_transition=3)):
        built = bench_set(source, 126.0, set_number, defects=defects)
        transitions = analyze_pcm(built.samples, built.sample_rate, bpm_range=bpm_range)["transitions"]
        assert isinstance(transitions, list) and len(transitions) == 5
        offsets.append([float(t["bar_off"]) for t in transitions])
    clean, late = offsets
    assert max(clean) < 0.1, clean
    assert late[2] > 0.2 and max(late[:2] + late[3:]) < 0.1, late
