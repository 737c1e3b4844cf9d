#!/usr/bin/env python3
"""brainsweep extract (issue #6) against the same TorchScript models run in Python on the same
decoded frames / samples / tokens, and the decoding against the ffmpeg command line.
Usage: test_extract.py BRAINSWEEP. Makes tiny models (Debian python3-torch), tiny movies (Debian
ffmpeg) and a SentencePiece tokenizer (python3-sentencepiece) in a temporary directory."""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "extract"))
import tiny_models as tm  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
TR = 1.0
TOL = 1e-5
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, **kw)


def extract(cfg, ranks=1, extra=(), expect=0):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k, v in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"), ("OMPI_MCA_btl", "self,vader"),
                 ("OMPI_MCA_rmaps_base_oversubscribe", "1")):
        env.setdefault(k, v)
    cmd = [BIN, "extract", cfg, *extra]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != expect:
        print(r.stdout, r.stderr)
    check(r.returncode == expect, f"extract {os.path.basename(cfg)} on {ranks} rank(s) exits {expect} "
                                  f"(got {r.returncode})")
    return r


def write_yaml(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def make_media(root):
    d = os.path.join(root, "stimuli", "movies", "friends", "s1")
    os.makedirs(d)
    for ep, dur, src in (("s01e01a", 3.3, "testsrc2"), ("s01e01b", 0.6, "testsrc")):
        sh("ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{src}=size=64x48:rate=10", "-f", "lavfi",
           "-i", "sine=frequency=330:sample_rate=22050", "-t", str(dur), "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-ac", "2", os.path.join(d, f"friends_{ep}.mkv"))
    return d


def ffmpeg_frames(path):
    """All frames as RGB24 at native size, and their presentation times (the ffmpeg command line)."""
    probe = json.loads(sh("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=best_effort_timestamp_time,width,height", "-of", "json", path).stdout)
    times = np.array([float(f["best_effort_timestamp_time"]) for f in probe["frames"]])
    w, h = probe["frames"][0]["width"], probe["frames"][0]["height"]
    raw = sh("ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-vsync", "passthrough",
             "-").stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    return frames, times - times[0]


def compare_layers(out_file, model, inputs, layers, mode, channel_dim=-1, group=1, what=""):
    with h5py.File(out_file) as f:
        for name in layers:
            got = f[name][()]
            ref = tm.pool(tm.hooked_outputs(model, inputs, layers)[name], mode, channel_dim)
            if group > 1:
                ref = ref.reshape(-1, group, ref.shape[1]).mean(1)
            ref = ref.numpy()
            ok = got.shape == ref.shape and np.abs(got - ref).max() <= TOL
            err = np.abs(got - ref).max() if got.shape == ref.shape else float("nan")
            check(ok, f"{what} layer {name}: shape {got.shape} (reference {ref.shape}), max |diff| {err:.2e} <= {TOL}")


def video_tests(root, media):
    models = os.path.join(root, "models")
    os.makedirs(models)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    x_example = torch.randn(2, 4, 3, 16, 16)
    v = tm.make("video")
    tm.save(v, f"{models}/video.pt", x_example)
    vcf = tm.make("video_cf")
    tm.save(vcf, f"{models}/video_cf.pt", x_example.permute(0, 2, 1, 3, 4), traced=True)
    img = tm.make("image")
    tm.save(img, f"{models}/image.pt", None)
    common = f"""dtype: float32
tr: {TR}
stimuli: [{{stimset: friends, group: s1, files: "{media}/*.mkv"}}]
out: {root}/features
"""
    cfgs = {
        "video": (v, "BTCHW", "[blocks.0, blocks.1, norm]", "{mode: mean}", -1, f"{models}/video.pt"),
        "video_cf": (vcf, "BCTHW", "[blocks.1, norm]", "{mode: mean, channel_dim: -1}", -1,
                     f"{models}/video_cf.pt"),
        "image": (img, "frames", "[features]", "{mode: mean, channel_dim: 1}", 1, f"{models}/image.pt"),
    }
    for name, (model, layout, layers, pool, cd, path) in cfgs.items():
        cfg = write_yaml(f"{root}/{name}.yaml", f"""name: {name}
model: {{path: {path}, threads: 1, batch_size: 3}}
layers: {layers}
pool: {pool}
video: {{frames_per_chunk: 4, size: [16, 16], mean: {mean}, std: {std}, layout: {layout}}}
""" + common)
        dump = f"{root}/dump_{name}"
        extract(cfg, ranks=2 if name == "video" else 1, extra=["--dump-inputs", dump])
        for ep, n_chunks in (("s01e01a", 4), ("s01e01b", 1)):
            out = f"{root}/features/{name}/friends/s1/friends_{ep}.h5"
            with h5py.File(f"{dump}/friends_{ep}.h5") as d:
                inputs = torch.from_numpy(d["inputs"][()]).reshape(-1, *[int(s) for s in d["input_shape"][()]])
                frames = d["frames"][()].reshape(-1, d.attrs["frame_height"], d.attrs["frame_width"], 3)
                sample_time = d["sample_time"][()]
            want_t = np.array([c * TR + (j + 0.5) * TR / 4 for c in range(n_chunks) for j in range(4)])
            check(np.allclose(sample_time, want_t), f"{name} {ep}: {n_chunks} chunks × 4 frames at (c + (j+½)/4)·TR")
            # preprocessing, independently: bilinear resize (torch), [0, 1], normalise
            x = torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2) / 255.0
            x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
            x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
            if layout == "BTCHW":
                x = x.reshape(-1, 4, 3, 16, 16)
            elif layout == "BCTHW":
                x = x.reshape(-1, 4, 3, 16, 16).permute(0, 2, 1, 3, 4)
            check(tuple(x.shape) == tuple(inputs.shape) and (x - inputs).abs().max().item() <= 1e-6,
                  f"{name} {ep}: model input {tuple(inputs.shape)} = resize + normalise of the decoded frames")
            lay = [s.strip() for s in open(cfg).read().split("layers: [")[1].split("]")[0].split(",")]
            compare_layers(out, model, inputs, lay, "mean", cd, group=4 if layout == "frames" else 1,
                           what=f"{name} {ep} ({'traced' if name == 'video_cf' else 'scripted'}, {layout})")
            if name == "video":  # decoding against the ffmpeg command line
                ref_frames, ref_t = ffmpeg_frames(f"{media}/friends_{ep}.mkv")
                idx = np.array([max(0, np.searchsorted(ref_t, t, side="right") - 1) for t in want_t])
                diff = np.abs(ref_frames[idx].astype(int) - frames.astype(int)).max()
                check(frames.shape == ref_frames[idx].shape and diff == 0,
                      f"video {ep}: decoded frames identical to `ffmpeg -pix_fmt rgb24` at the sampled times "
                      f"(max |diff| {diff})")
    # tools/export_torchscript.py: the same model exported with --layers (dict output, traced)
    # gives the same features as brainsweep's own capture of the scripted model's submodules
    sh("/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "..", "tools", "export_torchscript.py"),
       "--module", "tiny_models:video", "--input", "2,4,3,16,16", "--layers", "blocks.0,norm", "--check",
       "--out", f"{models}/video_dict.pt", cwd=os.path.join(os.path.dirname(__file__), "..", "extract"))
    cfg = write_yaml(f"{root}/video_dict.yaml", open(f"{root}/video.yaml").read()
                     .replace("name: video", "name: video_dict").replace("video.pt", "video_dict.pt")
                     .replace("[blocks.0, blocks.1, norm]", "[norm, blocks.0]"))
    extract(cfg)
    with h5py.File(f"{root}/features/video/friends/s1/friends_s01e01a.h5") as a, \
            h5py.File(f"{root}/features/video_dict/friends/s1/friends_s01e01a.h5") as b:
        err = max(np.abs(a[k][()] - b[k][()]).max() for k in ("norm", "blocks.0"))
        check(err <= 1e-6, f"export_torchscript.py --layers (traced dict) = submodule capture of the scripted model "
                           f"(max |diff| {err:.1e})")
    # resume: a rerun skips finished episodes and leaves them untouched
    out = f"{root}/features/video/friends/s1/friends_s01e01a.h5"
    before = os.stat(out).st_mtime_ns
    r = extract(f"{root}/video.yaml", ranks=2)
    check("2 already extracted, 0 to do" in r.stderr + r.stdout and os.stat(out).st_mtime_ns == before,
          "rerun skips both finished episodes and leaves their files untouched")
    # deterministic: the same extraction again (1 rank instead of 2, --overwrite) gives identical arrays
    again = write_yaml(f"{root}/video_again.yaml", open(f"{root}/video.yaml").read()
                       .replace(f"out: {root}/features", f"out: {root}/features_again"))
    extract(again, extra=["--overwrite"])
    with h5py.File(out) as a, h5py.File(f"{root}/features_again/video/friends/s1/friends_s01e01a.h5") as b:
        check(all(np.array_equal(a[k][()], b[k][()]) for k in ("blocks.0", "blocks.1", "norm")),
              "deterministic: 2 ranks and 1 rank give identical features")
    # float16 by default, same numbers to float16 precision
    cfg16 = write_yaml(f"{root}/video16.yaml", open(f"{root}/video.yaml").read()
                       .replace("dtype: float32\n", "").replace("name: video", "name: video16"))
    extract(cfg16)
    with h5py.File(out) as a, h5py.File(f"{root}/features/video16/friends/s1/friends_s01e01a.h5") as b:
        check(b["norm"].dtype == np.float16 and np.allclose(b["norm"][()], a["norm"][()], rtol=1e-3, atol=1e-3),
              "default dtype float16 holds the float32 features rounded")


def audio_tests(root, media):
    a = tm.make("audio")
    tm.save(a, f"{root}/models/audio.pt", None)
    sr, ctx = 16000, 0.5
    cfg = write_yaml(f"{root}/audio.yaml", f"""name: audio
model: {{path: {root}/models/audio.pt, batch_size: 3}}
layers: [encoder, pooled]
dtype: float32
tr: {TR}
audio: {{sample_rate: {sr}, context: {ctx}}}
stimuli: [{{stimset: friends, group: s1, files: "{media}/*.mkv"}}]
out: {root}/features
""")
    dump = f"{root}/dump_audio"
    extract(cfg, extra=["--dump-inputs", dump])
    for ep in ("s01e01a", "s01e01b"):
        with h5py.File(f"{dump}/friends_{ep}.h5") as d:
            wave = d["waveform"][()].ravel()
            inputs = torch.from_numpy(d["inputs"][()])
        ref = np.frombuffer(sh("ffmpeg", "-v", "error", "-i", f"{media}/friends_{ep}.mkv", "-vn", "-ac", "1", "-ar",
                               str(sr), "-f", "f32le", "-").stdout, np.float32)
        n = min(len(ref), len(wave))
        diff = np.abs(ref[:n] - wave[:n]).max()
        check(abs(len(ref) - len(wave)) <= 1 and diff <= 1e-6,
              f"audio {ep}: {len(wave)} samples vs ffmpeg -ac 1 -ar {sr}: {len(ref)}, max |diff| {diff:.1e}")
        n_chunks = max(1, int(np.ceil(len(wave) / sr / TR - 1e-6)))
        c, L = int(round(ctx * sr)), int(round(TR * sr))
        want = np.zeros((n_chunks, c + L), np.float32)
        for k in range(n_chunks):
            for s in range(c + L):
                src = int(round(k * TR * sr)) - c + s
                if 0 <= src < len(wave):
                    want[k, s] = wave[src]
        check(inputs.shape == want.shape and np.array_equal(inputs.numpy(), want),
              f"audio {ep}: {n_chunks} windows of {ctx} s context + {TR} s, zeros outside the track")
        compare_layers(f"{root}/features/audio/friends/s1/friends_{ep}.h5", a, inputs, ["encoder", "pooled"], "mean",
                       what=f"audio {ep} (dict outputs)")


def text_tests(root):
    import sentencepiece as spm
    corpus = f"{root}/corpus.txt"
    words = ("hey joey how you doing ross rachel monica chandler phoebe coffee central perk couch "
             "we were on a break pivot smelly cat how you doin could this be any more awkward").split()
    rng = np.random.default_rng(0)
    with open(corpus, "w") as f:
        for _ in range(300):
            f.write(" ".join(rng.choice(words, 8)) + "\n")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=f"{root}/tok", vocab_size=48, model_type="unigram",
                                   bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=2)
    d = f"{root}/stimuli/transcripts/friends/s1"
    os.makedirs(d)
    rows = ["hey joey", "", "how you doing", "nan", '"we were, on a ""break"""', "pivot pivot pivot smelly cat", ""]
    with open(f"{d}/friends_s01e01a.tsv", "w") as f:
        f.write("text_per_tr\twords_per_tr\tonsets_per_tr\tdurations_per_tr\n")
        for r in rows:
            f.write(f"{r}\t[]\t[]\t[]\n")
    text = [("" if r == "nan" else r) for r in rows]
    text[4] = 'we were, on a "break"'
    t = tm.make("text", vocab=48)
    tm.save(t, f"{root}/models/text.pt", None)
    cfg = write_yaml(f"{root}/text.yaml", f"""name: text
model: {{path: {root}/models/text.pt}}
layers: [embed, layers.1]
pool: {{mode: last}}
dtype: float32
tr: 1.49
text: {{tokenizer: {root}/tok.model, context_words: 3, max_tokens: 6}}
stimuli: [{{stimset: friends, group: s1, files: "{d}/*.tsv"}}]
out: {root}/features
""")
    dump = f"{root}/dump_text"
    extract(cfg, extra=["--dump-inputs", dump])
    sp = spm.SentencePieceProcessor(model_file=f"{root}/tok.model")
    hist, want = [], []
    for r in text:
        w = r.split()
        ids = sp.encode(" ".join(hist[-3:] + w) if hist[-3:] + w else "")
        want.append([sp.bos_id()] + ids[-5:])
        hist += w
    with h5py.File(f"{dump}/friends_s01e01a.h5") as f:
        ids, off = f["token_ids"][()].astype(int), f["token_offsets"][()].astype(int)
    got = [list(ids[off[i]:off[i + 1]]) for i in range(len(off) - 1)]
    check(got == want, f"text: token ids of {len(rows)} chunks (3 context words, last 6 tokens with bos) "
                       f"equal python sentencepiece's")
    with h5py.File(f"{root}/features/text/friends/s1/friends_s01e01a.h5") as f:
        for layer in ("embed", "layers.1"):
            ref = np.stack([tm.pool(tm.hooked_outputs(t, torch.tensor([w]), [layer])[layer], "last").numpy()[0]
                            for w in want])
            err = np.abs(f[layer][()] - ref).max()
            check(f[layer].shape == ref.shape and err <= TOL,
                  f"text layer {layer} (tuple output, pool last): {f[layer].shape}, max |diff| {err:.1e}")


def bad_input_tests(root, media):
    base = open(f"{root}/video.yaml").read().replace(f"{root}/features", f"{root}/features_bad")
    # a layer the model lacks: the error lists the available ones; nothing is written
    r = extract(write_yaml(f"{root}/bad_layer.yaml", base.replace("[blocks.0, blocks.1, norm]", "[blocks.7]")),
                expect=2)
    check("blocks.7" in r.stderr and "available: patch_embed, blocks, blocks.0" in r.stderr,
          f"missing layer: error names it and lists the available ones ({r.stderr.strip()[:160]}...)")
    check(not os.path.exists(f"{root}/features_bad"), "missing layer: nothing written")
    # an output shape the pooling cannot handle
    r = extract(write_yaml(f"{root}/bad_pool.yaml", base.replace("{mode: mean}", "{mode: cls}")
                           .replace("[blocks.0, blocks.1, norm]", "[patch_embed]")), expect=2)
    check("layer 'patch_embed' output (3, 8, 2, 4, 4) cannot be pooled with 'cls'" in r.stderr,
          f"pooling: error names the layer, shape and mode ({r.stderr.strip().splitlines()[-2][:150]})")
    # a corrupt video beside a good one: the good one is extracted, the bad one named, nothing partial
    bad_dir = f"{root}/stimuli/bad"
    os.makedirs(bad_dir)
    good = open(f"{media}/friends_s01e01a.mkv", "rb").read()
    open(f"{bad_dir}/friends_s01e02a.mkv", "wb").write(good)
    open(f"{bad_dir}/friends_s01e02b.mkv", "wb").write(good[:400] + bytes(range(256)) * 40)
    open(f"{bad_dir}/friends_s01e02c.mkv", "wb").write(b"not a movie at all")
    long_movie = f"{root}/long.mkv"
    sh("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "8", "-c:v", "libx264",
       "-pix_fmt", "yuv420p", long_movie)
    data = open(long_movie, "rb").read()
    open(f"{bad_dir}/friends_s01e02d.mkv", "wb").write(data[:len(data) // 3])
    r = extract(write_yaml(f"{root}/bad_video.yaml", base.replace(media, bad_dir)), expect=2)
    out = f"{root}/features_bad/video/friends/s1"
    written = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check(written == ["friends_s01e02a.h5"], f"corrupt videos: only the good episode written ({written})")
    check("friends_s01e02c.mkv" in r.stderr and "s01e02b" in r.stderr and "s01e02d.mkv: the video's frames end at"
          in r.stderr,
          "corrupt videos: both named in the errors: " + " | ".join(
              ln[:120] for ln in r.stderr.splitlines() if "failed" in ln))
    # device cuda where libtorch sees no GPU (Debian's libtorch is CPU-only): said, no CPU fallback
    r = extract(write_yaml(f"{root}/bad_cuda.yaml", base.replace("threads: 1,", "device: cuda, threads: 1,")),
                expect=1)
    check("device 'cuda' asked, but libtorch sees no CUDA device" in r.stderr, "device cuda without a GPU: said")
    # a missing video pattern, an unknown key
    r = extract(write_yaml(f"{root}/bad_glob.yaml", base.replace(media, f"{root}/nowhere")), expect=2)
    check("matches no file" in r.stderr, "no stimulus file: error says the pattern matches no file")
    r = extract(write_yaml(f"{root}/bad_key.yaml", base.replace("layout: BTCHW", "layuot: BTCHW")), expect=2)
    check("bad_key.yaml" in r.stderr and "video.layuot" in r.stderr and "unknown key" in r.stderr,
          "unknown key: error names the file, line and key path")


def main():
    with tempfile.TemporaryDirectory() as root:
        media = make_media(root)
        video_tests(root, media)
        audio_tests(root, media)
        text_tests(root)
        bad_input_tests(root, media)
        leftovers = [os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs if ".tmp" in f]
        check(not leftovers, f"no temporary files left ({leftovers[:3]})")
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
