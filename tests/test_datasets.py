"""The shipped datasets (datasets/live-video-to-video/*/1.0.0/): every one validates, the generated ones
regenerate byte for byte from ai-runner's published parameter files (a copy in tests/data/prober/ai-runner/,
MIT), one random item regenerates alone, and validate() names each kind of problem clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prober.canonical import sha256_hex
from prober.datasetgen import CORE_PROMPTS, RANDOM_SEED, average_item, generate_all, read_sources, write
from prober.datasets import discover, items_bytes, load, make_item, manifest_bytes, validate
from prober.sdparams import validate_for_model, validate_params

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"
SOURCES = Path(__file__).parent / "data" / "prober" / "ai-runner"
GOOD = DATASETS / "live-video-to-video" / "streamdiffusion-good" / "1.0.0"


def test_every_shipped_dataset_validates() -> None:
    folders = discover(DATASETS)
    assert len(folders) >= 3
    loaded = {}
    for folder in folders:
        assert validate(folder) == [], folder
        ds = load(folder)
        loaded[ds.type] = ds
        assert ds.version == "1.0.0" and ds.workflow == "live-video-to-video" and ds.manifest["licence"] == "MIT"
        assert all(s["licence"] == "MIT" and "ai-runner" in s["url"] for s in ds.manifest["sources"])
    assert set(loaded) == {"good", "random", "bad"}
    assert set(loaded["random"].manifest["counts"]) == {"average", "edge"}
    assert all(not i.accepted and i.expect["error_class"] == "bad_request" for i in loaded["bad"].items)
    assert {i.model_id for i in loaded["good"].items} == {
        "streamdiffusion", "streamdiffusion-sd15", "streamdiffusion-sd15-v2v", "streamdiffusion-sdxl",
        "streamdiffusion-sdxl-v2v", "streamdiffusion-sdxl-faceid",
    }  # fmt: skip


def test_good_items_are_the_runners_defaults_verbatim() -> None:
    defaults = read_sources(SOURCES)
    for item in load(GOOD).items:
        assert item.params == defaults[item.model_id] and len(item.schedule) == 1


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    for run in ("a", "b"):
        for ds in generate_all(SOURCES):
            write(ds, tmp_path / run)
    for run in ("a", "b"):
        for shipped in discover(DATASETS):
            mine = tmp_path / run / shipped.relative_to(DATASETS)
            for name in ("manifest.json", "items.jsonl"):
                assert (mine / name).read_bytes() == (shipped / name).read_bytes(), mine / name
    shipped_items = (DATASETS / "live-video-to-video" / "streamdiffusion-random" / "1.0.0" / "items.jsonl").read_bytes()
    assert json.loads((DATASETS / "live-video-to-video" / "streamdiffusion-random" / "1.0.0" / "manifest.json").read_text())["items_sha256"] == sha256_hex(shipped_items)


def test_one_random_item_regenerates_alone() -> None:
    random_ds = load(DATASETS / "live-video-to-video" / "streamdiffusion-random" / "1.0.0")
    defaults = read_sources(SOURCES)
    core = sorted(CORE_PROMPTS)[3]
    alone = average_item(defaults, core, 2, RANDOM_SEED)
    assert random_ds.item(alone.id) == alone
    assert average_item(defaults, core, 1, RANDOM_SEED).id != alone.id


def test_generator_refuses_other_sources(tmp_path: Path) -> None:
    shutil.copytree(SOURCES, tmp_path / "ai-runner")
    changed = tmp_path / "ai-runner" / "live" / "streamdiffusion" / "default_params" / "sd15.json"
    changed.write_text(changed.read_text().replace("masterpiece", "masterpiece!"))
    with pytest.raises(ValueError, match="sd15.json: sha256"):
        read_sources(tmp_path / "ai-runner")


def _copy(tmp_path: Path, folder: Path = GOOD) -> Path:
    dest = tmp_path / folder.relative_to(DATASETS)
    shutil.copytree(folder, dest)
    return dest


def _rewrite(folder: Path, items: list, **manifest_changes: object) -> None:
    """Write items (DatasetItems) and a manifest whose hash and counts match them, plus `manifest_changes`."""
    manifest = json.loads((folder / "manifest.json").read_text())
    raw = items_bytes(items)
    counts: dict[str, int] = {}
    for i in items:
        counts[i.kind] = counts.get(i.kind, 0) + 1
    manifest.update(items_sha256=sha256_hex(raw), counts=counts, **manifest_changes)
    (folder / "items.jsonl").write_bytes(raw)
    (folder / "manifest.json").write_bytes(manifest_bytes(manifest))


def test_validate_names_each_problem(tmp_path: Path) -> None:
    items = list(load(GOOD).items)
    # hash mismatch
    f = _copy(tmp_path / "hash")
    (f / "items.jsonl").write_bytes((f / "items.jsonl").read_bytes().replace(b"flowers", b"flower"))
    problems = validate(f)
    assert any(p.startswith("items.jsonl: sha256") and "does not match the manifest's items_sha256" in p for p in problems)
    assert any("is not the hash of the item's content" in p for p in problems)
    # duplicate ids
    f = _copy(tmp_path / "dup")
    _rewrite(f, [*items, items[0]])
    assert validate(f) == [f"items.jsonl:7: duplicate id {items[0].id} (first on line 1)"]
    # licences: the dataset's and a source's
    f = _copy(tmp_path / "lic")
    manifest = json.loads((f / "manifest.json").read_text())
    manifest["sources"][0]["licence"] = "GPL-3.0-only"
    _rewrite(f, items, licence="Proprietary", sources=manifest["sources"])
    assert validate(f) == [
        "manifest.json: licence: 'Proprietary' is not an accepted SPDX licence (MIT, Apache-2.0, BSD-2-Clause, BSD-3-Clause, CC0-1.0, CC-BY-4.0, ISC, Unlicense)",
        "manifest.json: sources[0]: licence: 'GPL-3.0-only' is not an accepted SPDX licence (MIT, Apache-2.0, BSD-2-Clause, BSD-3-Clause, CC0-1.0, CC-BY-4.0, ISC, Unlicense)",
    ]
    # params against the workflow's rules (ids recomputed, hashes right: only the params are wrong)
    f = _copy(tmp_path / "params")
    broken = make_item("good", items[0].workflow, items[0].model_id, {**items[0].params, "width": 500, "cfg": 7})
    switch = make_item("good", items[1].workflow, items[1].model_id, items[1].params, [{"at_s": 5, "set": {"t_index_list": [40, 30]}}])
    _rewrite(f, [broken, switch, *items[2:]])
    assert validate(f) == [
        "items.jsonl:1: params.cfg: unknown field",
        "items.jsonl:1: params.width: must be an integer 384–1024, a multiple of 64, got '500'",
        "items.jsonl:2: schedule[0] gives params.t_index_list: must be non-decreasing (30 < 40)",
    ]
    # a bad item that breaks no rule, and a kind that does not belong
    f = _copy(tmp_path / "kinds")
    harmless = make_item("bad", items[0].workflow, items[0].model_id, items[0].params, [], {"accepted": False, "error_class": "bad_request", "rule": "none"})
    _rewrite(f, [harmless, *items[1:]])
    assert validate(f) == [
        "items.jsonl:1: kind 'bad' does not belong in a 'good' dataset (allowed: ['good'])",
        "items.jsonl:1: params: a bad item must break a rule, but these pass every rule",
    ]
    # the folder must say what the manifest says
    moved = tmp_path / "moved" / "live-video-to-video" / "streamdiffusion-good" / "2.0.0"
    shutil.copytree(GOOD, moved)
    assert validate(moved) == ["manifest.json: workflow/id/version live-video-to-video/streamdiffusion-good/1.0.0 do not match the folder live-video-to-video/streamdiffusion-good/2.0.0"]
    assert validate(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: no manifest.json"]


def test_parameter_rules_follow_ai_runner() -> None:
    base = read_sources(SOURCES)
    sdxl = base["streamdiffusion-sdxl"]
    assert validate_params({"width": 448, "height": 1024}) == []
    assert validate_params({"t_index_list": [1, 2, 3, 4, 5]}) == ["t_index_list: must have 1 to 4 elements"]
    assert validate_params({"ip_adapter": {"scale": 1.0}}) == ["ip_adapter: not supported for stabilityai/sd-turbo (sd21)"]
    assert validate_params({"ip_adapter": {"enabled": False}}) == []  # disabled is allowed everywhere
    assert validate_params({"cached_attention": {"enabled": False}, "acceleration": "none"}) == []
    assert validate_params({**sdxl, "cached_attention": {"max_frames": 2}, "t_index_list": [10, 20, 30]}) == [
        "cached_attention: SDXL with 3 step(s) allows max_frames ≤ 1, got 2"
    ]
    assert validate_params({"seed": [[1, 0.5], [2, 0.5]], "prompt": [["a", 1.0]]}) == []
    assert validate_params({"seed": True}) == ["seed: must be an integer or a list of [seed, weight] pairs, got 'True'"]
    assert validate_for_model("streamdiffusion", sdxl) == ["params.model_id: stabilityai/sdxl-turbo (sdxl) does not run on streamdiffusion (sd21)"]
    assert validate_for_model("comfyui", {}) and validate_params([1]) == ["params: must be an object"]


def test_a_wheel_carries_the_shipped_datasets(tmp_path: Path) -> None:
    """pyproject.toml packages datasets/ (through the prober/bundled_datasets link), so an installed naap finds the
    datasets where ProberSettings looks by default. Built from a copy of the source, offline."""
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", "build", "dist", ".pytest_cache", ".naap")
    shutil.copytree(ROOT, src, symlinks=True, ignore=ignore)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = (tmp_path / "out").glob("naap_sla-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in discover(DATASETS):
        rel = folder.relative_to(DATASETS)
        for f in ("manifest.json", "items.jsonl"):
            assert f"prober/bundled_datasets/{rel.as_posix()}/{f}" in names
