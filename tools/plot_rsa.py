#!/usr/bin/python3
"""Plot the results of `brainsweep rsa` (issue #13).

Usage: tools/plot_rsa.py RSA.csv [--rdms RDMS.h5] [--order-by FILE.h5:/dataset] [--out DIR]

Writes PNG files into DIR (default: beside RSA.csv, in <name>_plots/):
- bars_<roi>_<comparison>.png: per model, the similarity averaged over subjects (bars, sorted), its
  bootstrap SD (error bars), each subject's value (dots) and the noise ceiling band [lower, upper]
  (grey), as rsatoolbox and Net2Brain show them;
- rdms.png (with --rdms, the file written by `brainsweep rsa --save-rdms`): every model RDM and the
  mean subject RDM of each ROI as heatmaps (rank-transformed, as rsatoolbox shows them), conditions
  ordered by category when --order-by names a conditions × categories 0/1 matrix (e.g.
  rsa92.h5:/category_vectors: sorted by its columns, first column first) or kept in file order.

Needs matplotlib (Debian: python3-matplotlib, which tools/install_deps.sh installs), numpy, h5py.
Prints the files it wrote.
"""
import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def read_rows(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        sys.exit(f"{path}: not the CSV of `brainsweep rsa` ({e.__class__.__name__}: {e})")
    need = {"model", "roi", "subject", "comparison", "similarity", "bootstrap_sd", "ceiling_lower", "ceiling_upper"}
    if not rows or not need <= set(rows[0]):
        sys.exit(f"{path}: not the CSV of `brainsweep rsa` (expected the columns {', '.join(sorted(need))})")
    return rows


def num(x):
    return float(x) if x not in ("", None) else np.nan


def ranks(v):
    """1-based ranks, ties averaged (a binary model RDM stays two colours)."""
    uniq, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (start + (counts + 1) / 2)[inverse]


def category_order(cats):
    """Condition order for a conditions × categories 0/1 matrix: members of the first category first,
    then by the second, and so on (stable)."""
    cats = np.asarray(cats).astype(np.int64)  # uint8 would wrap under negation
    return np.lexsort([-cats[:, k] for k in reversed(range(cats.shape[1]))])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--rdms", help="the HDF5 file of `brainsweep rsa --save-rdms`")
    ap.add_argument("--order-by", help="FILE.h5:/dataset, a conditions × categories 0/1 matrix")
    ap.add_argument("--out")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_rsa.py needs matplotlib: apt-get install python3-matplotlib")
    rows = read_rows(args.csv)
    out = Path(args.out) if args.out else Path(args.csv).with_name(Path(args.csv).stem + "_plots")
    out.mkdir(parents=True, exist_ok=True)
    written = []

    groups = defaultdict(list)
    for r in rows:
        groups[(r["roi"], r["comparison"])].append(r)
    for (roi, comp), rs in groups.items():
        models = list(dict.fromkeys(r["model"] for r in rs))
        mean = {r["model"]: num(r["similarity"]) for r in rs if r["subject"] == "mean"}
        sd = {r["model"]: num(r["bootstrap_sd"]) for r in rs if r["subject"] == "mean"}
        subj = defaultdict(list)
        for r in rs:
            if r["subject"] != "mean":
                subj[r["model"]].append(num(r["similarity"]))
        models.sort(key=lambda m: -mean[m])
        lo, up = num(rs[0]["ceiling_lower"]), num(rs[0]["ceiling_upper"])
        fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(models) + 2), 4))
        x = np.arange(len(models))
        if np.isfinite(lo) and np.isfinite(up):
            ax.axhspan(lo, up, color="0.85", label=f"noise ceiling [{lo:.3f}, {up:.3f}]", zorder=0)
        ax.bar(x, [mean[m] for m in models], yerr=[0 if np.isnan(sd[m]) else sd[m] for m in models], color="tab:blue",
               capsize=3, zorder=2, label="mean over subjects ± bootstrap SD")
        for i, m in enumerate(models):
            ax.plot(np.full(len(subj[m]), i), subj[m], "k.", ms=4, zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels(models, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"RDM similarity ({comp})")
        ax.set_title(f"{roi}: {len(subj[models[0]])} subjects")
        ax.axhline(0, color="k", lw=0.5)
        ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        path = out / f"bars_{roi}_{comp}.png".replace("/", "_")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if args.rdms:
        import h5py
        mats = {}
        with h5py.File(args.rdms) as f:
            f["models"].visititems(lambda name, o: mats.__setitem__(name, o[()]) if isinstance(o, h5py.Dataset) else None)
            for roi in f["subjects"]:
                mats[f"{roi}: mean subject"] = np.mean([f["subjects"][roi][s][()] for s in f["subjects"][roi]], axis=0)
        order = None
        if args.order_by:
            file, _, ds = args.order_by.rpartition(":")
            with h5py.File(file) as f:
                order = category_order(f[ds][()])
        n = len(mats)
        cols = min(4, n)
        fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(3 * cols, 3 * ((n + cols - 1) // cols)),
                                 squeeze=False)
        for ax, (name, m) in zip(axes.flat, mats.items()):
            if order is not None:
                m = m[np.ix_(order, order)]
            iu = np.triu_indices(len(m), 1)
            rk = np.zeros_like(m, dtype=float)
            rk[iu] = ranks(m[iu]) / len(iu[0])
            rk = rk + rk.T
            ax.imshow(rk, cmap="viridis", interpolation="nearest")
            ax.set_title(name, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.tight_layout()
        path = out / "rdms.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    for p in written:
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
