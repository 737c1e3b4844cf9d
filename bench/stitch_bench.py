#!/usr/bin/python3
"""Stitch and submit at Algonauts 2025 scale (issue #14 §3): the full layout of
tests/e2e/test_submission.py (4 subjects, 1000 Schaefer parcels, the real sample counts of all 49
Friends s7 and 12 OOD test episodes) with J jobs per subject, fitted by `brainsweep run`, then
`stitch` (topk 5, and softmax T = 0.3 over every job) and `submit` (friends-s7, ood) timed with their
peak resident memory (getrusage of each command alone). Prints the job files' size per job and the
figures extrapolated to 500 jobs per subject: stitch reads every job file once per subject and holds
one subject's stitched predictions, so its time grows with the jobs and its memory does not.

Usage: bench/stitch_bench.py [--build build] [--hrf 2,3,4] [--windows 1,2] [--jobs N] [--ranks 2]
       [--prediction-dtype float32|float16] [--keep DIR]
(3 feature sets × hrf × windows jobs per subject; the defaults give 18, about 8 GB of job files;
--jobs 500 needs 230 GB of disk in float32, 115 GB in float16.)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
import test_submission as ts  # noqa: E402  (the full-layout synthetic dataset)

MEASURE = r"""
import resource, subprocess, sys, time
t0 = time.perf_counter()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
dt = time.perf_counter() - t0
if r.returncode:
    sys.stderr.write(r.stdout + r.stderr)
    sys.exit(r.returncode)
print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measured(*cmd):
    """(seconds, peak RSS in MB) of one command run alone."""
    out = subprocess.run(["/usr/bin/python3", "-c", MEASURE, *map(str, cmd)], capture_output=True, text=True,
                         env={**os.environ, **ts.MPI_ENV})
    if out.returncode:
        sys.exit(f"{cmd[1]} failed:\n{out.stderr}")
    s, kb = out.stdout.split()
    return float(s), int(kb) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--hrf", default="2,3,4")
    ap.add_argument("--windows", default="1,2")
    ap.add_argument("--jobs", type=int, help="about this many jobs per subject instead of --hrf/--windows: hrf 0…7 "
                    "and windows 1…W (--jobs 500: 504 jobs, 230 GB of float32 job files)")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--prediction-dtype", default="float32", help="ridge.prediction_dtype of the sweep (float32, float16)")
    ap.add_argument("--keep", help="write the run here and keep it (default: a temporary directory)")
    a = ap.parse_args()
    if a.jobs:
        a.hrf = ",".join(str(h) for h in range(8))
        a.windows = ",".join(str(w) for w in range(1, max(1, -(-a.jobs // 24)) + 1))
    binary = Path(a.build).resolve() / "brainsweep"
    counts = json.loads(ts.COUNTS_JSON.read_text())
    root = Path(a.keep).resolve() if a.keep else Path(tempfile.mkdtemp(prefix="brainsweep-stitch-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        ts.make_dataset(root / "data", counts)
        sweep = root / "sweep.yaml"
        sweep.write_text(f"""dataset: {ts.REPO}/configs/datasets/algonauts2025.yaml
dataset_root: {root}/data
atlas: {ts.ATLAS}
subjects: [{", ".join(ts.SUBJECTS)}]
features:
  - {{model: vjepa2, layers: [blocks.4]}}
  - {{model: vjepa2, layers: [blocks.12]}}
  - {{model: vjepa2, layers: [blocks.4, blocks.12]}}
grid: {{hrf_delay: [{a.hrf}], stimulus_window: [{a.windows}]}}
ridge: {{folds: 3, alphas: [1, 100, 10000], prediction_dtype: {a.prediction_dtype}}}
train: [{", ".join(ts.TRAIN)}]
eval: {{val: [{", ".join(ts.VAL)}]}}
test: {{friends-s7: auto, ood: auto}}
""")
        run = root / "run"
        subprocess.run([binary, "generate", sweep, "--out", run], check=True, capture_output=True)
        t1 = time.perf_counter()
        fit_s, _ = measured("mpirun", "-n", a.ranks, binary, "run", run)
        plan = json.loads((run / "plan.json").read_text())
        per_subject = len(plan["jobs"]) // len(ts.SUBJECTS)
        job_bytes = sum(f.stat().st_size for f in (run / "jobs").glob("*.h5"))
        n_files = len(list((run / "jobs").glob("*.h5")))
        samples = {t: sum(counts[t]["sub-01"].values()) for t in ("friends-s7", "ood")}
        print(f"stitch/submit at challenge scale ({a.prediction_dtype} predictions): 4 subjects × 1000 parcels, friends-s7 {samples['friends-s7']} and ood "
              f"{samples['ood']} samples (sub-01), {per_subject} jobs per subject ({n_files} job files, "
              f"{job_bytes / n_files / 1e6:.1f} MB each, {job_bytes / 1e9:.2f} GB); dataset + generate "
              f"{t1 - t0:.1f} s, run on {a.ranks} ranks {fit_s:.1f} s")
        rows = []
        k = min(5, per_subject)
        for name, args in ((f"stitch topk {k}", ["--top-k", str(k)]),
                           ("stitch softmax T=0.3", ["--weights", "softmax", "--temperature", "0.3"])):
            s, mb = measured(binary, "stitch", run, "--select", "cv", "--eval", "val", *args)
            rows.append((name, s, mb))
            out = root / "submissions"
            shutil.rmtree(out, ignore_errors=True)
            for test_set in ("friends-s7", "ood"):
                s2, mb2 = measured(binary, "submit", run, "--test-set", test_set, "--out", out)
                rows.append((f"  then submit {test_set}", s2, mb2))
        print(f"{'command':<28} {'seconds':>8} {'peak RSS MB':>12} {'500 jobs: s':>12}")
        for name, s, mb in rows:
            scaled = s * 500 / per_subject if name.startswith("stitch") else s
            print(f"{name:<28} {s:>8.2f} {mb:>12.0f} {scaled:>12.0f}")
        print(f"500 jobs per subject would need {500 * len(ts.SUBJECTS) * job_bytes / n_files / 1e9:.0f} GB of job "
              f"files ({a.prediction_dtype} predictions); stitch's memory does not grow with the jobs")
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
