#!/usr/bin/python3
"""Notebook-style example (docs/python.md): fit Sherlock features to one subject with brainsweep's
engine from Python and print the scores per ROI.

Run from the repository root after the build:
    PYTHONPATH=build/python /usr/bin/python3 docs/examples/sherlock_ridge.py [SHERLOCK_DIR]
CI runs it (ctest docs.example_sherlock).
"""
import sys
from pathlib import Path

import h5py
import numpy as np

import brainsweep

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sherlock")
subject = "sub-01"

# %% fMRI of the six roi6 ROIs and the annotation + LSA features of both scans. In this packaging the
# BOLD is already shifted by 3 TRs, so feature row t goes with TR t (hrf_delay 0, stimulus_window 1).
fmri = root / f"fmri/{subject}/func/{subject}_task-sherlock_space-MNI152_atlas-roi6_bold.h5"
with h5py.File(fmri) as f:
    rois = [n.decode() for n in f.attrs["parcel_names"]]
    Y = {ep: f[f"ses-001_task-{ep}"][()] for ep in ("sherlock01", "sherlock02")}


def features(ep):
    blocks = []
    for model, layer in (("annotations", "all"), ("description_lsa", "lsa64")):
        with h5py.File(root / f"features/{model}/movies/sherlock/movies_{ep}.h5") as f:
            blocks.append(f[layer][: len(Y[ep])])
    return np.hstack(blocks).astype(np.float32)


X_train, X_test = features("sherlock01"), features("sherlock02")
print(f"{subject}: train {X_train.shape} → {Y['sherlock01'].shape}, test {X_test.shape} → {Y['sherlock02'].shape}")

# %% Fit: one alpha per ROI chosen by 5-fold CV over contiguous blocks of sherlock01 (ENCODING.md).
model = brainsweep.RidgeCV(cv=5).fit(X_train, Y["sherlock01"])
r = brainsweep.pearson_r(model.predict(X_test), Y["sherlock02"])

print(f"{'ROI':<16}{'alpha':>10}{'CV r':>8}{'test r':>8}")
for i, roi in enumerate(rois):
    print(f"{roi:<16}{model.alphas_[i]:>10.3g}{model.cv_scores_[:, i].max():>8.3f}{r[i]:>8.3f}")
print(f"mean test r {model.score(X_test, Y['sherlock02']):.3f} (RidgeCV.score: mean Pearson r over ROIs); "
      f"fit {model.fit_seconds_:.3f} s, solver {model.solver_}")
assert np.all(np.isfinite(r)) and r[rois.index("aud_early")] > 0.1, "aud_early should be predictable"
