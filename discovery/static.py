"""Static targets: from settings, or files in Prometheus file_sd format (JSON or YAML) or plain URL lists.

file_sd: ``[{"targets": ["host:port", ...], "labels": {"orchestrator": "0x…", "region": "eu"}}]``; the
special labels ``__scheme__`` and ``__metrics_path__`` work as in Prometheus. A plain list is a JSON/YAML
list of URLs, or a text file with one URL per line (``#`` starts a comment). Entries that cannot be used
are reported one by one and skipped; the rest load. A file that looks like JSON but is not valid JSON is an
error (it is never read as a list of URLs).

A target without an orchestrator takes, at each scrape, the address its exporter declares (marked
`self_declared` on its scrape rows): the operator who wrote the file vouches for the URL. A target whose
exporter declares none fails its scrapes with `identity_mismatch` — it is never scraped and left unscored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from discovery.safety import url_host
from discovery.target import LABEL_NAME, Target, make_target
from exporter.common.eth import is_eth_address
MAX_FILE_BYTES = 32 * 1024 * 1024


@dataclass
class LoadResult:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def normalise_url(entry: str, scheme: str = "http", path: str = "/metrics") -> str:
    """`host:port` → `http://host:port/metrics`; full URLs are kept, a missing path becomes /metrics."""
    entry = entry.strip()
    if "://" not in entry:
        entry = f"{scheme}://{entry}"
    parts = urlsplit(entry)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme must be http or https: {entry!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {entry!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"bad port in {entry!r}") from None
    if not parts.path or parts.path == "/":
        parts = parts._replace(path=path)
    hp = url_host(parts.geturl())
    if not isinstance(hp, str):  # the host as a resolver sees it: one spelling per host
        host = f"[{hp[0]}]" if ":" in hp[0] else hp[0]
        netloc = parts.netloc.rsplit("@", 1)
        hostport = host if parts.port is None else f"{host}:{parts.port}"
        parts = parts._replace(netloc=hostport if len(netloc) == 1 else f"{netloc[0]}@{hostport}")
    return parts.geturl()


def _group(obj: Any, where: str, result: LoadResult, source: str) -> None:
    if isinstance(obj, str):
        try:
            result.targets.append(make_target(normalise_url(obj), source=source))
        except ValueError as e:
            result.errors.append(f"{where}: {e}")
        return
    if not isinstance(obj, dict) or not isinstance(obj.get("targets"), list):
        result.errors.append(f"{where}: expected a URL string or {{targets: [...], labels: {{...}}}}")
        return
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        result.errors.append(f"{where}: labels must map strings to strings")
        return
    bad = [k for k in labels if not LABEL_NAME.match(k)]
    if bad:
        result.errors.append(f"{where}: invalid label names {bad}")
        return
    orchestrator = labels.get("orchestrator", "")
    if orchestrator and not is_eth_address(orchestrator):
        result.errors.append(f"{where}: orchestrator {orchestrator!r} is not a 0x-prefixed 20-byte hex address")
        return
    scheme = labels.get("__scheme__", "http")
    path = labels.get("__metrics_path__", "/metrics")
    plain = {k: v for k, v in labels.items() if not k.startswith("__") and k != "orchestrator"}
    for j, t in enumerate(obj["targets"]):
        if not isinstance(t, str):
            result.errors.append(f"{where}.targets[{j}]: not a string")
            continue
        try:
            url = normalise_url(t, scheme, path)
        except ValueError as e:
            result.errors.append(f"{where}.targets[{j}]: {e}")
            continue
        result.targets.append(make_target(url, orchestrator, plain, source=source))


def parse_targets(text: str, name: str = "<targets>") -> LoadResult:
    result = LoadResult()
    source = f"file:{name}"
    stripped = text.lstrip()
    data: Any
    if stripped.startswith("[") or stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            result.errors.append(f"{name}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})")
            return result
    else:
        data = None
    if data is None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
    if isinstance(data, str) or data is None:
        # One URL per line.
        for i, line in enumerate(text.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                result.targets.append(make_target(normalise_url(line), source=source))
            except ValueError as e:
                result.errors.append(f"{name}:{i}: {e}")
        return result
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        result.errors.append(f"{name}: expected a list of target groups or URLs")
        return result
    for i, obj in enumerate(data):
        _group(obj, f"{name}[{i}]", result, source)
    return result


def load_target_file(path: str | Path) -> LoadResult:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            return LoadResult(errors=[f"{p}: larger than {MAX_FILE_BYTES} bytes"])
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return LoadResult(errors=[f"{p}: cannot read: {e}"])
    return parse_targets(text, str(p))


def dedupe(targets: list[Target]) -> list[Target]:
    """One target per URL; the first source that named it wins. Order is kept."""
    seen: dict[str, Target] = {}
    for t in targets:
        seen.setdefault(t.url, t)
    return list(seen.values())
