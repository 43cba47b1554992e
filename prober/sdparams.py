"""StreamDiffusion parameter rules, as ai-runner's validators state them — our own implementation, for
checking dataset items and for the stand-in runner. Source (MIT, Copyright (c) 2024 Livepeer): ai-runner
`live/streamdiffusion/pipeline/params.py` (StreamDiffusionParams and its sub-models and `check_*` validators)
and `runner/src/runner/live/pipelines/interface.py` (BaseParams), read at commit 50a742ce (v0.14.1).

`validate_params(params)` returns a list of "path: message" strings (empty = valid). It is strict on JSON
types (an int is a JSON integer, a bool a JSON boolean), which is stricter than pydantic's lax coercion:
dataset items must be unambiguous. Unknown keys are errors everywhere (`extra = "forbid"`).

`validate_for_model(model_id, params)` adds the Livepeer pipeline ↔ base model family rule: the runner image
for a Livepeer model id (go-livepeer ai/worker/docker.go livePipelineToImage; ai-runner
live/streamdiffusion/main.py + default_params/) is built for one family (sd21, sd15, sdxl).
"""

from __future__ import annotations

from typing import Any

MODEL_ID_TO_TYPE = {
    "stabilityai/sd-turbo": "sd21",
    "stabilityai/sdxl-turbo": "sdxl",
    "prompthero/openjourney-v4": "sd15",
    "Lykon/dreamshaper-8": "sd15",
}
LIVEPEER_MODEL_TYPES = {
    "streamdiffusion": "sd21",
    "streamdiffusion-sd15": "sd15",
    "streamdiffusion-sd15-v2v": "sd15",
    "streamdiffusion-sdxl": "sdxl",
    "streamdiffusion-sdxl-v2v": "sdxl",
    "streamdiffusion-sdxl-faceid": "sdxl",
}
CONTROLNETS_BY_TYPE = {
    "sd21": (
        "thibaud/controlnet-sd21-openpose-diffusers", "thibaud/controlnet-sd21-hed-diffusers",
        "thibaud/controlnet-sd21-canny-diffusers", "thibaud/controlnet-sd21-depth-diffusers",
        "thibaud/controlnet-sd21-color-diffusers", "daydreamlive/TemporalNet2-stable-diffusion-2-1",
    ),
    "sd15": (
        "lllyasviel/control_v11f1p_sd15_depth", "lllyasviel/control_v11f1e_sd15_tile",
        "lllyasviel/control_v11p_sd15_canny", "daydreamlive/TemporalNet2-stable-diffusion-v1-5",
    ),
    "sdxl": (
        "xinsir/controlnet-depth-sdxl-1.0", "xinsir/controlnet-canny-sdxl-1.0", "xinsir/controlnet-tile-sdxl-1.0",
        "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0",
    ),
}  # fmt: skip
ALL_CONTROLNETS = tuple(c for cs in CONTROLNETS_BY_TYPE.values() for c in cs)
IPADAPTER_TYPES = ("sd15", "sdxl")
IMAGE_PROCESSORS = (
    "blur", "canny", "depth", "depth_tensorrt", "external", "feedback", "hed", "lineart", "mediapipe_pose",
    "mediapipe_segmentation", "openpose", "passthrough", "pose_tensorrt", "realesrgan_trt", "sharpen",
    "soft_edge", "standard_lineart", "temporal_net_tensorrt", "upscale",
)  # fmt: skip
LATENT_PROCESSORS = ("latent_feedback",)
WEIGHT_TYPES = (
    "linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input", "weak output", "weak middle",
    "strong middle", "style transfer", "composition", "strong style transfer", "style and composition",
    "style transfer precise", "composition precise",
)  # fmt: skip
IPADAPTER_MODEL_PATHS = (
    "h94/IP-Adapter/models/ip-adapter_sd15.bin", "h94/IP-Adapter/sdxl_models/ip-adapter_sdxl.bin",
    "h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin", "h94/IP-Adapter-FaceID/ip-adapter-faceid_sdxl.bin",
)  # fmt: skip
IMAGE_ENCODER_PATHS = ("h94/IP-Adapter/models/image_encoder", "h94/IP-Adapter/sdxl_models/image_encoder")
SDXL_CACHED_MAX_FRAMES = {1: 4, 2: 2, 3: 1}  # t_index_list length → most cached_attention.max_frames

# Class defaults the cross-field rules need when a key is absent (params.py, interface.py).
DEFAULTS = {"width": 512, "height": 512, "model_id": "stabilityai/sd-turbo", "num_inference_steps": 50,
            "t_index_list": [12, 20, 32], "acceleration": "tensorrt"}  # fmt: skip


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _one_of(*values: Any) -> Any:
    return lambda v: v in values


def _int_range(lo: int, hi: int, multiple: int = 1) -> Any:
    return lambda v: _is_int(v) and lo <= v <= hi and v % multiple == 0


def _weighted(kind: Any) -> Any:
    return lambda v: isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and kind(p[0]) and _is_num(p[1]) for p in v)


_STR = lambda v: isinstance(v, str)  # noqa: E731
_BOOL = lambda v: isinstance(v, bool)  # noqa: E731
_DICT = lambda v: isinstance(v, dict)  # noqa: E731

# field → (check, what it must be)
TOP: dict[str, tuple[Any, str]] = {
    "width": (_int_range(384, 1024, 64), "an integer 384–1024, a multiple of 64"),
    "height": (_int_range(384, 1024, 64), "an integer 384–1024, a multiple of 64"),
    "show_reloading_frame": (_BOOL, "a boolean"),
    "model_id": (_one_of(*MODEL_ID_TO_TYPE), f"one of {sorted(MODEL_ID_TO_TYPE)}"),
    "prompt": (lambda v: _STR(v) or _weighted(_STR)(v), "a string or a list of [prompt, weight] pairs"),
    "prompt_interpolation_method": (_one_of("linear", "slerp"), "linear or slerp"),
    "normalize_prompt_weights": (_BOOL, "a boolean"),
    "negative_prompt": (_STR, "a string"),
    "guidance_scale": (_is_num, "a number"),
    "delta": (_is_num, "a number"),
    "num_inference_steps": (_int_range(1, 100), "an integer 1–100"),
    "t_index_list": (lambda v: isinstance(v, list) and all(_is_int(x) for x in v), "a list of integers"),
    "lora_dict": (lambda v: v is None or (_DICT(v) and all(_is_num(x) for x in v.values())), "null or {lora: weight}"),
    "use_lcm_lora": (_BOOL, "a boolean"),
    "lcm_lora_id": (_STR, "a string"),
    "acceleration": (_one_of("none", "xformers", "tensorrt"), "none, xformers or tensorrt"),
    "use_safety_checker": (_BOOL, "a boolean"),
    "safety_checker_threshold": (_is_num, "a number"),
    "use_denoising_batch": (_BOOL, "a boolean"),
    "do_add_noise": (_BOOL, "a boolean"),
    "skip_diffusion": (_BOOL, "a boolean"),
    "seed": (lambda v: _is_int(v) or _weighted(_is_int)(v), "an integer or a list of [seed, weight] pairs"),
    "seed_interpolation_method": (_one_of("linear", "slerp"), "linear or slerp"),
    "normalize_seed_weights": (_BOOL, "a boolean"),
    "enable_similar_image_filter": (_BOOL, "a boolean"),
    "similar_image_filter_threshold": (_is_num, "a number"),
    "similar_image_filter_max_skip_frame": (_is_int, "an integer"),
    "controlnets": (lambda v: isinstance(v, list), "a list"),
    "ip_adapter": (_DICT, "an object"),
    "ip_adapter_style_image_url": (_STR, "a string"),
    "image_preprocessing": (lambda v: v is None or _DICT(v), "null or an object"),
    "image_postprocessing": (lambda v: v is None or _DICT(v), "null or an object"),
    "latent_preprocessing": (lambda v: v is None or _DICT(v), "null or an object"),
    "latent_postprocessing": (lambda v: v is None or _DICT(v), "null or an object"),
    "cached_attention": (_DICT, "an object"),
}
CONTROLNET: dict[str, tuple[Any, str]] = {
    "model_id": (_one_of(*ALL_CONTROLNETS), "a known ControlNet id"),
    "conditioning_scale": (_is_num, "a number"),
    "conditioning_channels": (lambda v: v is None or _int_range(1, 6)(v), "null or an integer 1–6"),
    "preprocessor": (_one_of(*IMAGE_PROCESSORS), "a known image processor"),
    "preprocessor_params": (_DICT, "an object"),
    "enabled": (_BOOL, "a boolean"),
    "control_guidance_start": (_is_num, "a number"),
    "control_guidance_end": (_is_num, "a number"),
}
IP_ADAPTER: dict[str, tuple[Any, str]] = {
    "type": (_one_of("regular", "faceid"), "regular or faceid"),
    "ipadapter_model_path": (lambda v: v is None or v in IPADAPTER_MODEL_PATHS, "null or a known model path"),
    "image_encoder_path": (lambda v: v is None or v in IMAGE_ENCODER_PATHS, "null or a known encoder path"),
    "insightface_model_name": (lambda v: v is None or v == "buffalo_l", "null or buffalo_l"),
    "scale": (_is_num, "a number"),
    "weight_type": (lambda v: v is None or v in WEIGHT_TYPES, "null or a known weight type"),
    "enabled": (_BOOL, "a boolean"),
}
CACHED_ATTENTION: dict[str, tuple[Any, str]] = {
    "enabled": (_BOOL, "a boolean"),
    "max_frames": (_int_range(1, 4), "an integer 1–4"),
    "interval": (_int_range(1, 1440), "an integer 1–1440"),
}


def _fields(obj: dict[str, Any], spec: dict[str, tuple[Any, str]], path: str, required: tuple[str, ...] = ()) -> list[str]:
    out = [f"{path}{k}: unknown field" for k in sorted(obj) if k not in spec]
    out += [f"{path}{k}: required" for k in required if k not in obj]
    for k, (check, what) in spec.items():
        if k in obj and not check(obj[k]):
            out.append(f"{path}{k}: must be {what}, got {str(obj[k])[:60]!r}")
    return out


def _processing(v: Any, path: str, names: tuple[str, ...]) -> list[str]:
    if v is None:
        return []
    out = _fields(v, {"enabled": (_BOOL, "a boolean"), "processors": (lambda x: isinstance(x, list), "a list")}, path + ".")
    processors = v.get("processors") if isinstance(v.get("processors"), list) else []
    for i, p in enumerate(processors):
        if not isinstance(p, dict):
            out.append(f"{path}.processors[{i}]: must be an object")
            continue
        spec = {"type": (_one_of(*names), f"one of {list(names)}"), "enabled": (_BOOL, "a boolean"), "params": (_DICT, "an object")}
        out += _fields(p, spec, f"{path}.processors[{i}].", required=("type",))
    return out


def validate_params(params: Any) -> list[str]:
    """Errors of a StreamDiffusion params object against ai-runner's rules ("path: message"; [] = valid)."""
    if not isinstance(params, dict):
        return ["params: must be an object"]
    errs = _fields(params, TOP, "")
    for i, cn in enumerate(params.get("controlnets") if isinstance(params.get("controlnets"), list) else []):
        if isinstance(cn, dict):
            errs += _fields(cn, CONTROLNET, f"controlnets[{i}].", required=("model_id",))
        else:
            errs.append(f"controlnets[{i}]: must be an object")
    if isinstance(params.get("ip_adapter"), dict):
        errs += _fields(params["ip_adapter"], IP_ADAPTER, "ip_adapter.")
    if isinstance(params.get("cached_attention"), dict):
        errs += _fields(params["cached_attention"], CACHED_ATTENTION, "cached_attention.")
    for key, names in (("image_preprocessing", IMAGE_PROCESSORS), ("image_postprocessing", IMAGE_PROCESSORS),
                       ("latent_preprocessing", LATENT_PROCESSORS), ("latent_postprocessing", LATENT_PROCESSORS)):  # fmt: skip
        if isinstance(params.get(key), dict):
            errs += _processing(params[key], key, names)
    if errs:
        return errs  # the cross-field rules assume well-typed fields
    return _cross_rules(params)


def _cross_rules(p: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    get = lambda k: p.get(k, DEFAULTS.get(k))  # noqa: E731
    model_type = MODEL_ID_TO_TYPE[get("model_id")]
    steps, t_index = get("num_inference_steps"), get("t_index_list")
    # check_t_index_list
    if not 1 <= len(t_index) <= 4:
        errs.append("t_index_list: must have 1 to 4 elements")
    for i, v in enumerate(t_index):
        if not 0 <= v <= steps:
            errs.append(f"t_index_list[{i}]: {v} is outside 0–num_inference_steps ({steps})")
    for i in range(1, len(t_index)):
        if t_index[i] < t_index[i - 1]:
            errs.append(f"t_index_list: must be non-decreasing ({t_index[i]} < {t_index[i - 1]})")
            break
    # check_ip_adapter: the field's default is disabled; an object given without `enabled` is enabled
    ip = p.get("ip_adapter")
    if isinstance(ip, dict) and ip.get("enabled", True) and model_type not in IPADAPTER_TYPES:
        errs.append(f"ip_adapter: not supported for {get('model_id')} ({model_type})")
    # check_controlnets
    cns = p.get("controlnets") or []
    ids = [cn["model_id"] for cn in cns]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        errs.append(f"controlnets: duplicate model_id {dups}")
    wrong = sorted({i for i in ids if i not in CONTROLNETS_BY_TYPE[model_type]})
    if wrong:
        errs.append(f"controlnets: {wrong} not allowed for {get('model_id')} ({model_type})")
    enabled = sum(1 for cn in cns if cn.get("enabled", True))
    if model_type == "sdxl" and enabled > 3:
        errs.append(f"controlnets: SDXL allows at most 3 enabled, got {enabled}")
    # check_cached_attention: the field's default is disabled; an object given without `enabled` is enabled
    ca = p.get("cached_attention")
    if isinstance(ca, dict) and ca.get("enabled", True):
        if get("acceleration") != "tensorrt":
            errs.append("cached_attention: requires acceleration 'tensorrt'")
        if get("width") != 512 or get("height") != 512:
            errs.append("cached_attention: requires 512×512")
        if model_type == "sdxl":
            steps_n, frames = len(t_index), ca.get("max_frames", 1)
            if steps_n >= 4:
                errs.append(f"cached_attention: SDXL supports at most 3 denoise steps, got {steps_n}")
            elif frames > SDXL_CACHED_MAX_FRAMES.get(steps_n, 0):
                errs.append(f"cached_attention: SDXL with {steps_n} step(s) allows max_frames ≤ {SDXL_CACHED_MAX_FRAMES.get(steps_n, 0)}, got {frames}")
    return errs


def validate_for_model(model_id: str, params: Any) -> list[str]:
    """validate_params plus: `model_id` is a known Livepeer StreamDiffusion model id and the params' base model
    belongs to the family its runner is built for."""
    if model_id not in LIVEPEER_MODEL_TYPES:
        return [f"model_id: {model_id!r} is not a StreamDiffusion model id ({sorted(LIVEPEER_MODEL_TYPES)})"]
    errs = validate_params(params)
    if not errs:
        base = params.get("model_id", DEFAULTS["model_id"])
        if MODEL_ID_TO_TYPE[base] != LIVEPEER_MODEL_TYPES[model_id]:
            errs.append(f"params.model_id: {base} ({MODEL_ID_TO_TYPE[base]}) does not run on {model_id} ({LIVEPEER_MODEL_TYPES[model_id]})")
    return errs
