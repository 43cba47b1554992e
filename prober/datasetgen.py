"""Generates the shipped live-video-to-video datasets, byte for byte reproducibly:

    .venv/bin/python -m prober.datasetgen --sources <ai-runner checkout> --out datasets

`--sources` is a checkout of livepeer/ai-runner (MIT) at SOURCE_COMMIT, or any folder holding its
`live/streamdiffusion/default_params/*.json` (the tests use the copy in tests/data/prober/ai-runner/). Each
source file's sha256 is checked against the one this generator was written for, so a different upstream
version is an error, not a silently different dataset.

- `streamdiffusion-good` (type good): each runner's published default parameter set, verbatim, with one
  prompt change.
- `streamdiffusion-random` (type random): `average` items — core prompts × model-specific variations drawn
  from sha256(seed | core id | index) (`Draw`), so any one item regenerates alone — and `edge` items at the
  limits the parameter rules allow (prober/sdparams.py).
- `streamdiffusion-bad` (type bad): each breaks exactly one of ai-runner's parameter rules; expected refused.

No wall clock, no process randomness: the same sources and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable

from prober.canonical import sha256_hex
from prober.datasets import Dataset, DatasetItem, check, items_bytes, make_item, manifest_bytes
from prober.sdparams import validate_for_model

GENERATOR_NAME = "prober.datasetgen"
GENERATOR_VERSION = "1"
VERSION = "1.0.0"
WORKFLOW = "live-video-to-video"
SOURCE_REPO = "https://github.com/livepeer/ai-runner"
SOURCE_COMMIT = "50a742cee7c5789ef4a10f8117f30de3758366a9"  # v0.14.1
PARAMS_DIR = "live/streamdiffusion/default_params"
# Livepeer model id → (default params file, its sha256 at SOURCE_COMMIT)
DEFAULT_PARAMS = {
    "streamdiffusion": ("sdturbo.json", "65038e9294f8762b9c20ab37f0937e31fcc7012b0f5b107dae2511117daa357a"),
    "streamdiffusion-sd15": ("sd15.json", "8d336fe2646c776b106ec1b6c20cbd9115c2d61b30bda53a6928e570a9876540"),
    "streamdiffusion-sd15-v2v": ("sd15_v2v.json", "653708dc9042a97b007f4053cb47ce545c11ab9088e840dfc2f0475c7b129d3f"),
    "streamdiffusion-sdxl": ("sdxl.json", "635da02cd6493c24e367702ad2abcdf9bee64275a16bdc601cfa63faccfa92b1"),
    "streamdiffusion-sdxl-v2v": ("sdxl_v2v.json", "d3bee5d807de00b780b8314378b59f3c9f57ad8c0886b91676b5f30d4aa9f8a2"),
    "streamdiffusion-sdxl-faceid": ("sdxl_faceid.json", "3f1adbcac97f4f2341a3a71712b292c5f8a54584ead6a97d02f972de48e2f86b"),
}
# The rules the edge and bad items are derived from (cited; their text is not needed to generate).
RULE_SOURCES = (
    ("live/streamdiffusion/pipeline/params.py", "6869b0041808205193f8103f91e849e8c7602ce06c55051147b2b6134a0639ad"),
    ("runner/src/runner/live/pipelines/interface.py", "6f39102a8829c90ce571446078aec5652ff45efba708ac3970aa7beeb373a86b"),
)
RANDOM_SEED = "naap/streamdiffusion-random/1"
SWITCH_AT_S = 10.0

# Core prompts of the random dataset: our own text (MIT, this project), id → prompt.
CORE_PROMPTS = {
    "portrait": "a person talking to the camera in a cozy room",
    "street": "a busy city street at night with neon signs",
    "nature": "a calm forest clearing with sunlight through the trees",
    "ocean": "waves rolling onto a rocky beach at sunset",
    "studio": "a product on a table under soft studio lights",
    "crowd": "a crowd dancing at an outdoor concert",
    "pet": "a dog playing with a ball in a garden",
    "desk": "hands typing on a laptop on a wooden desk",
}
STYLES = (
    "oil painting", "anime style", "cyberpunk, neon glow", "watercolor", "pencil sketch", "claymation",
    "pixel art", "stained glass", "ukiyo-e woodblock print", "low-poly 3d render", "film noir", "vaporwave",
)  # fmt: skip
SWITCH_PROMPTS = {
    "streamdiffusion": "a field of sunflowers under a blue sky",
    "streamdiffusion-sd15": "ancient temple ruins in the jungle, masterpiece",
    "streamdiffusion-sd15-v2v": "a snowy mountain village at dusk, masterpiece",
    "streamdiffusion-sdxl": "portrait made of swirling galaxies and stardust, cinematic",
    "streamdiffusion-sdxl-v2v": "portrait carved from polished marble, museum lighting",
    "streamdiffusion-sdxl-faceid": "van gogh self-portrait, thick brush strokes, starry background",
}
AVERAGE_PER_CORE = 3


class Draw:
    """Deterministic draws from sha256(key | n): the same key gives the same sequence on every platform."""

    def __init__(self, *key: object) -> None:
        self.key = "|".join(str(k) for k in key)
        self.n = 0

    def next64(self) -> int:
        d = hashlib.sha256(f"{self.key}|{self.n}".encode()).digest()
        self.n += 1
        return int.from_bytes(d[:8], "big")

    def below(self, n: int) -> int:
        return self.next64() % n

    def choice(self, seq: list[Any] | tuple[Any, ...]) -> Any:
        return seq[self.below(len(seq))]

    def uniform(self, lo: float, hi: float, ndigits: int = 2) -> float:
        return round(lo + (hi - lo) * self.next64() / 2**64, ndigits)


def read_sources(source_dir: Path) -> dict[str, dict[str, Any]]:
    """Livepeer model id → its default params, from `source_dir/live/streamdiffusion/default_params/`;
    ValueError when a file is missing or its sha256 is not the expected one."""
    out = {}
    for model, (name, want) in DEFAULT_PARAMS.items():
        path = Path(source_dir) / PARAMS_DIR / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e}") from None
        if sha256_hex(raw) != want:
            raise ValueError(f"{path}: sha256 {sha256_hex(raw)} is not ai-runner@{SOURCE_COMMIT[:8]}'s {want}")
        out[model] = json.loads(raw)
    return out


def _sources(with_rules: bool) -> list[dict[str, str]]:
    files = [(f"{PARAMS_DIR}/{name}", digest) for name, digest in DEFAULT_PARAMS.values()]
    if with_rules:
        files += list(RULE_SOURCES)
    return [
        {"name": f"ai-runner {p}", "url": f"{SOURCE_REPO}/blob/{SOURCE_COMMIT}/{p}", "path": p, "commit": SOURCE_COMMIT,
         "licence": "MIT", "sha256": d}  # fmt: skip
        for p, d in sorted(files)
    ]


def _dataset(id_: str, type_: str, description: str, items: list[DatasetItem], seed: str, with_rules: bool) -> Dataset:
    counts: dict[str, int] = {}
    for i in items:
        counts[i.kind] = counts.get(i.kind, 0) + 1
    manifest = {
        "schema_version": 1, "id": id_, "workflow": WORKFLOW, "type": type_, "version": VERSION,
        "description": description, "licence": "MIT", "sources": _sources(with_rules),
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": seed},
        "counts": counts, "items_sha256": sha256_hex(items_bytes(items)),
    }  # fmt: skip
    ds, errs = check(None, manifest, items_bytes(items))
    if ds is None:  # a generator bug: never write an invalid dataset
        raise ValueError(f"generated dataset {id_} is invalid: {errs[:5]}")
    return ds


def _switch(model: str, prompt: str) -> list[dict[str, Any]]:
    return [{"at_s": SWITCH_AT_S, "set": {"prompt": prompt}}]


def generate_good(source_dir: Path) -> Dataset:
    """One item per runner: its published default params, verbatim, and one prompt change."""
    defaults = read_sources(source_dir)
    items = [make_item("good", WORKFLOW, m, defaults[m], _switch(m, SWITCH_PROMPTS[m])) for m in sorted(defaults)]
    return _dataset("streamdiffusion-good", "good",
                    "Each StreamDiffusion runner's published default parameters (ai-runner default_params), verbatim, "
                    "with one prompt change 10 s in: outputs consistent on a given GPU.", items, "", False)  # fmt: skip


def average_item(defaults: dict[str, dict[str, Any]], core_id: str, index: int, seed: str = RANDOM_SEED) -> DatasetItem:
    """The `index`-th average item of a core prompt: everything random about it — its model, style, delta,
    guidance, seed, denoise steps, ControlNet scales, prompt switch — drawn from (seed, core id, index) alone."""
    model = Draw(seed, core_id, index, "model").choice(sorted(defaults))
    d = Draw(seed, core_id, index)
    p = copy.deepcopy(defaults[model])
    p["prompt"] = f"{CORE_PROMPTS[core_id]}, {d.choice(STYLES)}"
    p["delta"] = d.uniform(0.5, 0.9)
    p["guidance_scale"] = d.uniform(1.0, 1.5)
    p["seed"] = d.below(1_000_000)
    steps = p.get("num_inference_steps", 50)
    shifted, floor = [], 0
    for t in p.get("t_index_list", [12, 20, 32]):
        v = min(steps, max(floor, t + d.below(9) - 4))
        shifted.append(v)
        floor = v
    p["t_index_list"] = shifted
    for cn in p.get("controlnets") or []:
        cn["conditioning_scale"] = round(min(1.0, max(0.0, cn.get("conditioning_scale", 1.0) + d.uniform(-0.1, 0.1))), 3)
    other = d.choice(sorted(k for k in CORE_PROMPTS if k != core_id))
    return make_item("average", WORKFLOW, model, p, _switch(model, f"{CORE_PROMPTS[other]}, {d.choice(STYLES)}"))


def _edge_cases(defaults: dict[str, dict[str, Any]]) -> list[tuple[str, str, Callable[[dict[str, Any]], None]]]:
    long_prompt = ", ".join(f"{v}" for _, v in sorted(CORE_PROMPTS.items())) * 3

    def set_(**kw: Any) -> Callable[[dict[str, Any]], None]:
        return lambda p: p.update(kw)

    def sdxl_three_plus_disabled(p: dict[str, Any]) -> None:
        p["controlnets"] = copy.deepcopy(p["controlnets"][:3]) + [
            {"model_id": "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0", "conditioning_scale": 0.2,
             "preprocessor": "temporal_net_tensorrt", "preprocessor_params": {"flow_strength": 0.4}, "enabled": False}  # fmt: skip
        ]

    return [
        ("streamdiffusion", "smallest resolution", set_(width=384, height=384)),
        ("streamdiffusion", "largest resolution, not square", set_(width=1024, height=576)),
        ("streamdiffusion-sd15", "one inference step", set_(num_inference_steps=1, t_index_list=[0, 1])),
        ("streamdiffusion", "100 steps, four denoise indices", set_(num_inference_steps=100, t_index_list=[10, 40, 70, 100])),
        ("streamdiffusion-sd15", "weighted prompts and seeds",
         set_(prompt=[["a red fox in the snow", 0.7], ["a watercolor forest", 0.3]], seed=[[42, 0.5], [7, 0.5]])),
        ("streamdiffusion-sdxl", "long prompt", set_(prompt=long_prompt)),
        ("streamdiffusion", "non-ASCII prompt", set_(prompt="日本庭園、桜の花びら 🌸, watercolor")),
        ("streamdiffusion-sd15", "empty negative prompt, zero guidance, full delta", set_(negative_prompt="", guidance_scale=0.0, delta=1.0)),
        ("streamdiffusion-sdxl", "three enabled ControlNets and a disabled fourth", sdxl_three_plus_disabled),
        ("streamdiffusion-sdxl-v2v", "SDXL cached attention at its limit",
         set_(t_index_list=[20, 36], cached_attention={"enabled": True, "max_frames": 2, "interval": 1})),
        ("streamdiffusion-sd15-v2v", "cached attention max frames and interval",
         set_(cached_attention={"enabled": True, "max_frames": 4, "interval": 1440})),
        ("streamdiffusion-sdxl", "no ControlNets, IP-Adapter off", set_(controlnets=[], ip_adapter={"enabled": False})),
        ("streamdiffusion", "xformers, similar-image filter on", set_(acceleration="xformers", enable_similar_image_filter=True,
                                                                     similar_image_filter_threshold=0.99)),
    ]  # fmt: skip


def generate_random(source_dir: Path, seed: str = RANDOM_SEED) -> Dataset:
    """`average` items (each core prompt × AVERAGE_PER_CORE draws, the model drawn too) and `edge` items."""
    defaults = read_sources(source_dir)
    items = [average_item(defaults, core_id, index, seed) for core_id in sorted(CORE_PROMPTS) for index in range(AVERAGE_PER_CORE)]
    for model, _name, patch in _edge_cases(defaults):
        p = copy.deepcopy(defaults[model])
        patch(p)
        items.append(make_item("edge", WORKFLOW, model, p, _switch(model, SWITCH_PROMPTS[model])))
    return _dataset("streamdiffusion-random", "random",
                    "Real-world-like variety: core prompts with seeded, model-specific variations (average) and "
                    "parameters at the limits ai-runner's rules allow (edge).", items, seed, True)  # fmt: skip


def _bad_cases() -> list[tuple[str, str, Callable[[dict[str, Any]], Any]]]:
    def set_(**kw: Any) -> Callable[[dict[str, Any]], Any]:
        return lambda p: {**p, **kw}

    def cn_patch(i: int, **kw: Any) -> Callable[[dict[str, Any]], Any]:
        return lambda p: {**p, "controlnets": [{**c, **kw} if n == i else c for n, c in enumerate(p["controlnets"])]}

    def sdxl_four_enabled(p: dict[str, Any]) -> Any:
        extra = {"model_id": "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0", "conditioning_scale": 0.2,
                 "preprocessor": "temporal_net_tensorrt", "preprocessor_params": {}, "enabled": True}  # fmt: skip
        return {**p, "controlnets": [*p["controlnets"][:3], extra]}

    return [
        ("streamdiffusion", "extra_forbidden", set_(strength=0.5)),
        ("streamdiffusion", "width.multiple_of_64", set_(width=500)),
        ("streamdiffusion", "width.range", set_(width=256)),
        ("streamdiffusion-sd15", "height.range", set_(height=2048)),
        ("streamdiffusion", "num_inference_steps.range", set_(num_inference_steps=0)),
        ("streamdiffusion-sd15", "num_inference_steps.range", set_(num_inference_steps=101)),
        ("streamdiffusion", "t_index_list.length", set_(t_index_list=[])),
        ("streamdiffusion", "t_index_list.length", set_(t_index_list=[5, 10, 15, 20, 25])),
        ("streamdiffusion-sd15", "t_index_list.order", set_(t_index_list=[32, 15, 5])),
        ("streamdiffusion", "t_index_list.range", set_(t_index_list=[12, 20, 60])),
        ("streamdiffusion", "ip_adapter.model_type", set_(ip_adapter={"scale": 0.5, "enabled": True})),
        ("streamdiffusion", "controlnets.model_type", cn_patch(0, model_id="lllyasviel/control_v11f1p_sd15_depth")),
        ("streamdiffusion-sd15", "controlnets.duplicate", cn_patch(1, model_id="lllyasviel/control_v11f1p_sd15_depth")),
        ("streamdiffusion-sdxl", "controlnets.sdxl_max_enabled", sdxl_four_enabled),
        ("streamdiffusion-sd15-v2v", "cached_attention.acceleration", set_(acceleration="xformers")),
        ("streamdiffusion-sd15-v2v", "cached_attention.resolution", set_(width=768, height=768)),
        ("streamdiffusion-sdxl-v2v", "cached_attention.sdxl_steps", set_(t_index_list=[10, 20, 30, 36])),
        ("streamdiffusion-sdxl-v2v", "cached_attention.sdxl_max_frames",
         set_(t_index_list=[20, 36], cached_attention={"enabled": True, "max_frames": 3})),
        ("streamdiffusion", "model_id.literal", set_(model_id="runwayml/stable-diffusion-v1-5")),
        ("streamdiffusion", "prompt_interpolation_method.literal", set_(prompt_interpolation_method="cubic")),
        ("streamdiffusion", "controlnets.extra_forbidden", cn_patch(0, weight=1.0)),
        ("streamdiffusion-sdxl", "controlnets.preprocessor.literal", cn_patch(1, preprocessor="sobel")),
        ("streamdiffusion-sd15-v2v", "cached_attention.max_frames.range", set_(cached_attention={"enabled": True, "max_frames": 5})),
        ("streamdiffusion-sd15", "controlnets.conditioning_channels.range", cn_patch(0, conditioning_channels=7)),
        ("streamdiffusion", "params.type", lambda p: [p["prompt"]]),
    ]  # fmt: skip


def generate_bad(source_dir: Path) -> Dataset:
    """One item per broken rule, each a runner's default params with one change."""
    defaults = read_sources(source_dir)
    items = []
    for model, rule, mutate in _bad_cases():
        params = mutate(copy.deepcopy(defaults[model]))
        if not validate_for_model(model, params):
            raise ValueError(f"bad case {rule} on {model} passes every rule")
        items.append(make_item("bad", WORKFLOW, model, params, [], {"accepted": False, "error_class": "bad_request", "rule": rule}))
    return _dataset("streamdiffusion-bad", "bad",
                    "Inputs ai-runner's parameter rules refuse, one broken rule per item: they test error handling "
                    "and never count against an orchestrator.", items, "", True)  # fmt: skip


def write(ds: Dataset, root: Path) -> Path:
    """Write `ds` under root/<workflow>/<id>/<version>/ (manifest.json, items.jsonl); returns the folder."""
    folder = Path(root) / ds.workflow / ds.id / ds.version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_bytes(items_bytes(ds.items))
    (folder / "manifest.json").write_bytes(manifest_bytes(ds.manifest))
    return folder


def generate_all(source_dir: Path) -> list[Dataset]:
    return [generate_good(source_dir), generate_random(source_dir), generate_bad(source_dir)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prober.datasetgen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=Path, required=True, help="ai-runner checkout (or a folder with its default_params)")
    ap.add_argument("--out", type=Path, default=Path("datasets"), help="datasets root (default: datasets)")
    args = ap.parse_args(argv)
    try:
        for ds in generate_all(args.sources):
            print(write(ds, args.out), ds.manifest["counts"], ds.manifest["items_sha256"])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
