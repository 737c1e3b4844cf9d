#!/usr/bin/python3
"""Plot the results of a stitched brainsweep run (issue #5).

Usage: tools/plot_results.py RUN_DIR [--out DIR]

Reads RUN_DIR/results.csv, RUN_DIR/stitched/scores.csv and RUN_DIR/stitched/networks.csv and writes
two PNG files (default: RUN_DIR/plots/):
- scores_per_parcel.png: on the stitched eval set, the mean r over subjects of every parcel for
  each feature set and grid point (dots, explained in the legend) and for the stitched ensemble
  (a black bar per parcel when there are at most 60, named on the axis; else a line over the
  parcels ranked by it);
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
    n = len(parcels)
    categorical = n <= 60  # few parcels (ROIs): named ticks, no line between them
    # 10 distinguishable colours, then markers, so that every feature set can be told apart
    colours = plt.get_cmap("tab10").colors
    markers = "o^sDvP*Xh<>"
    fig, ax = plt.subplots(figsize=(max(10, 0.5 * n) if categorical else 11, 5.5))
    x = np.arange(n)
    labels = sorted(by_set)
    for k, label in enumerate(labels):
        y = mean_over_subjects(by_set[label], "eval_r")[order]
        jitter = (k - (len(labels) - 1) / 2) * (0.6 / max(len(labels), 1)) if categorical else 0.0
        ax.plot(x + jitter, y, ls="none", marker=markers[(k // 10) % len(markers)], color=colours[k % 10],
                ms=5 if categorical else 2.5, alpha=0.85, label=label)
    if categorical:  # the ensemble per parcel: a black bar across the parcel's dots
        ax.hlines(st[order], x - 0.38, x + 0.38, color="black", lw=2.2, label="stitched ensemble")
        ax.set_xticks(x)
        ax.set_xticklabels([parcels[i] for i in order], rotation=30 if n > 8 else 0, ha="right" if n > 8 else "center")
        ax.set_xlabel("parcel (ROI), sorted by the stitched ensemble's r")
    else:
        ax.plot(x, st[order], color="black", lw=1.6, label="stitched ensemble")
        ax.set_xlabel(f"the {n} parcels ranked by the stitched ensemble's r")
    ax.set_ylabel(f"Pearson r on '{eval_set}' (mean over subjects)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              title="dots: one feature set × grid point\n(w = stimulus_window, d = hrf_delay)", title_fontsize=7)
    ax.set_title(f"{run.name}: encoding score per parcel on '{eval_set}'; stitched ensemble mean r {st.mean():.4f}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "scores_per_parcel.png", dpi=120)
    plt.close(fig)

    nets = read_csv(run / "stitched" / "networks.csv")
    networks = list(dict.fromkeys(r["network"] for r in nets))
    sets = sorted({r["feature_set"] for r in nets})
    share = {(r["network"], r["feature_set"]): float(r["share"]) for r in nets}
    depth = {(r["network"], r["feature_set"]): float(r["mean_layer_index"]) for r in nets}
    fig, ax = plt.subplots(figsize=(max(7, 1.0 * len(networks) + 4), 5))
    bottom = np.zeros(len(networks))
    for k, s_ in enumerate(sets):
        h = np.array([share.get((n_, s_), 0.0) for n_ in networks])
        bars = ax.bar(networks, h, bottom=bottom, label=s_, color=colours[k % 10],
                      hatch=["", "//", "..", "xx"][(k // 10) % 4], width=0.7)
        for b, n_, hh, y0 in zip(bars, networks, h, bottom):
            d = depth.get((n_, s_), -1)
            if hh > 0.08 and d >= 0:
                ax.text(b.get_x() + b.get_width() / 2, y0 + hh / 2, f"L{d:.0f}", ha="center", va="center", fontsize=7)
        bottom += h
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of subject × parcel pairs won (top-1)")
    ax.set_xlabel("network (Schaefer 7Networks parcel names; 'all' when the atlas names none)")
    if len(networks) > 6:
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set_title("winning feature set per network", fontsize=10)
    any_layer = any(v >= 0 for v in depth.values())
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, title="feature set" +
              ("\n(Lk on a bar: mean layer\nindex of its winners)" if any_layer else ""), title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "winners_per_network.png", dpi=120)
    plt.close(fig)
    print(f"wrote {out / 'scores_per_parcel.png'} and {out / 'winners_per_network.png'}")


if __name__ == "__main__":
    main()
