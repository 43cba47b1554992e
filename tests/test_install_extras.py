"""Each install does what it says: the exporter's tests pass with only the exporter extra's packages, and on such
an install `naap --help` names the extra each collector command needs instead of failing with a traceback.

An exporter-only install is reproduced by blocking the collector extra's packages from import (a meta-path
finder loaded before anything else), so the check runs inside this suite on every machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the collector and localchain extras add on top of the exporter extra.
COLLECTOR_ONLY = ("chdb", "clickhouse_connect", "litestar", "web3", "uvicorn", "apscheduler", "platformdirs",
                  "eth_tester", "eth_utils", "eth_account", "eth_abi")  # fmt: skip

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys
    BLOCKED = {COLLECTOR_ONLY!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: an exporter-only install)", name=name)
    sys.meta_path.insert(0, Block())
    """
)


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}


def exporter_test_files() -> list[str]:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_exporter_*.py"))
    return [*files, "tests/test_sdk_fps.py"]


def test_the_blocker_blocks(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import clickhouse_connect"], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "exporter-only install" in proc.stderr


def test_exporter_tests_pass_with_the_exporter_extra_alone(tmp_path: Path) -> None:
    files = exporter_test_files()
    assert len(files) >= 5
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        capture_output=True, text=True, env=_env(tmp_path), cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]


def test_help_on_an_exporter_only_install_names_the_extra(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "naap", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ") and line.split()}
    for cmd in ("collect", "scrape", "api", "score", "discover", "demo", "warehouse"):
        assert "pip install 'naap-sla[collector]'" in lines[cmd], lines.get(cmd)
    assert "needs" not in lines["exporter"] and "needs" not in lines["config"]
    run = subprocess.run([sys.executable, "-m", "naap", "collect", "--port", "1"], capture_output=True, text=True,
                         env=env, timeout=60)  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip() == "Error: naap collect needs the collector extra: pip install 'naap-sla[collector]'"
    bench = subprocess.run([sys.executable, "-m", "naap", "bench", "--help"], capture_output=True, text=True, env=env,
                           timeout=60)  # fmt: skip
    assert "collector" in bench.stdout and "Traceback" not in bench.stderr
