#!/usr/bin/env python3
"""reference.py - the benchmark generations of pipelines/gpu/run.sh run by
the PyTorch reference (stable-audio-tools and k-diffusion, random weights),
timed per stage on the same GPU, for comparison with presto-bench.

The reference sources are not part of presto: pack.sh --reference copies
snapshots of them into .gpu/ref (ignored by git) and this script imports
them from there. Only their model and sampler code runs; optional
dependencies the device image lacks (alias_free_torch, einops_exts, torchsde,
...) are replaced by empty stand-ins that the code paths used here never
call, and the Brownian-tree noise of dpmpp-3m-sde by plain Gaussian noise of
the same variance (cheaper than the tree: it can only favour the reference).

    python3 pipelines/gpu/reference.py --preset sao1 [--runs 3] [--dtype fp32]

--tiny shrinks every preset (widths, depths, frames, steps) and --device cpu
runs on the CPU: a check of this script and its calls into the reference
on any machine with PyTorch, before a GPU's time is spent on it.

Prints one JSON object per preset with the fields of presto-bench --json
(encode_s, sample_s, decode_s, end_to_end_s, step_s, gpu_peak_bytes, ...).
"""
import argparse
import contextlib
import importlib.abc
import importlib.machinery
import json
import math
import os
import sys
import time
import traceback
import types

import torch

OPTIONAL = {"alias_free_torch", "einops_exts", "torchsde", "dac", "encodec", "laion_clap", "g2p_en",
            "vector_quantize_pytorch", "local_attention", "wandb", "prefigure", "auraloss", "ema_pytorch",
            "v_diffusion_pytorch", "webdataset", "pywt", "pedalboard", "clip", "cleanfid", "kornia", "jsonmerge",
            "dctorch", "gradio", "pytorch_lightning", "lightning", "torchdiffeq"}


class _Stub(types.ModuleType):
    """A module whose every attribute is a placeholder class."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        cls = type(name, (), {"__init__": lambda self, *a, **k: None})
        setattr(self, name, cls)
        return cls


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on sys.meta_path: optional packages that are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OPTIONAL:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _Stub(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def _namespace(name, path):
    """A package object for `name` without running its __init__.py."""
    m = types.ModuleType(name)
    m.__path__ = [path]
    sys.modules[name] = m
    return m


def load_reference(ref):
    sys.meta_path.append(_StubFinder())
    if not hasattr(torch.backends.cuda, "sdp_kernel"):
        torch.backends.cuda.sdp_kernel = lambda *a, **k: contextlib.nullcontext()
    sat = os.path.join(ref, "stable-audio-tools", "stable_audio_tools")
    kd = os.path.join(ref, "k-diffusion", "k_diffusion")
    for name, path in [("stable_audio_tools", sat), ("stable_audio_tools.models", os.path.join(sat, "models")),
                       ("stable_audio_tools.inference", os.path.join(sat, "inference")),
                       ("stable_audio_tools.data", os.path.join(sat, "data")), ("k_diffusion", kd)]:
        _namespace(name, path)
    import k_diffusion.sampling as ks
    import k_diffusion.external as ke
    sys.modules["k_diffusion"].sampling = ks
    sys.modules["k_diffusion"].external = ke

    class GaussianNoise:  # stands for BrownianTreeNoiseSampler
        def __init__(self, x, *a, **k):
            self.shape, self.device, self.dtype = x.shape, x.device, x.dtype

        def __call__(self, sigma, sigma_next):
            return torch.randn(self.shape, device=self.device, dtype=self.dtype)

    ks.BrownianTreeNoiseSampler = GaussianNoise
    with contextlib.redirect_stdout(sys.stderr):  # its import notes (flash_attn, ...): stdout is JSON
        from stable_audio_tools.models.dit import DiffusionTransformer
        from stable_audio_tools.models.autoencoders import OobleckDecoder
        from stable_audio_tools.inference import sampling as sat_sampling
    return DiffusionTransformer, OobleckDecoder, sat_sampling, ke


PRESETS = {
    # SAO 1.0: 47.55 s, dpmpp-3m-sde 100 steps, cfg 7 (sigma 0.3 to 500, rho 1)
    "sao1": dict(dit=dict(io_channels=64, embed_dim=1536, depth=24, num_heads=24, cond_token_dim=768,
                          global_cond_dim=1536, project_cond_tokens=False),
                 frames=1024, steps=100, cfg=7.0, sampler="dpmpp-3m-sde", keep=1.0, objective="v"),
    # the Presto-LS shape: 32 s, 4 steps, no CFG, 60% of the blocks
    "presto-ls": dict(dit=dict(io_channels=64, embed_dim=1536, depth=24, num_heads=24, cond_token_dim=768,
                               global_cond_dim=1536, project_cond_tokens=False),
                      frames=690, steps=4, cfg=1.0, sampler="renoise", keep=0.6, objective="v"),
    # SAO Small: 11.9 s, 8 pingpong steps, no CFG
    "saos": dict(dit=dict(io_channels=64, embed_dim=1024, depth=16, num_heads=8, cond_token_dim=768,
                          global_cond_dim=768, project_cond_tokens=True, attn_kwargs={"qk_norm": "ln"}),
                 frames=256, steps=8, cfg=1.0, sampler="pingpong", keep=1.0, objective="rectified_flow"),
}


def shrink(p):
    """The preset at toy sizes, for --tiny."""
    p = dict(p, dit=dict(p["dit"]), frames=12, steps=min(p["steps"], 3))
    # heads of 64 as in the real ones (the reference's rotary embedding needs 32 or more)
    p["dit"].update(embed_dim=128, depth=5, num_heads=2, cond_token_dim=64,
                    global_cond_dim=128 if p["dit"]["global_cond_dim"] == p["dit"]["embed_dim"] else 32)
    p["decoder"] = dict(channels=4)
    p["t5"] = dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2)
    return p


def sync(dev):
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def run_preset(name, p, args, DiT, Decoder, sat_sampling, ke):
    dev = args.device
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    dit = DiT(**p["dit"], transformer_type="continuous_transformer", diffusion_objective=p["objective"])
    if p["keep"] < 1:  # a layer budget: drop blocks, evenly spread
        layers = dit.transformer.layers
        depth = len(layers)
        keep = [k for k in range(depth) if math.floor((k + 1) * p["keep"] + 0.5) > math.floor(k * p["keep"] + 0.5)]
        dit.transformer.layers = torch.nn.ModuleList([layers[k] for k in keep])
    dit = dit.to(dev, dtype).eval()
    dec = Decoder(out_channels=2, channels=p.get("decoder", {}).get("channels", 128), latent_dim=64, c_mults=[1, 2, 4, 8, 16], strides=[2, 4, 4, 8, 8],
                  use_snake=True, final_tanh=False).to(dev, dtype).eval()
    from transformers import T5Config, T5EncoderModel
    t5_shape = p.get("t5", dict(d_model=768, d_kv=64, num_heads=12, d_ff=3072, num_layers=12))
    t5 = T5EncoderModel(T5Config(vocab_size=32128, feed_forward_proj="relu", **t5_shape)).to(dev).eval()
    torch.backends.cuda.matmul.allow_tf32 = False  # as generate_diffusion_cond sets it
    torch.backends.cudnn.allow_tf32 = False
    T, C, S = p["frames"], 64, 130
    ids = torch.randint(0, 32128, (1, 128), device=dev)
    cross = torch.randn(1, S, p["dit"]["cond_token_dim"], device=dev, dtype=dtype)
    mask = torch.ones(1, S, device=dev, dtype=torch.bool)
    glob = torch.randn(1, p["dit"]["global_cond_dim"], device=dev, dtype=dtype)
    # DiffusionTransformer.forward's own arguments (DiTWrapper's batch_cfg
    # and rescale_cfg stop there: the transformer blocks take no others)
    cond = dict(cross_attn_cond=cross, cross_attn_cond_mask=mask, global_embed=glob, cfg_scale=p["cfg"],
                scale_phi=0.0)
    stamps = []

    def callback(info):
        sync(dev)
        stamps.append(time.perf_counter())

    def sample(noise):
        if p["sampler"] == "dpmpp-3m-sde":
            return sat_sampling.sample_k(dit, noise, None, steps=p["steps"], sampler_type="dpmpp-3m-sde",
                                         sigma_min=0.3, sigma_max=500, rho=1.0, device=dev, callback=callback, **cond)
        if p["sampler"] == "pingpong":
            return sat_sampling.sample_rf(dit, noise, init_data=None, steps=p["steps"], sampler_type="pingpong",
                                          sigma_max=1, device=dev, callback=callback, **cond)
        # few-step renoising sampler (the shape of Presto's): denoise, then renoise to the next level
        den = ke.VDenoiser(dit)
        sig = sat_sampling.K.sampling.get_sigmas_polyexponential(p["steps"], 0.3, 500, 1.0, device=dev)
        x = noise * sig[0]
        for i in range(p["steps"]):
            d = den(x, sig[i] * x.new_ones([1]), **cond)
            x = d + torch.randn_like(d) * sig[i + 1]
            callback(None)
        return x

    rows = []
    with torch.no_grad():
        for r in range(args.warmup + args.runs):
            sync(dev)
            t0 = time.perf_counter()
            t5(input_ids=ids)
            sync(dev)
            t1 = time.perf_counter()
            stamps.clear()
            stamps.append(t1)
            lat = sample(torch.randn(1, C, T, device=dev, dtype=dtype))
            sync(dev)
            t2 = time.perf_counter()
            dec(lat.to(dtype))
            sync(dev)
            t3 = time.perf_counter()
            if r >= args.warmup:
                rows.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0,
                             [stamps[i + 1] - stamps[i] for i in range(len(stamps) - 1)]))
    med = lambda v: sorted(v)[len(v) // 2]
    cuda = dev.startswith("cuda")
    seconds = T * 2048 / 44100
    steps = list(zip(*[r[4] for r in rows])) if rows and rows[0][4] else []
    return dict(preset=name, reference="stable-audio-tools + k-diffusion", dtype=args.dtype, seconds=seconds,
                latent_frames=T, steps=p["steps"], cfg=p["cfg"], blocks=len(dit.transformer.layers),
                runs=args.runs, encode_s=med([r[0] for r in rows]), sample_s=med([r[1] for r in rows]),
                decode_s=med([r[2] for r in rows]), end_to_end_s=med([r[3] for r in rows]),
                real_time_factor=seconds / med([r[3] for r in rows]), step_s=[med(list(s)) for s in steps],
                gpu_peak_bytes=torch.cuda.max_memory_allocated() if cuda else None, torch=torch.__version__,
                gpu=torch.cuda.get_device_name() if cuda else None, tiny=args.tiny)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default=".gpu/ref")
    ap.add_argument("--preset", action="append", choices=sorted(PRESETS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="toy sizes: a check of the script, not a benchmark")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    parts = load_reference(args.ref)
    for name in args.preset or ["sao1", "presto-ls", "saos"]:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        p = shrink(PRESETS[name]) if args.tiny else PRESETS[name]
        try:
            print(json.dumps(run_preset(name, p, args, *parts), indent=2), flush=True)
        except Exception as e:  # one preset failing does not stop the others
            traceback.print_exc()
            print(json.dumps({"preset": name, "error": repr(e)}), flush=True)
        if cuda:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
