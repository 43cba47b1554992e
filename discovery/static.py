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
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from discovery.safety import url_host
from discovery.target import LABEL_NAME, Target, make_target
from exporter.common.eth import YAML_NUMBER_HINT, is_eth_address

MAX_FILE_BYTES = 32 * 1024 * 1024
# Problems reported per file: the first few, then a count (a file of 150,000 bad lines is one short message).
MAX_REPORTED_PROBLEMS = 10
_SHOWN_CHARS = 120  # how much of an offending entry a message quotes


@dataclass
class LoadResult:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Set when the file as a whole could not be used (unreadable, not a regular file, too large, not UTF-8, not
    # valid JSON, not a list, or not one usable entry in it): the caller keeps the file's last good targets.
    failure: str = ""


class TargetFileError(ValueError):
    """A targets file that cannot be used as a whole; the message names the file and says why."""


def _shown(entry: str) -> str:
    """An offending entry for a message: quoted, and cut short."""
    return repr(entry if len(entry) <= _SHOWN_CHARS else entry[:_SHOWN_CHARS] + "…")


def _yaml_number_hint(value: object) -> str:
    """What to tell someone whose YAML value became a number: an unquoted 0x… address is a hex integer to YAML."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return f" ({YAML_NUMBER_HINT})"


def normalise_url(entry: str, scheme: str = "http", path: str = "/metrics") -> str:
    """`host:port` → `http://host:port/metrics`; full URLs are kept, a missing path becomes /metrics."""
    entry = entry.strip()
    if "://" not in entry:
        entry = f"{scheme}://{entry}"
    parts = urlsplit(entry)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme must be http or https: {_shown(entry)}")
    if not parts.hostname:
        raise ValueError(f"no host in {_shown(entry)}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"bad port in {_shown(entry)}") from None
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
        hint = ""
        if isinstance(labels, dict):
            bad = next(((k, v) for k, v in labels.items() if not isinstance(v, str)), None)
            if bad is not None:
                what = "a number" if _yaml_number_hint(bad[1]) else f"a {type(bad[1]).__name__}, not a string"
                hint = f"; {str(bad[0])[:60]!r} is {what}{_yaml_number_hint(bad[1])}"
        result.errors.append(f"{where}: labels must map strings to strings{hint}")
        return
    bad = [k for k in labels if not LABEL_NAME.match(k)]
    if bad:
        result.errors.append(f"{where}: invalid label names {bad}")
        return
    orchestrator = labels.get("orchestrator", "")
    if orchestrator and not is_eth_address(orchestrator):
        result.errors.append(f"{where}: orchestrator {_shown(orchestrator)} is not a 0x-prefixed 20-byte hex address")
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
    result = _parse(text, name)
    if len(result.errors) > MAX_REPORTED_PROBLEMS:
        more = len(result.errors) - MAX_REPORTED_PROBLEMS
        result.errors = [*result.errors[:MAX_REPORTED_PROBLEMS], f"{name}: … and {more} more problems"]
    if not result.failure and result.errors and not result.targets:
        n = len(result.errors)
        result.failure = f"{name}: not one usable target in it ({n} problem{'s' if n > 1 else ''}, first: {result.errors[0]})"
    return result


def _parse(text: str, name: str) -> LoadResult:
    result = LoadResult()
    source = f"file:{name}"
    stripped = text.lstrip()
    data: Any
    if stripped.startswith("[") or stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            result.failure = f"{name}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
            result.errors.append(result.failure)
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
        result.failure = f"{name}: expected a list of target groups or URLs"
        result.errors.append(result.failure)
        return result
    for i, obj in enumerate(data):
        _group(obj, f"{name}[{i}]", result, source)
    return result


def read_target_text(path: str | Path) -> str:
    """The text of a targets file, read safely: only a regular file (after following symlinks: never a device,
    a FIFO or a socket, which could block or never end), at most MAX_FILE_BYTES, valid UTF-8. Opened without
    blocking, checked on the open descriptor, read with a bound. Raises TargetFileError naming the file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise TargetFileError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")  # fmt: skip
            raise TargetFileError(f"{p}: cannot read: {kind}, not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise TargetFileError(f"{p}: larger than {MAX_FILE_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:  # bounded even if the file grows while it is read
            chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise TargetFileError(f"{p}: larger than {MAX_FILE_BYTES} bytes")
    except OSError as e:
        raise TargetFileError(f"{p}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        raise TargetFileError(f"{p}: cannot read: not UTF-8 text (byte {e.start})") from None


def load_target_file(path: str | Path) -> LoadResult:
    """A targets file's targets and problems. Blocking file I/O: call it off the event loop (to_thread)."""
    try:
        text = read_target_text(path)
    except TargetFileError as e:
        return LoadResult(errors=[str(e)], failure=str(e))
    return parse_targets(text, str(path))


def dedupe(targets: list[Target]) -> list[Target]:
    """One target per URL; the first source that named it wins. Order is kept."""
    seen: dict[str, Target] = {}
    for t in targets:
        seen.setdefault(t.url, t)
    return list(seen.values())
