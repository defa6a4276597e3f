"""Judging speed (x realtime per set) and the CPU cost of the committee's consensus.

    /work/venv/bin/python bench/judge.py

Builds six-track sets from lmms-common loops (clean and train-wreck, 44.1 kHz stereo
WAV, ~5 min each), then, pinned to one core, times ``judge_sets`` on the files (decode,
dsp analysis, level curve, features, ONNX model) per set, and the model alone. Then a
10-member committee (f = 3): sealing, committing and revealing verdicts, the tally, the
result bundle and its offline verification. In between, a member's verdict after the sets: the
whole pass over two sets' PCM next to the one whose feature passes ran while the sets arrived.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _write(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    stereo = np.stack([pcm, pcm], axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())


def bench_judge(tmp: Path) -> None:
    from djmesh.judge.features import JudgeRules, set_features
    from djmesh.judge.model import shared_model
    from djmesh.judge.scoring import judge_sets
    from djmesh.judge.synth import build_set, clean, train_wreck

    paths, seconds = [], 0.0
    for i, spec in enumerate((clean(0), train_wreck(0), clean(3), train_wreck(3))):
        built = build_set(spec, rate=44100)
        path = tmp / f"set{i}.wav"
        _write(path, built.samples, built.sample_rate)
        paths.append(path)
        seconds += built.samples.size / built.sample_rate
    judge_sets(str(paths[0]), str(paths[1]))  # warm: imports, onnxruntime session
    t0, c0 = time.perf_counter(), time.process_time()
    winners = [
        judge_sets(str(paths[0]), str(paths[1])).winner,
        judge_sets(str(paths[3]), str(paths[2])).winner,
    ]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_set = wall / 4
    print(f"sets: 4 of {seconds / 4:.0f} s avg (44.1 kHz stereo WAV); winners {winners} (expect ['a', 'b'])")
    print(
        f"judge_sets per set: {per_set * 1000:.0f} ms wall, {cpu / 4 * 1000:.0f} ms CPU -> {seconds / wall:.0f}x realtime (wall), {seconds / cpu:.0f}x (CPU)"
    )
    from djmesh.judge.analysis import analyse

    analysis = analyse(str(paths[0]))
    feats = set_features(analysis, JudgeRules())
    model = shared_model()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        model.run([feats.values])
    print(f"features -> scores (onnxruntime) per set: {(time.perf_counter() - t0) / n * 1e6:.0f} us")


def bench_after_the_sets() -> None:
    """A member's verdict after the sets: the judge's whole pass over two sets' PCM (what a node that got
    the sets only at the end does), next to the same verdict from the feature passes run while the sets
    arrived (``PcmFeed``: only the last block, the analysis and the model are left after the sets)."""
    from djmesh.dsp.features import PcmFeed
    from djmesh.judge.scoring import judge_sets
    from djmesh.judge.synth import build_set, clean, train_wreck

    rate = 48_000
    sets = [build_set(spec, rate=rate).samples.astype(np.float32) for spec in (clean(0), train_wreck(0))]
    seconds = sum(s.size for s in sets) / rate / 2
    judge_sets((sets[0], rate), (sets[1], rate))  # warm
    t0, c0 = time.perf_counter(), time.process_time()
    whole = judge_sets((sets[0], rate), (sets[1], rate))
    whole_wall, whole_cpu = time.perf_counter() - t0, time.process_time() - c0
    feeds, fed_cpu = [], 0.0
    for audio in sets:
        feed = PcmFeed(rate)
        c0 = time.process_time()
        for start in range(
            0, audio.size - rate, rate
        ):  # one-second segments as they arrive, all but the last
            feed.feed(audio[start : start + rate])
        fed_cpu += time.process_time() - c0
        feeds.append((feed, audio))
    t0, c0 = time.perf_counter(), time.process_time()
    for feed, audio in feeds:
        feed.feed(audio[feed.fed :])  # the last second, after the sets
    fed = judge_sets(*(feed.finish(audio.size) for feed, audio in feeds))
    fed_wall, fed_cpu_after = time.perf_counter() - t0, time.process_time() - c0
    same = fed.centi_scores() == whole.centi_scores()
    print(
        f"after the sets, two {seconds:.0f} s sets (48 kHz mono): whole pass {whole_wall * 1000:.0f} ms wall "
        f"({whole_cpu * 1000:.0f} ms CPU); fed while arriving {fed_wall * 1000:.0f} ms wall "
        f"({fed_cpu_after * 1000:.0f} ms CPU), the feeds cost {fed_cpu / seconds / 2 * 1000:.1f} ms CPU per "
        f"second of set while they played; same verdict: {same}"
    )


def bench_consensus() -> None:
    from djmesh.protocol.battle import VERDICT_KEYS
    from djmesh.protocol.consensus import build_result, verify_result
    from djmesh.protocol.envelope import sign
    from tests.protocol.battle_helpers import Battle

    b = Battle(committee_size=10, viewers=12)
    t0 = time.perf_counter()
    envelopes = b.base()
    for i, m in enumerate(b.members):
        s = {side: dict.fromkeys(VERDICT_KEYS, 600 + 10 * i if side == "a" else 400) for side in ("a", "b")}
        sealed = b.seal(m, s)
        envelopes += [b.commit(m, sealed), b.reveal(m, sealed)]
    t1 = time.perf_counter()
    bundle = sign(build_result(envelopes), b.members[0], created_at_ms=b.spec.reveal_by + 1)
    t2 = time.perf_counter()
    result = verify_result(bundle.wire)
    t3 = time.perf_counter()
    assert result.winner == "a"
    digest = hashlib.sha256(bundle.wire).hexdigest()[:12]
    print(
        f"committee of 10: seal+commit+reveal all {1000 * (t1 - t0):.1f} ms; tally+bundle {1000 * (t2 - t1):.1f} ms; "
        f"verify {1000 * (t3 - t2):.1f} ms; bundle {len(bundle.wire)} bytes ({digest})"
    )


def main() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="djmesh-judge-bench-") as tmp:
        bench_judge(Path(tmp))
    bench_after_the_sets()
    bench_consensus()


if __name__ == "__main__":
    main()
