"""Speed, cold start and memory of djmesh.dsp side by side with librosa and aubio, in one run.

    .venv/bin/python bench/dsp_speed.py [--keep] [--runs N] [--baseline DIR]

Builds a ~31-minute continuous mix (WAV, 44.1 kHz stereo, 31 tracks layered from
lmms loops with 16 s crossfades) and a 2-hour one (the same, four times), then runs
each system in its own subprocess pinned to one core (sched_setaffinity):

* djmesh: ``analyze_path`` - decode, tempo, beat grid, key, EBU R128 loudness, true
  peak, clipping, segmentation (everything in the JSON); warm like librosa (one analysis of
  the 10 s clip first: the compiled loops load and scipy plans its FFTs), and again as the
  first analysis in its process ("djmesh, first analysis in its process").
* librosa (warm: numba JIT done on a 10 s clip first, as a long-running service
  would be): ``load(sr=22050)``, ``beat.beat_track``, ``feature.chroma_stft`` + key
  profile, and integrated loudness the usual Python way (BS.1770 K-weighting with
  ``scipy.signal.lfilter`` at the native rate, gated; what pyloudnorm does).
* librosa beat + chroma: the same without the loudness part (the reference issue 16 names).
* aubio: tempo only (``aubio.source`` + ``aubio.tempo``, hop 512), its fast path.
* ``--baseline DIR``: djmesh again from another checkout's ``DIR/djmesh`` (e.g. ``git archive`` of an
  older commit's ``dsp`` under ``DIR/djmesh/dsp``), for a before/after in the same run.

With ``--runs N`` (default 3) the speed rows run each system N times, alternating, and report
the fastest CPU time of each: on a shared machine the minimum is the figure least bent by others.

Cold start = first call in a fresh process, imports and JIT included, on a 4 s loop.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dsp_material import LMMS, LOOP_BEATS, build_mix, require_lmms

ONE_CORE = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
FOOTER = (
    "import resource, json\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "print(json.dumps({'wall': WALL, 'cpu': CPU, 'rss_mb': "
    "int(hwm) / 1024, 'extra': EXTRA}))\n"
)

DJMESH = """
import sys, time
if BASELINE:
    sys.path.insert(0, BASELINE)
t0 = time.perf_counter(); c0 = time.process_time()
from djmesh.dsp import analyze_path
if not COLD:  # a service analyses many files per process: imports are not part of one analysis
    t0 = time.perf_counter(); c0 = time.process_time()
if WARM:  # as librosa below: the first call loads the compiled loops and scipy's FFT plans
    analyze_path(CLIP)
    t0 = time.perf_counter(); c0 = time.process_time()
r = analyze_path(PATH)
WALL = time.perf_counter() - t0; CPU = time.process_time() - c0
EXTRA = {'bpm': r.get('bpm'), 'tracks': len(r.get('tracks', [])), 'lufs': r.get('loudness_lufs'),
         'error': r.get('error')}
"""

LIBROSA = """
import time, math
import numpy as np, librosa, scipy.signal as ss

def lufs(path):
    y, sr = librosa.load(path, sr=None, mono=False)
    y = np.atleast_2d(y).astype(np.float64)
    # BS.1770 K-weighting (pre-filter + RLB), as pyloudnorm does, per channel
    f0, g, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr); vh = 10 ** (g / 20); vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    b1 = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    a1 = [1, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr); a0 = 1 + k / q + k * k
    b2, a2 = [1, -2, 1], [1, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    z = ss.lfilter(b2, a2, ss.lfilter(b1, a1, y, axis=1), axis=1)
    step = int(0.1 * sr); n = z.shape[1] // step
    sub = (z[:, : n * step] ** 2).reshape(z.shape[0], n, step).mean(axis=2).sum(axis=0)
    blocks = np.convolve(sub, np.ones(4) / 4, mode='valid')
    l = -0.691 + 10 * np.log10(np.maximum(blocks, 1e-20))
    g1 = blocks[l > -70]; rel = -0.691 + 10 * np.log10(g1.mean()) - 10
    return -0.691 + 10 * np.log10(blocks[(l > -70) & (l > rel)].mean())

def run(path):
    y, sr = librosa.load(path, sr=22050, mono=True)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr).sum(axis=1)
    return float(np.atleast_1d(tempo)[0]), int(np.argmax(chroma)), lufs(path) if LOUDNESS else None

t0 = time.perf_counter(); c0 = time.process_time()
if WARM:
    run(CLIP)
    t0 = time.perf_counter(); c0 = time.process_time()
res = run(PATH)
WALL = time.perf_counter() - t0; CPU = time.process_time() - c0
EXTRA = {'bpm': res[0], 'lufs': res[2]}
"""

AUBIO = """
import time
t0 = time.perf_counter(); c0 = time.process_time()
import aubio
if not COLD:
    t0 = time.perf_counter(); c0 = time.process_time()
src = aubio.source(PATH, 0, 512)
tempo = aubio.tempo('default', 1024, 512, src.samplerate)
n = 0
while True:
    samples, read = src()
    tempo(samples)
    n += read
    if read < 512:
        break
WALL = time.perf_counter() - t0; CPU = time.process_time() - c0
EXTRA = {'bpm': float(tempo.get_bpm())}
"""


def run_child(code: str, **values: object) -> dict[str, object]:
    body = ONE_CORE + "".join(f"{k} = {v!r}\n" for k, v in values.items()) + code + FOOTER
    out = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def write_wav(path: Path, mono: np.ndarray, repeats: int = 1) -> float:
    pcm = np.clip(mono, -1, 1)
    stereo = np.stack([pcm, 0.9 * pcm], axis=1)
    data = (stereo * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        for _ in range(repeats):
            w.writeframes(data)
    return repeats * mono.size / 44100


def live_row() -> str:
    """LiveAnalyzer cost per 20 ms stereo chunk over 60 s of drums (tempo/phase re-fit every 0.5 s)."""
    from djmesh.dsp import BeatEvent, LiveAnalyzer
    from tests.helpers.audio import drum_pattern

    x, ref = drum_pattern(128.0, 60.0, style="offbeat", start=0.3)
    stereo = np.stack([x, x], axis=1)
    live = LiveAnalyzer(44100, 2)
    costs, beats = [], []
    for i in range(0, x.size, 882):
        t = time.perf_counter()
        ups = live.feed(stereo[i : i + 882])
        costs.append(time.perf_counter() - t)
        beats += [u.time for u in ups if isinstance(u, BeatEvent)]
    ms = np.asarray(costs) * 1000.0
    b = np.asarray(beats)
    late = [float(np.min(np.abs(b - r))) for r in ref if r > 8.0]
    return (
        f"| LiveAnalyzer, 20 ms stereo chunks: cost per chunk | median {np.median(ms):.2f} ms, "
        f"p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.1f} ms; beat error after lock "
        f"{1000 * np.median(late):.1f} ms median | - | - |"
    )


def main() -> None:
    require_lmms()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the generated mixes")
    parser.add_argument("--runs", type=int, default=3, help="runs per system for the speed rows")
    parser.add_argument("--baseline", default="", help="directory holding another djmesh to time too")
    args = parser.parse_args()
    keep, runs, baseline = args.keep, max(1, args.runs), args.baseline
    tmp = Path(tempfile.mkdtemp(prefix="djmesh-bench-"))
    beats = [n for n in LOOP_BEATS if n.startswith("beats/")]
    basses = [n for n in LOOP_BEATS if n.startswith("bassloops/")]
    layers = [[beats[i % len(beats)], basses[(i * 5) % len(basses)]] for i in range(31)]
    t0 = time.time()
    mix, _, _ = build_mix(layers, seed=11)
    mix30, mix120 = tmp / "mix30.wav", tmp / "mix120.wav"
    dur30 = write_wav(mix30, mix)
    dur120 = write_wav(mix120, mix, repeats=4)
    del mix
    clip = tmp / "clip.wav"
    x, _, _ = build_mix([layers[0]], seed=1, track_s=10.0)
    write_wav(clip, x)
    print(
        f"built {dur30 / 60:.1f} min and {dur120 / 60:.1f} min mixes in {time.time() - t0:.0f} s",
        file=sys.stderr,
    )

    rows = ["| measure | djmesh | librosa | aubio |", "|---|---|---|---|"]
    systems: dict[str, tuple[str, dict[str, object]]] = {
        "djmesh": (
            DJMESH,
            {"PATH": str(mix30), "CLIP": str(clip), "WARM": True, "COLD": False, "BASELINE": ""},
        ),
        "djmesh, first analysis in its process": (
            DJMESH,
            {"PATH": str(mix30), "CLIP": str(clip), "WARM": False, "COLD": False, "BASELINE": ""},
        ),
        "librosa beat+chroma": (
            LIBROSA,
            {"PATH": str(mix30), "CLIP": str(clip), "WARM": True, "LOUDNESS": False},
        ),
        "librosa beat+chroma+loudness": (
            LIBROSA,
            {"PATH": str(mix30), "CLIP": str(clip), "WARM": True, "LOUDNESS": True},
        ),
        "aubio tempo": (AUBIO, {"PATH": str(mix30), "COLD": False}),
    }
    if baseline:
        systems["djmesh baseline"] = (
            DJMESH,
            {"PATH": str(mix30), "CLIP": str(clip), "WARM": True, "COLD": False, "BASELINE": baseline},
        )
    best: dict[str, dict[str, object]] = {}
    for _ in range(runs):
        for name, (code, values) in systems.items():
            r = run_child(code, **values)
            if "cpu" in r and ("cpu" not in best.get(name, {}) or float(r["cpu"]) < float(best[name]["cpu"])):
                best[name] = r
            best.setdefault(name, r)
    dj = best["djmesh"]
    lw = best["librosa beat+chroma+loudness"]
    au = best["aubio tempo"]

    def xrt(r: dict[str, object]) -> str:
        if "cpu" not in r:
            return str(r)
        return f"{dur30 / float(r['cpu']):.0f}x ({float(r['cpu']):.2f} s CPU, {float(r['wall']):.2f} s wall)"

    speed = [
        f"| system, {dur30 / 60:.1f} min mix, one core, fastest of {runs} | x realtime (CPU) | djmesh faster by |"
    ]
    speed.append("|---|---|---|")
    for name, r in best.items():
        ratio = f"{float(r['cpu']) / float(dj['cpu']):.2f}x" if "cpu" in r and "cpu" in dj else "-"
        speed.append(f"| {name} | {xrt(r)} | {ratio if name != 'djmesh' else '-'} |")
    print("\n".join(speed) + "\n")
    rows.append(
        f"| Speed, {dur30 / 60:.1f} min mix, one core, x realtime (CPU) | {xrt(dj)} | {xrt(lw)} warm, "
        f"with loudness | {xrt(au)} tempo only |"
    )
    rows.append(
        f"| Peak RSS on the {dur30 / 60:.0f} min mix | {dj.get('rss_mb', 0):.0f} MB | "
        f"{lw.get('rss_mb', 0):.0f} MB | {au.get('rss_mb', 0):.0f} MB |"
    )
    loop = str(LMMS / "beats/909beat01.ogg")
    cold_dj = run_child(DJMESH, PATH=loop, CLIP=loop, WARM=False, COLD=True, BASELINE="")
    cold_lr = run_child(LIBROSA, PATH=str(clip), CLIP=str(clip), WARM=False, LOUDNESS=True)
    cold_au = run_child(AUBIO, PATH=str(clip), COLD=True)
    rows.append(
        f"| Cold start (fresh process, first call, imports + JIT) | {float(cold_dj['wall']):.2f} s | "
        f"{float(cold_lr['wall']):.2f} s | {float(cold_au['wall']):.2f} s |"
    )
    big = run_child(DJMESH, PATH=str(mix120), CLIP=str(clip), WARM=True, COLD=False, BASELINE="")
    rows.append(
        f"| Peak RSS, {dur120 / 60:.0f} min mix (analyze_path) | {big.get('rss_mb', 0):.0f} MB "
        f"({float(big.get('wall', 0)):.1f} s) | - | - |"
    )
    rows.append(live_row())
    print("\n".join(rows))
    print(f"\nresults: { {name: r.get('extra') for name, r in best.items()} }", file=sys.stderr)
    if not keep:
        for p in (mix30, mix120, clip):
            p.unlink(missing_ok=True)
        tmp.rmdir()
    else:
        print(f"kept {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
