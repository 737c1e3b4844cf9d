#!/usr/bin/python3
"""Independent PyTorch reference for brainsweep's trained encoder.

It is written from /work/shared/design/TRAINED_ENCODER.md only, sections 1, 2 and 6.
It does not use brainsweep's code. The model is MedARC's multi-subject convolutional
feature encoder (Algonauts 2025, `MultiSubjectConvLinearEncoder`) on its default path:
    global_pool = "avg", hidden_model = None, decoder_kernel_size = 0.

Usage
-----
    /usr/bin/python3 tests/reference/trained_encoder_reference.py IN.h5 OUT.h5
    /usr/bin/python3 tests/reference/trained_encoder_reference.py --self-test

Use Debian's /usr/bin/python3: it has torch (1.13, CPU), numpy and h5py.

What it computes
----------------
Model (§1.2, §1.3, §1.4, §1.6, §1.9):
  for each stream i, in order:
    h_i = Linear_i(x_i)                        # (B, T, D_i) -> (B, T, d)
    if k > 1:
      h_i = DepthConv1d_i(h_i)                 # along T
  DepthConv1d: w = weight * attn_mask; if positive, w = |w|; if tied, w = w.expand(d, 1, k);
               y = F.conv1d(x, w, bias, padding="same", groups=d).
    - This is cross-correlation (no kernel flip) with zero padding.
    - For even k the extra zero goes on the right.
    - attn_mask = 1, except attn_mask[k//2+1:] = 0 when causal (causal needs odd k).
  E = h_1 + h_2 + ... (sequential sum in stream order; the token mean over L_i = 1 is the identity)
  out[:, s] = Linear_shared(E) + Linear_s(E)   # a disabled head type contributes 0
Training (§2.2, §2.3):
  - loss = F.mse_loss(out, fmri), the mean over all B*S*T*P elements;
  - then zero_grad, backward, and AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd) with one
    param group, so every parameter is decayed (biases and masked taps included);
  - no LR schedule, no clipping; fp32; deterministic algorithms; 1 thread.
  - Batches are replayed from the given schedule (§6.2). Each window is cut out independently, and the
    conv zero-pads it at its own edges.
Evaluation (§3, §2.4, §6.8):
  - every eval episode is predicted whole, batch 1, with the final weights;
  - Pearson r per subject and parcel is taken over the eval episodes concatenated in time:
        yt = y - mean_t(y); yt /= (||yt||_2 + 1e-7); same for the prediction; r = sum_t yt * yp
    (no ddof; eps is added to the L2 norm).

IN.h5 (written by the C++ side)
-------------------------------
  root attributes:
    - embed_dim d, kernel_size k (k <= 1: no conv);
    - causal, positive, tied, shared_head, subject_heads (0/1);
    - lr, weight_decay;
    - n_subjects S, n_parcels P, n_streams, sample_length.
  init/<key> float32, one dataset per parameter, named by MedARC state-dict keys:
    - feat_embeds.{i}.fc.weight (d, D_i), feat_embeds.{i}.fc.bias (d);
    - feat_embeds.{i}.conv.weight (d, 1, k), or (1, 1, k) when tied; feat_embeds.{i}.conv.bias (d);
    - with k <= 1, instead: feat_embeds.{i}.weight (d, D_i), feat_embeds.{i}.bias (d);
    - shared_decoder.weight (P, d), shared_decoder.bias (P), when shared_head;
    - subject_decoders.{s}.weight (P, d), subject_decoders.{s}.bias (P), when subject_heads.
    There is no attn_mask in the file; it is derived from k and causal.
  train_episodes: 1-D vlen UTF-8 strings, episode names in index order.
  train/<ep>/fmri float32 (S, T, P); train/<ep>/stream{i} float32 (T, D_i), aligned to T.
  schedule int64 (steps, B, 2): per step and batch row, (index into train_episodes, start offset).
    The window is [offset, offset + sample_length).
  eval_episodes, eval/<ep>/fmri, eval/<ep>/stream{i}: same layout as train.

OUT.h5 (written here)
---------------------
  loss          float64 (steps,)  MSE of each step, computed before that step's AdamW update
  final/<key>   float32           parameters after the last step (same keys as init/)
  grad0/<key>   float32           gradients of the first step's loss (when there are steps)
  eval/<ep>/pred float32 (S, T, P) whole-episode prediction with the final weights
  eval_r        float64 (S, P)    Pearson r, computed in float64 from the float32 predictions/targets
  eval_r_float32 float64 (S, P)   the same metric evaluated in float32 arithmetic, as MedARC's numpy
                                  code does (§3: "Computed in numpy on float32 arrays"); extra, for tolerance
  root attributes: torch_version, steps, batch_size

Self-test (--self-test, no files)
---------------------------------
  - parameter count against §1.8 (3,492,296 default, plus the table's other settings);
  - affinity: f(x+y) - f(0) == (f(x) - f(0)) + (f(y) - f(0));
  - impulse locality: k = 45 touches only t0 +- 22; causal touches only [t0, t0 + 22];
  - DepthConv1d against a naive loop, for even k (extra zero on the right) and for causal/positive/tied;
  - one AdamW step against the closed form of §6.5.
"""

import math
import os
import time
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Fixed hyperparameters of §2.3
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
PEARSON_EPS = 1e-7

# Even kernels with padding="same" warn about a padded copy of the input; the result is still right.
warnings.filterwarnings("ignore", message=".*padding='same'.*")


def set_deterministic():
    torch.use_deterministic_algorithms(True)
    # 1 thread by default; bench/encoder_bench.py sets the thread count it compares at
    torch.set_num_threads(int(os.environ.get("REFERENCE_THREADS", "1")))


# ----------------------------------------------------------------------------------------------------
# Model (§1)
# ----------------------------------------------------------------------------------------------------
def make_attn_mask(k, causal):
    """Mask over the taps (§1.2): ones, with the future taps [k//2+1:] zeroed when causal."""
    if causal:
        assert k % 2 == 1, "causal DepthConv1d requires an odd kernel size"
    mask = torch.ones(k)
    if causal:
        mask[k // 2 + 1:] = 0
    return mask


class DepthConv1d(nn.Module):
    """Depthwise temporal conv over (*, L, C) (§1.2)."""

    def __init__(self, channels, kernel_size, causal=False, positive=False, blockwise=False):
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.causal = causal
        self.positive = positive
        self.blockwise = blockwise
        self.weight = nn.Parameter(torch.zeros(1 if blockwise else channels, 1, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        # Persistent buffer, as in MedARC; derived from (k, causal) and never read from IN.h5.
        self.register_buffer("attn_mask", make_attn_mask(kernel_size, causal))

    def effective_weight(self):
        w = self.weight * self.attn_mask  # mask broadcast over the last (tap) dim
        if self.positive:
            w = w.abs()  # after masking
        if self.blockwise:
            w = w.expand(self.channels, 1, self.kernel_size)  # one kernel for all channels
        return w

    def forward(self, x):
        shape = x.shape
        L, C = shape[-2], shape[-1]
        x = x.reshape(-1, L, C).transpose(1, 2)  # (N', C, L)
        y = F.conv1d(x, self.effective_weight(), self.bias, padding="same", groups=C)
        return y.transpose(1, 2).reshape(shape)


class LinearConv(nn.Module):
    """fc (Linear D -> d), then conv (DepthConv1d over time) (§1.3)."""

    def __init__(self, in_dim, embed_dim, kernel_size, causal, positive, blockwise):
        super().__init__()
        self.fc = nn.Linear(in_dim, embed_dim)
        self.conv = DepthConv1d(embed_dim, kernel_size, causal, positive, blockwise)

    def forward(self, x):
        return self.conv(self.fc(x))


class MultiSubjectConvLinearEncoder(nn.Module):
    """Default path: avg pool, no hidden model, linear heads (§1.4, §1.6, §1.9)."""

    def __init__(self, feat_dims, embed_dim, kernel_size, causal=False, positive=False,
                 blockwise=False, num_subjects=4, target_dim=1000,
                 with_shared_decoder=True, with_subject_decoders=True):
        super().__init__()
        if not (with_shared_decoder or with_subject_decoders):
            raise ValueError("at least one head type must be enabled")
        self.num_subjects = num_subjects
        self.target_dim = target_dim
        embeds = []
        for D in feat_dims:
            if kernel_size > 1:
                embeds.append(LinearConv(D, embed_dim, kernel_size, causal, positive, blockwise))
            else:
                embeds.append(nn.Linear(D, embed_dim))
        self.feat_embeds = nn.ModuleList(embeds)
        self.shared_decoder = nn.Linear(embed_dim, target_dim) if with_shared_decoder else None
        self.subject_decoders = (
            nn.ModuleList([nn.Linear(embed_dim, target_dim) for _ in range(num_subjects)])
            if with_subject_decoders else None)

    def forward(self, feats):
        """feats: list of (N, T, D_i) -> (N, S, T, P)."""
        E = None
        for x, embed in zip(feats, self.feat_embeds):
            x = x[:, None]                 # (N, L=1, T, D_i): 3-D inputs get one token (§1.4)
            h = embed(x).mean(dim=1)       # mean over tokens within the stream (identity for L=1)
            E = h if E is None else E + h  # sum over streams in order
        N, T, _ = E.shape
        if self.shared_decoder is not None:
            shared = self.shared_decoder(E)[:, None].expand(N, self.num_subjects, T, self.target_dim)
        else:
            shared = 0.0
        if self.subject_decoders is not None:
            subject = torch.stack([dec(E) for dec in self.subject_decoders], dim=1)
        else:
            subject = 0.0
        return subject + shared


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def formula_params(dims, d, k, S, P, tied=False, shared=True, subject=True):
    """§1.8: sum_i (D_i d + d) + n (d k + d) + (1 + S)(d P + P).

    For tied, a stream's conv has k + d parameters. A disabled head type drops its term.
    """
    n = len(dims)
    fc = sum(D * d + d for D in dims)
    conv = 0 if k <= 1 else n * ((k if tied else d * k) + d)
    heads = (int(shared) + (S if subject else 0)) * (d * P + P)
    return fc + conv + heads


# ----------------------------------------------------------------------------------------------------
# Metric (§3, §6.8)
# ----------------------------------------------------------------------------------------------------
def pearsonr_score(y_true, y_pred, eps=PEARSON_EPS):
    """(T, P) x (T, P) -> (P,). Computed in the arrays' own dtype, like MedARC's numpy code."""
    y_true = y_true - y_true.mean(axis=0)
    y_true = y_true / (np.linalg.norm(y_true, axis=0) + eps)
    y_pred = y_pred - y_pred.mean(axis=0)
    y_pred = y_pred / (np.linalg.norm(y_pred, axis=0) + eps)
    return (y_true * y_pred).sum(axis=0)


def eval_r(targets, preds, dtype):
    """targets, preds: lists of (S, T_e, P) -> (S, P) r over the episodes concatenated in time."""
    yt = np.concatenate(targets, axis=1).astype(dtype)
    yp = np.concatenate(preds, axis=1).astype(dtype)
    return np.stack([pearsonr_score(yt[s], yp[s]) for s in range(yt.shape[0])]).astype(np.float64)


# ----------------------------------------------------------------------------------------------------
# IN.h5 -> OUT.h5
# ----------------------------------------------------------------------------------------------------
def _attr_int(f, name):
    return int(np.asarray(f.attrs[name]).item())


def _attr_float(f, name):
    return float(np.asarray(f.attrs[name]).item())


def _episode_names(ds):
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in ds[()].tolist()]


def _load_split(f, group, names, n_streams):
    data = {}
    for ep in names:
        g = f[group][ep]
        fmri = np.asarray(g["fmri"][()], dtype=np.float32)
        streams = [np.asarray(g["stream%d" % i][()], dtype=np.float32) for i in range(n_streams)]
        for i, x in enumerate(streams):
            if x.ndim != 2 or x.shape[0] != fmri.shape[1]:
                raise ValueError("%s/%s/stream%d has shape %s, expected (T=%d, D)"
                                 % (group, ep, i, x.shape, fmri.shape[1]))
        data[ep] = (fmri, streams)
    return data


def run(in_path, out_path):
    import h5py

    set_deterministic()
    with h5py.File(in_path, "r") as f:
        d = _attr_int(f, "embed_dim")
        k = _attr_int(f, "kernel_size")
        causal = bool(_attr_int(f, "causal"))
        positive = bool(_attr_int(f, "positive"))
        tied = bool(_attr_int(f, "tied"))
        shared_head = bool(_attr_int(f, "shared_head"))
        subject_heads = bool(_attr_int(f, "subject_heads"))
        lr = _attr_float(f, "lr")
        wd = _attr_float(f, "weight_decay")
        S = _attr_int(f, "n_subjects")
        P = _attr_int(f, "n_parcels")
        n_streams = _attr_int(f, "n_streams")
        init = {key: torch.from_numpy(np.asarray(ds[()], dtype=np.float32))
                for key, ds in f["init"].items()}
        schedule = np.asarray(f["schedule"][()], dtype=np.int64) if "schedule" in f else \
            np.zeros((0, 0, 2), dtype=np.int64)
        sample_length = _attr_int(f, "sample_length") if "sample_length" in f.attrs else 0
        train_names = _episode_names(f["train_episodes"]) if "train_episodes" in f else []
        eval_names = _episode_names(f["eval_episodes"]) if "eval_episodes" in f else []
        train = _load_split(f, "train", train_names, n_streams)
        evals = _load_split(f, "eval", eval_names, n_streams)

    if causal and k > 1 and k % 2 == 0:
        raise ValueError("causal requires an odd kernel_size (got %d)" % k)
    fc_key = "feat_embeds.%d.fc.weight" if k > 1 else "feat_embeds.%d.weight"
    feat_dims = [init[fc_key % i].shape[1] for i in range(n_streams)]

    model = MultiSubjectConvLinearEncoder(
        feat_dims, d, k, causal=causal, positive=positive, blockwise=tied, num_subjects=S,
        target_dim=P, with_shared_decoder=shared_head, with_subject_decoders=subject_heads)
    params = dict(model.named_parameters())
    if set(params) != set(init):
        raise ValueError("init keys do not match the model:\n  missing %s\n  unexpected %s"
                         % (sorted(set(params) - set(init)), sorted(set(init) - set(params))))
    with torch.no_grad():
        for key, p in params.items():
            if tuple(p.shape) != tuple(init[key].shape):
                raise ValueError("init/%s has shape %s, expected %s"
                                 % (key, tuple(init[key].shape), tuple(p.shape)))
            p.copy_(init[key])

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=BETAS, eps=ADAM_EPS,
                            weight_decay=wd)

    steps = schedule.shape[0]
    losses = np.zeros(steps, dtype=np.float64)
    model.train()
    step_times = []
    for step in range(steps):
        t_step = time.perf_counter()
        fmri_rows = []
        feat_rows = [[] for _ in range(n_streams)]
        for ep_idx, off in schedule[step]:
            ep_idx, off = int(ep_idx), int(off)
            fmri, streams = train[train_names[ep_idx]]
            if off < 0 or off + sample_length > fmri.shape[1]:
                raise ValueError("step %d: window [%d, %d) outside episode %s of length %d"
                                 % (step, off, off + sample_length, train_names[ep_idx],
                                    fmri.shape[1]))
            fmri_rows.append(fmri[:, off:off + sample_length])
            for i in range(n_streams):
                feat_rows[i].append(streams[i][off:off + sample_length])
        target = torch.from_numpy(np.stack(fmri_rows))                  # (B, S, L, P)
        feats = [torch.from_numpy(np.stack(rows)) for rows in feat_rows]  # (B, L, D_i)
        out = model(feats)
        loss = F.mse_loss(out, target)
        if not torch.isfinite(loss):
            raise FloatingPointError("non-finite loss at step %d" % step)
        losses[step] = loss.item()
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad0 = {key: p.grad.detach().numpy().astype(np.float32).copy()
                     for key, p in model.named_parameters()}
        opt.step()
        step_times.append(time.perf_counter() - t_step)

    model.eval()
    preds, targets = {}, []
    with torch.no_grad():
        for ep in eval_names:
            fmri, streams = evals[ep]
            out = model([torch.from_numpy(x)[None] for x in streams])[0]  # batch 1, whole episode
            preds[ep] = out.numpy().astype(np.float32)
            targets.append(fmri)

    with h5py.File(out_path, "w") as f:
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["steps"] = steps
        f.attrs["batch_size"] = schedule.shape[1] if steps else 0
        f.create_dataset("loss", data=losses)
        if steps:
            gg = f.create_group("grad0")
            for key, g0 in grad0.items():
                gg.create_dataset(key, data=g0)
        g = f.create_group("final")
        for key, p in model.named_parameters():
            g.create_dataset(key, data=p.detach().numpy().astype(np.float32))
        ge = f.create_group("eval")
        for ep in eval_names:
            ge.create_group(ep).create_dataset("pred", data=preds[ep])
        if eval_names:
            plist = [preds[ep] for ep in eval_names]
            f.create_dataset("eval_r", data=eval_r(targets, plist, np.float64))
            f.create_dataset("eval_r_float32", data=eval_r(targets, plist, np.float32))
    print("steps=%d  first loss=%s  last loss=%s  eval episodes=%d"
          % (steps, losses[0] if steps else None, losses[-1] if steps else None, len(eval_names)))
    # wall time of the steps (window assembly, forward, backward, AdamW), for bench/encoder_bench.py
    print("timing: steps %d, first step %.6f s, later steps %.6f s" % (
        steps, step_times[0] if steps else 0.0, sum(step_times[1:])))


# ----------------------------------------------------------------------------------------------------
# Self-test
# ----------------------------------------------------------------------------------------------------
DEFAULT_DIMS = [3072, 1280, 2048, 5120, 1408]


def _randomize(model, gen, scale=0.1):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)


def _naive_depthconv(x, w, b):
    """x (C, L), w (C, k) effective taps, b (C,): y[c,t] = b[c] + sum_j w[c,j] x[c, t+j-left]."""
    C, L = x.shape
    k = w.shape[1]
    left = (k - 1) // 2
    y = np.zeros((C, L))
    for c in range(C):
        for t in range(L):
            acc = b[c]
            for j in range(k):
                u = t + j - left
                if 0 <= u < L:
                    acc += w[c, j] * x[c, u]
            y[c, t] = acc
    return y


def self_test():
    set_deterministic()
    gen = torch.Generator().manual_seed(1234)

    # 1. Parameter count (§1.8)
    print("[1] parameter count (§1.8), dims D = %s" % DEFAULT_DIMS)
    base = dict(d=192, k=45, S=4, tied=False)
    table = [
        ({}, 3492296),
        ({"d": 32}, 586216), ({"d": 64}, 1167432), ({"d": 128}, 2329864), ({"d": 256}, 4654728),
        ({"k": 0}, 3448136), ({"k": 9}, 3457736), ({"k": 17}, 3465416), ({"k": 65}, 3511496),
        ({"tied": True}, 3449321),
        ({"S": 1}, 2913296),
    ]
    for change, expected in table:
        cfg = dict(base, **change)
        model = MultiSubjectConvLinearEncoder(DEFAULT_DIMS, cfg["d"], cfg["k"],
                                              blockwise=cfg["tied"], num_subjects=cfg["S"])
        n = count_params(model)
        fn = formula_params(DEFAULT_DIMS, cfg["d"], cfg["k"], cfg["S"], 1000, tied=cfg["tied"])
        print("    %-14s modules=%9d formula=%9d page=%9d" % (change or "default", n, fn, expected))
        assert n == fn == expected, (change, n, fn, expected)
    m = MultiSubjectConvLinearEncoder(DEFAULT_DIMS, 192, 45)
    fc = sum(p.numel() for n_, p in m.named_parameters() if ".fc." in n_)
    conv = sum(p.numel() for n_, p in m.named_parameters() if ".conv." in n_)
    heads = sum(p.numel() for n_, p in m.named_parameters() if "decoder" in n_)
    print("    default split: fc=%d conv=%d heads=%d" % (fc, conv, heads))
    assert (fc, conv, heads) == (2483136, 44160, 965000)
    assert "feat_embeds.0.conv.attn_mask" in m.state_dict()
    assert "feat_embeds.0.conv.attn_mask" not in dict(m.named_parameters())
    del m, model

    # 2. Affinity: f(x+y) - f(0) = (f(x) - f(0)) + (f(y) - f(0))
    print("[2] affinity f(x+y)-f(0) = (f(x)-f(0)) + (f(y)-f(0))")
    dims = [7, 5, 3]
    for (k, causal, positive, tied, sh, sub) in [(45, False, False, False, True, True),
                                                 (9, True, True, True, True, False),
                                                 (4, False, False, False, False, True),
                                                 (0, False, False, False, True, True)]:
        model = MultiSubjectConvLinearEncoder(dims, 6, k, causal, positive, tied, num_subjects=3,
                                              target_dim=8, with_shared_decoder=sh,
                                              with_subject_decoders=sub)
        _randomize(model, gen)
        B, T = 2, 60
        x = [torch.randn(B, T, D, generator=gen) for D in dims]
        y = [torch.randn(B, T, D, generator=gen) for D in dims]
        z = [torch.zeros(B, T, D) for D in dims]
        for dtype, tol in [(torch.float64, 1e-12), (torch.float32, 1e-5)]:
            md = model.to(dtype)
            with torch.no_grad():
                f0 = md([t.to(dtype) for t in z])
                fx = md([t.to(dtype) for t in x])
                fy = md([t.to(dtype) for t in y])
                fxy = md([a.to(dtype) + b.to(dtype) for a, b in zip(x, y)])
            err = ((fxy - f0) - ((fx - f0) + (fy - f0))).abs().max().item()
            print("    k=%-2d causal=%d positive=%d tied=%d shared=%d subject=%d %s: max err %.3e"
                  % (k, causal, positive, tied, sh, sub, str(dtype)[6:], err))
            assert fx.shape == (B, 3, T, 8)
            assert err < tol, err

    # 3. Impulse locality
    print("[3] impulse locality, k=45, T=120, t0=50 (and t0=3 near the edge)")
    dims = [4, 3]
    for causal in (False, True):
        model = MultiSubjectConvLinearEncoder(dims, 5, 45, causal=causal, num_subjects=2,
                                              target_dim=6).double()
        _randomize(model, gen)
        T = 120
        base_x = [torch.randn(1, T, D, generator=gen, dtype=torch.float64) for D in dims]
        for t0 in (50, 3):
            for stream in range(len(dims)):
                bumped = [t.clone() for t in base_x]
                bumped[stream][0, t0] += torch.randn(dims[stream], generator=gen,
                                                     dtype=torch.float64)
                with torch.no_grad():
                    diff = (model(bumped) - model(base_x)).abs().amax(dim=(0, 1, 3))  # (T,)
                changed = torch.nonzero(diff != 0).flatten().tolist()
                lo, hi = (t0, t0 + 22) if causal else (t0 - 22, t0 + 22)
                expect = [t for t in range(max(lo, 0), min(hi, T - 1) + 1)]
                print("    causal=%d stream=%d t0=%-2d changed outputs t in [%d, %d] (%d steps)"
                      % (causal, stream, t0, changed[0], changed[-1], len(changed)))
                assert changed == expect, (changed, expect)

    # 4. DepthConv1d vs a naive loop
    print("[4] DepthConv1d vs naive loop (even k: extra zero on the right)")
    C = 3
    for (k, L, causal, positive, tied) in [(4, 10, False, False, False), (6, 5, False, False, False),
                                           (2, 7, False, True, True), (8, 3, False, False, False),
                                           (5, 12, True, True, False), (45, 30, True, False, True),
                                           (7, 1, False, False, False)]:
        conv = DepthConv1d(C, k, causal, positive, tied).double()
        _randomize(conv, gen, scale=1.0)
        x = torch.randn(2, L, C, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            y = conv(x).numpy()
            w = conv.effective_weight()[:, 0, :].numpy()
            b = conv.bias.numpy()
        ref = np.stack([_naive_depthconv(x[n].numpy().T, w, b).T for n in range(2)])
        err = np.abs(y - ref).max()
        msg = "    k=%-2d L=%-2d causal=%d positive=%d tied=%d: max err %.3e" % (
            k, L, causal, positive, tied, err)
        if k % 2 == 0:
            # the other convention, extra zero on the LEFT, must differ
            xp = np.pad(x.numpy(), ((0, 0), (k - 1 - (k - 1) // 2, (k - 1) // 2), (0, 0)))
            alt = np.stack([[[b[c] + sum(w[c, j] * xp[n, t + j, c] for j in range(k))
                              for c in range(C)] for t in range(L)] for n in range(2)])
            msg += "; left-extra-zero convention differs by %.3e" % np.abs(y - alt).max()
            assert np.abs(y - alt).max() > 1e-3
        print(msg)
        assert err < 1e-12, err
    # float32 against the same loop, at the §6 tolerance
    conv = DepthConv1d(C, 4)
    _randomize(conv, gen, scale=1.0)
    x = torch.randn(1, 20, C, generator=gen)
    with torch.no_grad():
        y = conv(x).numpy()[0]
        ref = _naive_depthconv(x[0].numpy().T.astype(np.float64),
                               conv.effective_weight()[:, 0, :].numpy().astype(np.float64),
                               conv.bias.numpy().astype(np.float64)).T
    print("    float32 k=4 L=20: max err %.3e" % np.abs(y - ref).max())
    assert np.abs(y - ref).max() < 1e-5

    # 5. One AdamW step against the closed form of §6.5
    print("[5] one AdamW step vs closed form (p*(1-lr*wd), then bias-corrected Adam)")
    lr, wd = 3e-4, 0.1
    p = torch.randn(50, generator=gen, dtype=torch.float64, requires_grad=True)
    p0 = p.detach().clone()
    opt = torch.optim.AdamW([p], lr=lr, betas=BETAS, eps=ADAM_EPS, weight_decay=wd)
    grads = [torch.randn(50, generator=gen, dtype=torch.float64) for _ in range(3)]
    m = torch.zeros(50, dtype=torch.float64)
    v = torch.zeros(50, dtype=torch.float64)
    q = p0.clone()
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        opt.step()
        q = q * (1 - lr * wd)
        m = BETAS[0] * m + (1 - BETAS[0]) * g
        v = BETAS[1] * v + (1 - BETAS[1]) * g * g
        bc1, bc2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
        q = q - (lr / bc1) * m / (v.sqrt() / math.sqrt(bc2) + ADAM_EPS)
    err = (p.detach() - q).abs().max().item()
    print("    3 steps, max err %.3e" % err)
    assert err < 1e-12

    # 6. Pearson metric: eps on the norm, constant series gives 0
    print("[6] Pearson metric")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 4))
    b = a + rng.standard_normal((200, 4))
    b[:, 3] = 5.0
    r = pearsonr_score(a, b)
    r_np = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(3)]
    print("    r=%s  corrcoef=%s" % (np.round(r, 6).tolist(), np.round(r_np, 6).tolist()))
    assert np.allclose(r[:3], r_np, atol=1e-6) and r[3] == 0.0

    print("self-test passed")


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        self_test()
        return 0
    if len(argv) == 3:
        run(argv[1], argv[2])
        return 0
    sys.stderr.write("usage: %s IN.h5 OUT.h5 | --self-test\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
