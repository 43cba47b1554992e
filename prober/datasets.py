"""Datasets (design §10.4): `datasets/<workflow>/<dataset id>/<version>/manifest.json` + `items.jsonl`.

manifest.json (an object; `validate` checks every field):
  schema_version 1 · id (slug, = its folder) · workflow (= its folder) · type good | random | bad · version
  (semver X.Y.Z, = its folder) · description · licence (SPDX id of the dataset) · sources [{name, url,
  path, commit, licence, sha256}] (what it was derived from) · generator {name, version, seed} · counts
  {kind: n} · items_sha256 (sha256 hex of items.jsonl's bytes).
items.jsonl: one canonical JSON object per line (prober/canonical.py), exactly the keys
  id · kind good | average | edge | bad · workflow · model_id (the Livepeer model id of the start call) ·
  params (the FULL params object sent at start) · schedule [{"at_s": seconds after start, "set": {…}}]
  (params changes written to the control channel: the full params with these keys replaced) · expect
  ({"accepted": true} or {"accepted": false, "error_class": "bad_request", "rule": "<the rule broken>"}).
  `id` = the first 16 hex of sha256 of the canonical JSON of the item without `id`: stable, content-derived.

Kinds per type: good → good; random → average, edge; bad → bad. Items of kind `bad` must break at least one
of the workflow's parameter rules and never count against an orchestrator; every other item must pass them
all (prober/sdparams.py), its schedule applied too. Any change is a new version; probes record
"<id>@<version>" and the item id.

`validate(path)` returns every problem as "file[:line]: message" (empty list = valid); `load(path)` returns
the Dataset or raises DatasetError carrying that list. Sizes are bounded (items.jsonl ≤ 16 MiB, lines ≤ 256 KiB).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prober.canonical import canonical_json, sha256_hex
from prober.sdparams import validate_for_model

SCHEMA_VERSION = 1
TYPES = ("good", "random", "bad")
KINDS = ("good", "average", "edge", "bad")
KINDS_BY_TYPE = {"good": ("good",), "random": ("average", "edge"), "bad": ("bad",)}
# SPDX identifiers accepted for datasets and their sources (permissive or public-domain data licences).
LICENCES = ("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "CC-BY-4.0", "ISC", "Unlicense")
WORKFLOWS: dict[str, Callable[[str, Any], list[str]]] = {"live-video-to-video": validate_for_model}
ITEM_KEYS = ("expect", "id", "kind", "model_id", "params", "schedule", "workflow")
MANIFEST_KEYS = (
    "counts", "description", "generator", "id", "items_sha256", "licence", "schema_version", "sources", "type",
    "version", "workflow",
)  # fmt: skip
SOURCE_KEYS = ("commit", "licence", "name", "path", "sha256", "url")
MAX_ITEMS_BYTES = 16 << 20
MAX_LINE_BYTES = 256 << 10
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class DatasetError(ValueError):
    """A dataset that does not validate; `problems` lists every error."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"dataset {path} is invalid:\n  " + "\n  ".join(problems[:50]))
        self.problems = problems


@dataclass(frozen=True)
class DatasetItem:
    """One item (see module doc). `params` and `schedule` are JSON values (treat as read-only)."""

    id: str
    kind: str
    workflow: str
    model_id: str
    params: Any
    schedule: tuple[dict[str, Any], ...] = ()
    expect: dict[str, Any] = field(default_factory=lambda: {"accepted": True})

    def content(self) -> dict[str, Any]:
        return {"kind": self.kind, "workflow": self.workflow, "model_id": self.model_id, "params": self.params,
                "schedule": list(self.schedule), "expect": self.expect}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.content()}

    @property
    def accepted(self) -> bool:
        return bool(self.expect.get("accepted", True))

    def params_after(self, change: dict[str, Any]) -> Any:
        """The full params after a schedule entry's `set` (control messages replace, never merge)."""
        return {**self.params, **change} if isinstance(self.params, dict) else self.params


def item_id(content: dict[str, Any]) -> str:
    """First 16 hex of sha256 of the canonical JSON of an item's content (everything but `id`)."""
    return sha256_hex(canonical_json({k: v for k, v in content.items() if k != "id"}))[:16]


def make_item(kind: str, workflow: str, model_id: str, params: Any, schedule: list[dict[str, Any]] | None = None,
              expect: dict[str, Any] | None = None) -> DatasetItem:  # fmt: skip
    """An item with its id computed from its content."""
    item = DatasetItem("", kind, workflow, model_id, params, tuple(schedule or ()), expect or {"accepted": True})
    return DatasetItem(item_id(item.content()), kind, workflow, model_id, params, item.schedule, item.expect)


def items_bytes(items: list[DatasetItem] | tuple[DatasetItem, ...]) -> bytes:
    """items.jsonl: one canonical JSON line per item, in the given order, each ending in a newline."""
    return b"".join(canonical_json(i.to_dict()) + b"\n" for i in items)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """manifest.json as written: sorted keys, 2-space indent, UTF-8, trailing newline."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class Dataset:
    manifest: dict[str, Any]
    items: tuple[DatasetItem, ...]
    path: Path | None = None

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def type(self) -> str:
        return str(self.manifest["type"])

    @property
    def workflow(self) -> str:
        return str(self.manifest["workflow"])

    @property
    def ref(self) -> str:
        """"<id>@<version>", what a probe records."""
        return f"{self.id}@{self.version}"

    def item(self, item_id_: str) -> DatasetItem | None:
        return next((i for i in self.items if i.id == item_id_), None)


def dataset_path(root: Path, ref: str) -> Path:
    """The folder of "<workflow>/<id>@<version>" under `root`; ValueError when the reference is malformed."""
    m = re.fullmatch(r"([a-z0-9-]+)/([a-z0-9-]+)@(\d+\.\d+\.\d+)", ref)
    if not m:
        raise ValueError(f"dataset reference must be <workflow>/<id>@<version>, got {ref!r}")
    return Path(root) / m.group(1) / m.group(2) / m.group(3)


def discover(root: Path) -> list[Path]:
    """Every dataset folder under `root` (those holding a manifest.json), sorted."""
    return sorted(p.parent for p in Path(root).glob("*/*/*/manifest.json"))


def _check_manifest(m: Any, folder: Path | None) -> list[str]:
    if not isinstance(m, dict):
        return ["manifest.json: must be a JSON object"]
    errs = [f"manifest.json: {k}: missing" for k in MANIFEST_KEYS if k not in m]
    errs += [f"manifest.json: {k}: unknown field" for k in sorted(m) if k not in MANIFEST_KEYS]
    if errs:
        return errs
    if m["schema_version"] != SCHEMA_VERSION:
        errs.append(f"manifest.json: schema_version: must be {SCHEMA_VERSION}, got {m['schema_version']!r}")
    if not (isinstance(m["id"], str) and SLUG.match(m["id"])):
        errs.append(f"manifest.json: id: must be a lowercase slug, got {m['id']!r}")
    if m["workflow"] not in WORKFLOWS:
        errs.append(f"manifest.json: workflow: must be one of {sorted(WORKFLOWS)}, got {m['workflow']!r}")
    if m["type"] not in TYPES:
        errs.append(f"manifest.json: type: must be one of {list(TYPES)}, got {m['type']!r}")
    if not (isinstance(m["version"], str) and SEMVER.match(m["version"])):
        errs.append(f"manifest.json: version: must be semver X.Y.Z, got {m['version']!r}")
    if not (isinstance(m["description"], str) and 0 < len(m["description"]) <= 2000):
        errs.append("manifest.json: description: must be a non-empty string (≤ 2000 characters)")
    if m["licence"] not in LICENCES:
        errs.append(f"manifest.json: licence: {m['licence']!r} is not an accepted SPDX licence ({', '.join(LICENCES)})")
    errs += _check_sources(m["sources"])
    g = m["generator"]
    if not (isinstance(g, dict) and sorted(g) == ["name", "seed", "version"] and all(isinstance(v, str) for v in g.values())):
        errs.append("manifest.json: generator: must be {name, version, seed} (strings)")
    if not (isinstance(m["counts"], dict) and all(k in KINDS and isinstance(v, int) for k, v in m["counts"].items())):
        errs.append(f"manifest.json: counts: must map kinds {list(KINDS)} to integers")
    if not (isinstance(m["items_sha256"], str) and HEX64.match(m["items_sha256"])):
        errs.append("manifest.json: items_sha256: must be 64 lowercase hex characters")
    if folder is not None and not errs:
        want = (m["workflow"], m["id"], m["version"])
        got = (folder.parent.parent.name, folder.parent.name, folder.name)
        if want != got:
            errs.append(f"manifest.json: workflow/id/version {'/'.join(want)} do not match the folder {'/'.join(got)}")
    return errs


def _check_sources(sources: Any) -> list[str]:
    if not isinstance(sources, list):
        return ["manifest.json: sources: must be a list"]
    errs = []
    for i, s in enumerate(sources):
        where = f"manifest.json: sources[{i}]"
        if not (isinstance(s, dict) and sorted(s) == list(SOURCE_KEYS)):
            errs.append(f"{where}: must have exactly {list(SOURCE_KEYS)}")
            continue
        if s["licence"] not in LICENCES:
            errs.append(f"{where}: licence: {s['licence']!r} is not an accepted SPDX licence ({', '.join(LICENCES)})")
        if not (isinstance(s["sha256"], str) and HEX64.match(s["sha256"])):
            errs.append(f"{where}: sha256: must be 64 lowercase hex characters")
        if not (isinstance(s["url"], str) and s["url"].startswith("https://")):
            errs.append(f"{where}: url: must be an https URL")
    return errs


def _check_item(doc: Any, line: bytes, where: str, manifest: dict[str, Any]) -> tuple[DatasetItem | None, list[str]]:
    if not isinstance(doc, dict):
        return None, [f"{where}: must be a JSON object"]
    if sorted(doc) != list(ITEM_KEYS):
        return None, [f"{where}: must have exactly the keys {list(ITEM_KEYS)}, has {sorted(doc)}"]
    try:
        canonical = canonical_json(doc)
    except ValueError as e:
        return None, [f"{where}: {e}"]
    errs = []
    if canonical != line:
        errs.append(f"{where}: not in canonical JSON form (sorted keys, no spaces)")
    if doc["id"] != item_id(doc):
        errs.append(f"{where}: id {doc['id']!r} is not the hash of the item's content ({item_id(doc)})")
    if not all(isinstance(doc[k], str) for k in ("kind", "workflow", "model_id")):
        return None, [*errs, f"{where}: kind, workflow and model_id must be strings"]
    kind, workflow = doc["kind"], doc["workflow"]
    allowed = KINDS_BY_TYPE.get(manifest.get("type"), ())
    if kind not in allowed:
        errs.append(f"{where}: kind {kind!r} does not belong in a {manifest.get('type')!r} dataset (allowed: {list(allowed)})")
    if workflow != manifest.get("workflow"):
        errs.append(f"{where}: workflow {workflow!r} differs from the dataset's {manifest.get('workflow')!r}")
    schedule = doc["schedule"]
    if not (isinstance(schedule, list) and all(isinstance(s, dict) and sorted(s) == ["at_s", "set"] and isinstance(s["at_s"], (int, float))
                                               and not isinstance(s["at_s"], bool) and s["at_s"] > 0 and isinstance(s["set"], dict) for s in schedule)):  # fmt: skip
        errs.append(f"{where}: schedule: must be a list of {{\"at_s\": seconds > 0, \"set\": {{…}}}}")
        schedule = []
    expect = doc["expect"]
    rules = WORKFLOWS.get(workflow)
    if kind == "bad":
        if not (isinstance(expect, dict) and expect.get("accepted") is False and expect.get("error_class") == "bad_request"
                and isinstance(expect.get("rule"), str) and sorted(expect) == ["accepted", "error_class", "rule"]):  # fmt: skip
            errs.append(f"{where}: expect: a bad item must expect {{\"accepted\": false, \"error_class\": \"bad_request\", \"rule\": …}}")
        if rules is not None and not rules(doc["model_id"], doc["params"]):
            errs.append(f"{where}: params: a bad item must break a rule, but these pass every rule")
    else:
        if expect != {"accepted": True}:
            errs.append(f"{where}: expect: must be {{\"accepted\": true}} for a {kind} item")
        if rules is not None:
            errs += [f"{where}: params.{e}" for e in rules(doc["model_id"], doc["params"])]
            for n, s in enumerate(schedule):
                after = {**doc["params"], **s["set"]} if isinstance(doc["params"], dict) else doc["params"]
                errs += [f"{where}: schedule[{n}] gives params.{e}" for e in rules(doc["model_id"], after)]
    if errs:
        return None, errs
    return DatasetItem(doc["id"], kind, workflow, doc["model_id"], doc["params"], tuple(schedule), expect), []


def check(folder: Path | None, manifest: Any, items_raw: bytes) -> tuple[Dataset | None, list[str]]:
    """Validate a dataset given as its manifest (parsed) and items.jsonl bytes. (Dataset or None, problems)."""
    errs = _check_manifest(manifest, folder)
    if errs:
        return None, errs
    if len(items_raw) > MAX_ITEMS_BYTES:
        return None, [f"items.jsonl: larger than {MAX_ITEMS_BYTES} bytes"]
    if sha256_hex(items_raw) != manifest["items_sha256"]:
        errs.append(f"items.jsonl: sha256 {sha256_hex(items_raw)} does not match the manifest's items_sha256 {manifest['items_sha256']}")
    items: list[DatasetItem] = []
    seen: dict[str, int] = {}
    lines = items_raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif items_raw:
        errs.append("items.jsonl: must end with a newline")
    for n, line in enumerate(lines, 1):
        where = f"items.jsonl:{n}"
        if len(line) > MAX_LINE_BYTES:
            errs.append(f"{where}: line longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            doc = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            errs.append(f"{where}: not JSON: {e}")
            continue
        item, item_errs = _check_item(doc, line, where, manifest)
        errs += item_errs
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            if doc["id"] in seen:
                errs.append(f"{where}: duplicate id {doc['id']} (first on line {seen[doc['id']]})")
            else:
                seen[doc["id"]] = n
        if item is not None:
            items.append(item)
    if not lines:
        errs.append("items.jsonl: no items")
    counts: dict[str, int] = {}
    for i in items:
        counts[i.kind] = counts.get(i.kind, 0) + 1
    if not errs and counts != manifest["counts"]:
        errs.append(f"manifest.json: counts {manifest['counts']} do not match the items {counts}")
    if errs:
        return None, errs
    return Dataset(manifest, tuple(items), folder), []


def validate(path: Path) -> list[str]:
    """Every problem of the dataset folder at `path` ("file[:line]: message"); [] when it is valid."""
    return _read(Path(path))[1]


def load(path: Path) -> Dataset:
    """The dataset at `path`; DatasetError (with every problem) when it does not validate."""
    ds, errs = _read(Path(path))
    if ds is None:
        raise DatasetError(Path(path), errs)
    return ds


def _read(folder: Path) -> tuple[Dataset | None, list[str]]:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [f"{folder}: no manifest.json"]
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, [f"manifest.json: unreadable: {e}"]
    try:
        with open(folder / "items.jsonl", "rb") as f:
            raw = f.read(MAX_ITEMS_BYTES + 1)
    except OSError as e:
        return None, [f"items.jsonl: unreadable: {e}"]
    return check(folder, manifest, raw)
