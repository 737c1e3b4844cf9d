"""Tiny PyTorch models for the extraction tests (issue #6), made at test time with Debian's
python3-torch: no download, fixed seeds. Each is saved as TorchScript (scripted or traced) and kept
in eager form, where forward hooks give the reference outputs of named submodules."""
import torch
import torch.nn as nn


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c, 2 * c)
        self.fc2 = nn.Linear(2 * c, c)

    def forward(self, x):
        return x + self.fc2(torch.tanh(self.fc1(x)))


class TinyVideo(nn.Module):
    """Clip model, input (B, T, 3, H, W) (layout BTCHW) or (B, 3, T, H, W) (BCTHW): a 3-D patch
    embedding to tokens (B, N, 8), two residual MLP blocks, a LayerNorm, a head."""

    def __init__(self, channels_first: bool = False):
        super().__init__()
        self.channels_first = channels_first
        self.patch_embed = nn.Conv3d(3, 8, kernel_size=(2, 4, 4), stride=(2, 4, 4))
        self.blocks = nn.ModuleList([Mlp(8), Mlp(8)])
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        if not self.channels_first:
            x = x.permute(0, 2, 1, 3, 4)
        x = self.patch_embed(x)                  # (B, 8, T', H', W')
        x = x.flatten(2).transpose(1, 2)         # (B, N, 8)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x.mean(1))


class TinyImage(nn.Module):
    """Image model, input (N, 3, H, W) (layout frames): conv features (N, 6, h, w), pooled head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU())
        self.classifier = nn.Linear(6, 4)

    def forward(self, x):
        f = self.features(x)
        return self.classifier(f.mean((2, 3)))


class TinyAudio(nn.Module):
    """Audio model, input (B, S) waveform; returns a dict of named outputs."""

    def __init__(self):
        super().__init__()
        self.frontend = nn.Conv1d(1, 6, kernel_size=400, stride=160)
        self.encoder = Mlp(6)

    def forward(self, wav):
        h = torch.relu(self.frontend(wav.unsqueeze(1))).transpose(1, 2)  # (B, L, 6)
        e = self.encoder(h)
        return {"frontend": h, "encoder": e, "pooled": e.mean(1)}


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.mlp = Mlp(c)

    def forward(self, x):
        return self.mlp(x), x  # a tuple, as Hugging Face layers return


class TinyText(nn.Module):
    """Causal-LM-like text model, input ids (1, L) int64: embedding, two layers returning tuples."""

    def __init__(self, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.layers = nn.ModuleList([Layer(8), Layer(8)])

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)[0]
        return x


def make(kind: str, vocab: int = 64):
    torch.manual_seed({"video": 1, "video_cf": 2, "image": 3, "audio": 4, "text": 5}[kind])
    m = {"video": lambda: TinyVideo(False), "video_cf": lambda: TinyVideo(True), "image": TinyImage,
         "audio": TinyAudio, "text": lambda: TinyText(vocab)}[kind]()
    return m.eval()


def video():
    """The seeded TinyVideo of make("video"), as a factory for tools/export_torchscript.py --module."""
    return make("video")


def save(model, path: str, example, traced: bool = False):
    with torch.no_grad():
        sm = torch.jit.trace(model, example) if traced else torch.jit.script(model)
    sm.save(path)


def hooked_outputs(model, x, layers):
    """Outputs of `layers` (submodule paths or keys of a dict output) for input x, eager, no grad."""
    out = {}
    mods = dict(model.named_modules())
    handles = []
    for name in layers:
        if name in mods:
            handles.append(mods[name].register_forward_hook(
                lambda m, i, o, name=name: out.__setitem__(name, o[0] if isinstance(o, tuple) else o)))
    with torch.no_grad():
        res = model(x)
    for h in handles:
        h.remove()
    if isinstance(res, dict):
        for name in layers:
            if name in res:
                out[name] = res[name]
    return out


def pool(t, mode: str, channel_dim: int = -1):
    """The pooling of brainsweep's Pooling (torch_model.hpp), written independently."""
    t = t.float()
    cd = channel_dim % t.dim()
    if mode == "flatten":
        return t.reshape(t.shape[0], -1)
    if mode == "mean":
        dims = [d for d in range(1, t.dim()) if d != cd]
        return t.mean(dims) if dims else t
    if mode == "cls":
        return t[:, 0, :]
    if mode == "last":
        return t[:, -1, :]
    raise ValueError(mode)
