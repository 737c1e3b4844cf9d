#!/usr/bin/python3
"""Plot the results of `brainsweep rsa` (issue #13).

Usage: tools/plot_rsa.py RSA.csv [--rdms RDMS.h5] [--order-by FILE.h5:/dataset] [--title TEXT] [--out DIR]

Writes PNG files into DIR (default: beside RSA.csv, in <name>_plots/):
- bars_<roi>_<comparison>.png: per model, the similarity averaged over subjects (bars, sorted), its
  bootstrap SD (error bars), each subject's value (dots), the permutation test's significance of the
  mean (* p < 0.05, ** p < 0.01, *** p < 0.001, uncorrected) and the noise ceiling band [lower,
  upper] (grey), as rsatoolbox and Net2Brain show them; titled with the ROI, subjects, conditions,
  comparison and --title (default: the CSV's name); undefined (NaN) models are marked, not drawn;
- rdms.png (with --rdms, the file written by `brainsweep rsa --save-rdms`): every model RDM and the
  mean subject RDM of each ROI as heatmaps of the ranks of their dissimilarities (as rsatoolbox
  shows them; a colour bar says so), conditions ordered by category when --order-by names a
  conditions × categories 0/1 matrix (e.g. rsa92.h5:/category_vectors: sorted by its columns, first
  column first; blocks labelled with the names in its attribute `names`, separated by lines) or kept
  in file order (labelled with the RDM file's condition names when there are at most 30).

Needs matplotlib (Debian: python3-matplotlib, which tools/install_deps.sh installs), numpy, h5py.
Prints the files it wrote.
"""
import argparse
import csv
import sys
import textwrap
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
    ap.add_argument("--title", help="what the plots are of (default: the CSV's file name)")
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
    title = args.title or Path(args.csv).stem
    for (roi, comp), rs in groups.items():
        models = list(dict.fromkeys(r["model"] for r in rs))
        mean = {r["model"]: num(r["similarity"]) for r in rs if r["subject"] == "mean"}
        sd = {r["model"]: num(r["bootstrap_sd"]) for r in rs if r["subject"] == "mean"}
        p = {r["model"]: num(r.get("p_permutation")) for r in rs if r["subject"] == "mean"}
        n_cond = next((r.get("n_conditions") for r in rs if r.get("n_conditions")), "")
        subj = defaultdict(list)
        for r in rs:
            if r["subject"] != "mean":
                subj[r["model"]].append(num(r["similarity"]))
        models.sort(key=lambda m: (np.isnan(mean[m]), -np.nan_to_num(mean[m])))  # undefined last
        lo, up = num(rs[0]["ceiling_lower"]), num(rs[0]["ceiling_upper"])
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(models) + 2.5) + 2.5, 5))
        x = np.arange(len(models))
        if np.isfinite(lo) and np.isfinite(up):
            ax.axhspan(lo, up, color="0.85", label=f"noise ceiling [{lo:.3f}, {up:.3f}] (leave one subject out)", zorder=0)
        heights = [0 if np.isnan(mean[m]) else mean[m] for m in models]
        errs = [0 if np.isnan(sd[m]) else sd[m] for m in models]
        ax.bar(x, heights, yerr=errs, color="tab:blue", capsize=3, zorder=2, label="mean over subjects ± bootstrap SD")
        for i, m in enumerate(models):
            ax.plot(np.full(len(subj[m]), i), subj[m], "k.", ms=4, zorder=3,
                    label="one subject" if i == 0 else None)
            if np.isnan(mean[m]):
                ax.text(i, 0, "undefined", rotation=90, ha="center", va="bottom", fontsize=7, color="tab:red")
            elif np.isfinite(p[m]) and p[m] < 0.05:
                stars = "***" if p[m] < 0.001 else "**" if p[m] < 0.01 else "*"
                top = heights[i] + errs[i] if heights[i] >= 0 else 0
                top = max([top] + [v for v in subj[m] if np.isfinite(v)])
                ax.text(i, top, stars, ha="center", va="bottom", fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(models, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"RDM similarity ({comp})")
        ax.set_title(f"{title}: {roi} ({len(subj[models[0]])} subjects"
                     f"{f', {n_cond} conditions' if n_cond else ''}), comparison {comp}", fontsize=9)
        ax.axhline(0, color="k", lw=0.5)
        handles, labels = ax.get_legend_handles_labels()
        if any(np.isfinite(v) for v in p.values()):
            handles.append(plt.Line2D([], [], ls="none"))
            labels.append("* p < 0.05, ** < 0.01, *** < 0.001 (permutation test of the mean, uncorrected)")
        # beside the axes: never over the bars or the ceiling band
        labels = [textwrap.fill(t, 34) for t in labels]
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  frameon=False)
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
        order, blocks, names = None, None, None
        with h5py.File(args.rdms) as f:
            conditions = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs.get("conditions", [])]
        if args.order_by:
            file, _, ds = args.order_by.rpartition(":")
            with h5py.File(file) as f:
                cats = f[ds][()]
                cat_names = [c.decode() if isinstance(c, bytes) else str(c) for c in f[ds].attrs.get("names", [])]
            order = category_order(cats)
            if len(cat_names) == cats.shape[1]:
                # each condition labelled by its first two categories (rsa92: animate/human, …, inanim/artiObj)
                lab = ["/".join([cat_names[k] for k in np.flatnonzero(cats[i])][:2]) for i in order]
                blocks = [(k, k2) for k, k2 in zip([0] + [i for i in range(1, len(lab)) if lab[i] != lab[i - 1]],
                                                   [i for i in range(1, len(lab)) if lab[i] != lab[i - 1]] + [len(lab)])]
                names = [lab[a] for a, _ in blocks]
                if len(blocks) > 12:
                    blocks = names = None
        elif conditions and len(conditions) <= 30:
            names, blocks = conditions, [(i, i + 1) for i in range(len(conditions))]
        n = len(mats)
        cols = min(4, n)
        rows_ = (n + cols - 1) // cols
        fig, axes = plt.subplots(rows_, cols, figsize=(3.3 * cols + 1.2, 3.3 * rows_ + 0.6), squeeze=False)
        image = None
        for ax, (name, m) in zip(axes.flat, mats.items()):
            if order is not None:
                m = m[np.ix_(order, order)]
            iu = np.triu_indices(len(m), 1)
            rk = np.zeros_like(m, dtype=float)
            rk[iu] = ranks(m[iu]) / len(iu[0])
            rk = rk + rk.T
            image = ax.imshow(rk, cmap="viridis", interpolation="nearest", vmin=0, vmax=1)
            ax.set_title(name, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if blocks:
                ax.set_yticks([(a + b - 1) / 2 for a, b in blocks])
                ax.set_yticklabels(names, fontsize=5)
                for a, _ in blocks[1:]:
                    ax.axhline(a - 0.5, color="white", lw=0.6)
                    ax.axvline(a - 0.5, color="white", lw=0.6)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.suptitle("RDMs: colour = rank of each dissimilarity within its RDM (0 most similar, 1 most dissimilar)"
                     + (", conditions ordered by category" if order is not None else ""), fontsize=9)
        fig.tight_layout(rect=(0, 0, 0.93, 0.97))
        cax = fig.add_axes((0.945, 0.15, 0.012, 0.7))
        fig.colorbar(image, cax=cax).set_label("dissimilarity rank (fraction of pairs)", fontsize=7)
        path = out / "rdms.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    for p in written:
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
