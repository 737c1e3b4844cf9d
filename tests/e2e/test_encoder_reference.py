#!/usr/bin/python3
"""brainsweep's trained encoder (libtorch) against the independent PyTorch reference written from
TRAINED_ENCODER.md (tests/reference/trained_encoder_reference.py), issue #23: from the same initial
weights and the same window schedule, on random data, for several architectures (default path, causal +
positive, tied, no convolution, an even kernel with subject heads only):
- forward outputs of whole episodes before training: atol 1e-5;
- the gradients of the first step: rtol 1e-4 (of each tensor's largest gradient);
- the loss curve over 50 AdamW steps: rtol 1e-3;
- the final validation Pearson r (MedARC's metric) per subject and parcel: ±1e-3.

Usage: test_encoder_reference.py BRAINSWEEP_ENCODER_DRIVER
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "reference", "trained_encoder_reference.py")
DRIVER = None

S, P, DIMS, L, B = 2, 7, (5, 3), 32, 4
CONFIGS = {  # name: (embed_dim, kernel_size, causal, positive, tied, shared_head, subject_heads)
    "default path": (8, 9, 0, 0, 0, 1, 1),
    "causal positive": (8, 9, 1, 1, 0, 1, 1),
    "tied": (6, 11, 0, 0, 1, 1, 1),
    "no convolution": (8, 0, 0, 0, 0, 1, 1),
    "even kernel, subject heads only": (8, 6, 0, 0, 0, 0, 1),
}
LR, WD = 1e-3, 0.1


def param_shapes(d, k, tied, shared, subject):
    shapes = {}
    for i, dim in enumerate(DIMS):
        if k > 1:
            shapes[f"feat_embeds.{i}.fc.weight"] = (d, dim)
            shapes[f"feat_embeds.{i}.fc.bias"] = (d,)
            shapes[f"feat_embeds.{i}.conv.weight"] = (1 if tied else d, 1, k)
            shapes[f"feat_embeds.{i}.conv.bias"] = (d,)
        else:
            shapes[f"feat_embeds.{i}.weight"] = (d, dim)
            shapes[f"feat_embeds.{i}.bias"] = (d,)
    if shared:
        shapes["shared_decoder.weight"], shapes["shared_decoder.bias"] = (P, d), (P,)
    if subject:
        for s in range(S):
            shapes[f"subject_decoders.{s}.weight"], shapes[f"subject_decoders.{s}.bias"] = (P, d), (P,)
    return shapes


def write_input(path, cfg, steps, seed):
    d, k, causal, positive, tied, shared, subject = cfg
    rng = np.random.default_rng(seed)
    # fMRI with a planted signal: an affine map of the streams smoothed over time, plus noise
    def episode(t):
        streams = [rng.standard_normal((t, dim)).astype(np.float32) for dim in DIMS]
        drive = sum(s @ rng.standard_normal((dim, P)) for s, dim in zip(streams, DIMS)) * 0.3
        drive = np.cumsum(drive, 0) / np.sqrt(np.arange(1, t + 1))[:, None]
        fmri = np.stack([drive + rng.standard_normal((t, P)) for _ in range(S)]).astype(np.float32)
        return streams, fmri
    train = {f"ep{i}": episode(t) for i, t in enumerate((80, 90, 70))}
    evals = {f"val{i}": episode(t) for i, t in enumerate((60, 50))}
    with h5py.File(path, "w") as f:
        for key, val in dict(embed_dim=d, kernel_size=k, causal=causal, positive=positive, tied=tied,
                             shared_head=shared, subject_heads=subject, n_subjects=S, n_parcels=P,
                             n_streams=len(DIMS), sample_length=L).items():
            f.attrs[key] = np.int64(val)
        f.attrs["lr"], f.attrs["weight_decay"] = np.float64(LR), np.float64(WD)
        for key, shape in param_shapes(d, k, tied, shared, subject).items():
            scale = 0.02 if key.endswith("weight") else 0.01  # biases non-zero, so that their paths count
            f[f"init/{key}"] = (rng.standard_normal(shape) * (scale if "conv" not in key else 0.2)).astype(np.float32)
        for group, eps in (("train", train), ("eval", evals)):
            f.create_dataset(f"{group}_episodes", data=list(eps), dtype=h5py.string_dtype())
            for name, (streams, fmri) in eps.items():
                f[f"{group}/{name}/fmri"] = fmri
                for i, s in enumerate(streams):
                    f[f"{group}/{name}/stream{i}"] = s
        sched = np.zeros((steps, B, 2), np.int64)
        lengths = [80, 90, 70]
        for st in range(steps):
            for b in range(B):
                e = rng.integers(0, 3)
                sched[st, b] = (e, rng.integers(0, lengths[e] - L + 1))
        f["schedule"] = sched


def read(path):
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


class EncoderAgainstPyTorch(unittest.TestCase):
    def run_both(self, name, steps):
        cfg = CONFIGS[name]
        with tempfile.TemporaryDirectory() as d:
            src, ref_out, bs_out = (os.path.join(d, x) for x in ("in.h5", "ref.h5", "bs.h5"))
            write_input(src, cfg, steps, seed=list(CONFIGS).index(name) * 100 + steps)
            r = subprocess.run(["/usr/bin/python3", REFERENCE, src, ref_out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            args = [str(v) for v in cfg] + [str(LR), str(WD), str(S), str(P), str(len(DIMS)), str(L), "1"]
            r = subprocess.run([DRIVER, src, bs_out, *args], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            return read(ref_out), read(bs_out)

    def test_forward_before_training(self):
        for name in CONFIGS:
            with self.subTest(name):
                ref, got = self.run_both(name, 0)
                for ep in ("val0", "val1"):
                    want = ref[f"eval/{ep}/pred"]  # (S, T, P)
                    np.testing.assert_allclose(got[f"eval/{ep}/pred"].reshape(want.shape), want, atol=1e-5, rtol=0)

    def test_gradients_losses_and_validation_r_after_50_steps(self):
        for name in CONFIGS:
            with self.subTest(name):
                ref, got = self.run_both(name, 50)
                grads = [k for k in ref if k.startswith("grad0/")]
                self.assertEqual(sorted(grads), sorted(k for k in got if k.startswith("grad0/")))
                for k in grads:
                    want = ref[k].ravel()
                    err = np.abs(got[k].ravel() - want).max() / np.abs(want).max()
                    self.assertLessEqual(err, 1e-4, k)
                np.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-3, atol=0)
                self.assertLess(ref["loss"][-10:].mean(), ref["loss"][:10].mean())  # it learns
                np.testing.assert_allclose(got["eval_r"], ref["eval_r"], atol=1e-3, rtol=0)
                worst = np.abs(got["loss"] / ref["loss"] - 1).max()
                print(f"{name}: loss {ref['loss'][0]:.4f} → {ref['loss'][-1]:.4f}, max rel. diff {worst:.1e}; "
                      f"val r {ref['eval_r'].mean():.4f} (reference) vs {got['eval_r'].mean():.4f}, max |Δ| "
                      f"{np.abs(got['eval_r'] - ref['eval_r']).max():.1e}")


if __name__ == "__main__":
    DRIVER = sys.argv[1]
    unittest.main(argv=sys.argv[:1], verbosity=2)
