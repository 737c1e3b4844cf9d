#!/usr/bin/python3
"""Plot the results of a stitched brainsweep run (issue #5).

Usage: tools/plot_results.py RUN_DIR [--out DIR]

Reads RUN_DIR/results.csv, RUN_DIR/stitched/scores.csv and RUN_DIR/stitched/networks.csv and writes
two PNG files (default: RUN_DIR/plots/):
- scores_per_parcel.png: on the stitched eval set, the mean r over subjects of every parcel for
  each feature set and grid point (dots) and for the stitched ensemble (line); parcels sorted by
  the stitched score;
- winners_per_network.png: per Schaefer network, the share of subject × parcel pairs that each
  feature set wins (top-1 of the selection score), with the mean layer index of the winners.

Needs matplotlib (Debian: apt-get install python3-matplotlib) and numpy.
"""
import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, help="output directory (default RUN_DIR/plots)")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_results.py needs matplotlib: apt-get install python3-matplotlib")
    run = args.run_dir
    out = args.out or run / "plots"
    if (run / "plan.json").is_file() and '"rsa"' in (run / "plan.json").read_text():
        sys.exit(f"{run}: an RSA run; plot its results with tools/plot_rsa.py {run}/results.csv (this script plots "
                 "encoding runs and their stitched ensemble)")
    for need in (run / "results.csv", run / "stitched" / "scores.csv", run / "stitched" / "networks.csv"):
        if not need.exists():
            sys.exit(f"{need}: missing (run `brainsweep run` and `brainsweep stitch` first)")
    out.mkdir(parents=True, exist_ok=True)

    stitched = read_csv(run / "stitched" / "scores.csv")
    eval_set = stitched[0]["eval_set"]
    parcels = list(dict.fromkeys(r["parcel"] for r in stitched))
    index = {p: i for i, p in enumerate(parcels)}

    def mean_over_subjects(rows, value):
        acc, n = np.zeros(len(parcels)), np.zeros(len(parcels))
        for r in rows:
            acc[index[r["parcel"]]] += float(r[value])
            n[index[r["parcel"]]] += 1
        return acc / np.maximum(n, 1)

    st = mean_over_subjects(stitched, "r")
    order = np.argsort(-st)
    by_set = defaultdict(list)
    for r in read_csv(run / "results.csv"):
        if r["eval_set"] == eval_set:
            by_set[f"{r['model']}/{r['layers']} w{r['stimulus_window']} d{r['hrf_delay']}"].append(r)
    fig, ax = plt.subplots(figsize=(10, 5))
    for label, rows in sorted(by_set.items()):
        ax.plot(mean_over_subjects(rows, "eval_r")[order], ls="none", marker=".", ms=2.5, alpha=0.7, label=label)
    ax.plot(st[order], color="black", lw=1.6, label="stitched ensemble")
    ax.set_xlabel("parcel (sorted by stitched r)")
    ax.set_ylabel(f"Pearson r on '{eval_set}' (mean over subjects)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{run.name}: score per parcel, stitched mean r {st.mean():.4f}")
    fig.tight_layout()
    fig.savefig(out / "scores_per_parcel.png", dpi=120)
    plt.close(fig)

    nets = read_csv(run / "stitched" / "networks.csv")
    networks = list(dict.fromkeys(r["network"] for r in nets))
    sets = sorted({r["feature_set"] for r in nets})
    share = {(r["network"], r["feature_set"]): float(r["share"]) for r in nets}
    depth = {(r["network"], r["feature_set"]): float(r["mean_layer_index"]) for r in nets}
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(networks)), 5))
    bottom = np.zeros(len(networks))
    for s in sets:
        h = np.array([share.get((n, s), 0.0) for n in networks])
        bars = ax.bar(networks, h, bottom=bottom, label=s)
        for b, n, hh, y0 in zip(bars, networks, h, bottom):
            d = depth.get((n, s), -1)
            if hh > 0.08 and d >= 0:
                ax.text(b.get_x() + b.get_width() / 2, y0 + hh / 2, f"L{d:.0f}", ha="center", va="center", fontsize=7)
        bottom += h
    ax.set_ylabel("share of subject × parcel wins (top-1)")
    ax.set_title("winning feature set per network (L = mean layer index of the winners)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "winners_per_network.png", dpi=120)
    plt.close(fig)
    print(f"wrote {out / 'scores_per_parcel.png'} and {out / 'winners_per_network.png'}")


if __name__ == "__main__":
    main()
