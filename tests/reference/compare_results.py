#!/usr/bin/python3
"""Compare an engine's results.csv with the reference's.

Usage:
    compare_results.py ENGINE_CSV REFERENCE_CSV [--max-abs-diff 0.005] [--min-alpha-agreement 0.95]

Rows are matched by (job_id, subject, parcel, eval_set). Fails (exit 1) if the row sets differ,
if max |eval_r diff| or max |cv_r diff| exceeds --max-abs-diff, or if the fraction of
(job_id, subject, parcel) whose alpha is identical (relative difference < 1e-9) is below
--min-alpha-agreement. Prints the measured figures either way.
"""
import argparse
import csv
import math
import sys

HEADER = ["job_id", "model", "layers", "hrf_delay", "stimulus_window", "subject",
          "parcel", "alpha", "cv_r", "eval_set", "eval_r"]
KEY = ("job_id", "subject", "parcel", "eval_set")
DESCRIPTIVE = ("model", "layers", "hrf_delay", "stimulus_window")


def read(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != HEADER:
            sys.exit(f"FAIL: {path}: header {reader.fieldnames} != {HEADER}")
        rows = {}
        for row in reader:
            key = tuple(row[k] for k in KEY)
            if key in rows:
                sys.exit(f"FAIL: {path}: duplicate row {key}")
            rows[key] = row
    return rows


def absdiff(a, b):
    a, b = float(a), float(b)
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) if not (math.isnan(a) or math.isnan(b)) else math.inf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("engine_csv")
    ap.add_argument("reference_csv")
    ap.add_argument("--max-abs-diff", type=float, default=0.005)
    ap.add_argument("--min-alpha-agreement", type=float, default=0.95)
    args = ap.parse_args()

    eng, ref = read(args.engine_csv), read(args.reference_csv)
    failures = []
    missing, extra = sorted(set(ref) - set(eng)), sorted(set(eng) - set(ref))
    if missing or extra:
        print(f"FAIL: row sets differ: {len(missing)} reference rows missing from engine "
              f"(e.g. {missing[:3]}), {len(extra)} engine rows not in reference (e.g. {extra[:3]})")
        sys.exit(1)

    max_eval = max_cv = 0.0
    worst_eval = worst_cv = None
    alpha_same = {}  # (job_id, subject, parcel) -> alpha identical
    for key, r in ref.items():
        e = eng[key]
        for col in DESCRIPTIVE:
            if e[col] != r[col]:
                failures.append(f"{key}: {col} {e[col]!r} != reference {r[col]!r}")
        d = absdiff(e["eval_r"], r["eval_r"])
        if d > max_eval:
            max_eval, worst_eval = d, key
        d = absdiff(e["cv_r"], r["cv_r"])
        if d > max_cv:
            max_cv, worst_cv = d, key
        a, b = float(e["alpha"]), float(r["alpha"])
        alpha_same[key[:3]] = alpha_same.get(key[:3], True) and abs(a - b) < 1e-9 * max(abs(a), abs(b))
    agreement = sum(alpha_same.values()) / len(alpha_same) if alpha_same else 1.0

    print(f"rows: {len(ref)}   (job, subject, parcel): {len(alpha_same)}")
    print(f"max |eval_r diff|: {max_eval:.3g}" + (f"  at {worst_eval}" if worst_eval else ""))
    print(f"max |cv_r diff|:   {max_cv:.3g}" + (f"  at {worst_cv}" if worst_cv else ""))
    print(f"alpha agreement:   {agreement:.4f} ({sum(alpha_same.values())}/{len(alpha_same)})")

    if max_eval > args.max_abs_diff:
        failures.append(f"max |eval_r diff| {max_eval:.3g} > {args.max_abs_diff}")
    if max_cv > args.max_abs_diff:
        failures.append(f"max |cv_r diff| {max_cv:.3g} > {args.max_abs_diff}")
    if agreement < args.min_alpha_agreement:
        failures.append(f"alpha agreement {agreement:.4f} < {args.min_alpha_agreement}")
    if failures:
        for f in failures[:20]:
            print("FAIL:", f)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
