#!/usr/bin/env python3
"""Export a PyTorch model to TorchScript for `brainsweep extract` (docs/extraction.md).

Run it where you have PyTorch and the model's weights (no download happens unless the model's own
loader does it). brainsweep reads the saved file with libtorch; it captures the outputs of named
submodules itself, so a plain export is enough for most models:

  # torchvision image model, per-frame (video.layout: frames), random weights or --weights DEFAULT
  tools/export_torchscript.py --torchvision resnet18 --input 1,3,224,224 --out resnet18.pt
  # a Hugging Face model, traced (torchscript=True config), hidden states returned as a dict:
  tools/export_torchscript.py --hf facebook/vjepa2-vitl-fpc64-256 --input 1,64,3,256,256 \\
      --layers encoder.layer.11,encoder.layer.23 --out vjepa2.pt
  tools/export_torchscript.py --hf openai/whisper-small --hf-part encoder --input 1,80,3000 --out whisper.pt
  tools/export_torchscript.py --hf meta-llama/Llama-3.2-1B --input-ids 32 --layers model.layers.7 --out llama.pt
  # any module: --module package.module:factory (called with no arguments)

--layers wraps the model so that forward returns a dict {layer: output} (first tensor of tuple
outputs), captured with forward hooks while tracing. Use it when brainsweep cannot reach a layer
through forward's calls (a layer called inside a loop that scripting kept, or a model whose
submodule calls tracing inlined); name the same layers in EXTRACT.yaml.
--check runs the saved file and the original on the example input and prints the largest
difference per output."""
import argparse
import importlib
import os
import sys

import torch


class LayerDict(torch.nn.Module):
    """forward(x) → {layer: output of that submodule}, captured with forward hooks."""

    def __init__(self, model, layers):
        super().__init__()
        self.model = model
        self.layers = layers
        self._out = {}
        mods = dict(model.named_modules())
        missing = [name for name in layers if name not in mods]
        if missing:
            raise SystemExit(f"layers not in the model: {missing}; available: {list(mods)[1:40]} ...")
        for name in layers:
            mods[name].register_forward_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, inputs, output):
            self._out[name] = output[0] if isinstance(output, (tuple, list)) else output
        return hook

    def forward(self, x):
        self._out = {}
        self.model(x)
        return {name: self._out[name] for name in self.layers}


def load_model(args):
    if args.torchvision:
        import torchvision
        return torchvision.models.get_model(args.torchvision, weights=args.weights)
    if args.hf:
        import transformers
        model = transformers.AutoModel.from_pretrained(args.hf, torchscript=True)
        return getattr(model, args.hf_part) if args.hf_part else model
    if args.module:
        sys.path.insert(0, os.getcwd())
        mod, _, fn = args.module.partition(":")
        return getattr(importlib.import_module(mod), fn)()
    raise SystemExit("give --torchvision, --hf or --module")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--torchvision", help="torchvision model name (torchvision.models.get_model)")
    ap.add_argument("--weights", default=None, help="torchvision weights (e.g. DEFAULT); default: random")
    ap.add_argument("--hf", help="Hugging Face model id or local folder (transformers.AutoModel)")
    ap.add_argument("--hf-part", help="attribute of the HF model to export (e.g. encoder)")
    ap.add_argument("--module", help="package.module:factory returning an nn.Module")
    ap.add_argument("--input", help="example float input shape, comma-separated (batch first)")
    ap.add_argument("--input-ids", type=int, help="example token-id input of this length (shape 1 × L, int64)")
    ap.add_argument("--layers", help="comma-separated submodule paths: forward returns them as a dict")
    ap.add_argument("--script", action="store_true", help="torch.jit.script instead of trace")
    ap.add_argument("--check", action="store_true", help="compare the saved model with the original")
    ap.add_argument("--out", required=True, help="TorchScript file to write")
    args = ap.parse_args()

    model = load_model(args).eval()
    if args.layers:
        model = LayerDict(model, args.layers.split(","))
    if args.input_ids:
        example = torch.randint(0, 100, (1, args.input_ids))
    elif args.input:
        example = torch.randn(*[int(s) for s in args.input.split(",")])
    else:
        raise SystemExit("give --input SHAPE or --input-ids L")
    with torch.no_grad():
        if args.script:
            exported = torch.jit.script(model)
        else:
            exported = torch.jit.trace(model, example, strict=False, check_trace=False)
    exported.save(args.out)
    print(f"wrote {args.out}")
    if args.check:
        with torch.no_grad():
            a, b = model(example), torch.jit.load(args.out)(example)
        if isinstance(a, dict):
            for k in a:
                print(f"{k}: max |diff| {(a[k] - b[k]).abs().max().item():.2e}")
        else:
            a = a[0] if isinstance(a, (tuple, list)) else a
            b = b[0] if isinstance(b, (tuple, list)) else b
            print(f"output: max |diff| {(a - b).abs().max().item():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
