"""The CLI: every command documents itself, and `naap scrape --once` works against real targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from exporter.common.net import free_port
from exporter.config import ExporterConfig
from exporter.server import Exporter, ExporterServer
from naap.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
    return out


ALL_COMMANDS = _commands(cli)


def test_the_command_list_is_what_the_readme_documents() -> None:
    names = {" ".join(p) for p, _ in ALL_COMMANDS}
    assert {"exporter", "scrape", "collect", "api", "score", "demo", "warehouse", "warehouse migrate"} <= names


@pytest.mark.parametrize("path", [p for p, _ in ALL_COMMANDS], ids=lambda p: " ".join(p))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    cmd = dict(ALL_COMMANDS)[path]
    assert (cmd.help or "").strip(), f"naap {' '.join(path)} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"naap {' '.join(path)} {param.opts[0]} has no help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_bad_settings_are_a_clear_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["scrape", "--once", "--dry-run", "--targets", str(tmp_path / "t.json"), "--shard", "3/2"])
    assert result.exit_code == 2
    assert "scraper.shard" in result.output


async def test_scrape_once_prints_a_line_per_target_and_exits_zero(tmp_path: Path) -> None:
    cfg = ExporterConfig(host="127.0.0.1", port=0, simulate=True, orchestrator="0x" + "ab" * 20, streams=2)
    server = ExporterServer(Exporter(cfg, window_s=0.2))
    await server.start()
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    targets = tmp_path / "targets.json"
    targets.write_text(
        json.dumps(
            [
                {"targets": [f"127.0.0.1:{server.port}"], "labels": {"orchestrator": cfg.orchestrator}},
                {"targets": [dead], "labels": {"orchestrator": "0x" + "cd" * 20}},
            ]
        )
    )
    try:
        proc = await _run_cli(
            "scrape", "--once", "--allow-loopback", "--targets", str(targets), "--data-dir", str(tmp_path / "wh")
        )
        refused = await _run_cli("scrape", "--once", "--targets", str(targets), "--data-dir", str(tmp_path / "wh2"))
    finally:
        await server.stop()
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    by_url = {line["target"]: line for line in lines}
    good = by_url[server.url]
    assert good["up"] is True and good["samples"] > 10 and good["error"] is None
    assert good["orchestrator"] == cfg.orchestrator
    assert by_url[dead]["up"] is False and by_url[dead]["error"] == "connect"
    # Without --allow-loopback both are refused before any connection, and the command still exits 0.
    assert refused.returncode == 0
    assert {json.loads(line)["error"] for line in refused.stdout.splitlines()} == {"refused_address"}


async def _run_cli(*args: str) -> subprocess.CompletedProcess:
    import asyncio

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "naap", "--log-level", "warning", *args], capture_output=True, text=True, timeout=120
        )

    return await asyncio.to_thread(run)


# -- nothing fails silently: empty or broken input is an error, start-up failures are one line -----------------------
def _one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3, proc.stderr  # click's usage lines at most, and the message
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)


async def test_missing_and_broken_targets_files_are_errors(tmp_path: Path) -> None:
    missing = await _run_cli("scrape", "--once", "--dry-run", "--targets", str(tmp_path / "missing.json"))
    _one_line_error(missing, "missing.json", "cannot read")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"targets": ["127.0.0.1:9"], "labels": {')  # JSON cut short: never read as a URL list
    proc = await _run_cli("scrape", "--once", "--dry-run", "--allow-loopback", "--targets", str(broken))
    _one_line_error(proc, "broken.json", "not valid JSON")


async def test_scrape_once_needs_a_destination(tmp_path: Path) -> None:
    targets = tmp_path / "t.txt"
    targets.write_text("http://127.0.0.1:9/metrics\n")
    proc = await _run_cli("scrape", "--once", "--targets", str(targets))
    _one_line_error(proc, "--data-dir", "--warehouse", "--dry-run")


async def test_read_only_commands_never_create_a_warehouse(tmp_path: Path) -> None:
    typo = tmp_path / "wherehouse"
    for args in (["score"], ["api", "--port", "0"]):
        proc = await _run_cli(*args, "--data-dir", str(typo))
        _one_line_error(proc, "no warehouse at")
    assert not typo.exists()


async def test_score_with_nothing_to_score_is_an_error(tmp_path: Path) -> None:
    made = await _run_cli("warehouse", "migrate", "--data-dir", str(tmp_path / "wh"))
    assert made.returncode == 0, made.stderr
    proc = await _run_cli("score", "--data-dir", str(tmp_path / "wh"))
    _one_line_error(proc, "nothing to score")


async def test_a_taken_api_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        targets = tmp_path / "t.txt"
        targets.write_text("http://127.0.0.1:9/metrics\n")
        proc = await _run_cli("collect", "--allow-loopback", "--targets", str(targets), "--port", str(port),
                              "--data-dir", str(tmp_path / "wh"))  # fmt: skip
    _one_line_error(proc, f"127.0.0.1:{port}", "already in use")


async def test_a_warehouse_held_by_another_naap_process_says_which(tmp_path: Path) -> None:
    import asyncio

    targets = tmp_path / "t.txt"
    targets.write_text("http://127.0.0.1:9/metrics\n")
    holder = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "warning", "collect", "--allow-loopback", "--targets", str(targets),
         "--port", "0", "--data-dir", str(tmp_path / "wh")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = await asyncio.to_thread(holder.stdout.readline)  # "collector: ... API http://..." once it runs
        assert "collector:" in line, line + holder.stderr.read()
        proc = await _run_cli("score", "--data-dir", str(tmp_path / "wh"))
    finally:
        holder.terminate()
        holder.wait(30)
    _one_line_error(proc, "held by `naap collect`", f"pid {holder.pid}", "ClickHouse server")


def test_a_copied_warehouse_is_not_held_by_the_original_holder(tmp_path: Path) -> None:
    """A directory copied while its collector runs carries the holder file naming that live process; the copy is
    not held by it (the original is), so it opens."""
    import json
    import os

    from warehouse.client import HOLDER_FILE, Warehouse, WarehouseError

    original, copy = tmp_path / "wh", tmp_path / "copy"
    for d in (original, copy):
        d.mkdir()
        (d / HOLDER_FILE).write_text(json.dumps({"pid": os.getppid(), "command": "naap collect", "since": 0,
                                                 "path": str(original.resolve())}))  # fmt: skip
    with pytest.raises(WarehouseError, match="held by `naap collect`"):
        Warehouse(f"chdb://{original}", "naap")
    wh = Warehouse(f"chdb://{copy}", "naap")
    try:
        assert wh.scalar("SELECT 1") == 1
    finally:
        wh.close()


@pytest.mark.parametrize(("args", "enabled"), [(["--no-host-metrics"], False), ([], True)])
def test_exporter_host_metrics_flag_reaches_the_config(monkeypatch: pytest.MonkeyPatch, args: list[str], enabled: bool) -> None:
    import exporter.server

    seen = {}

    def fake_serve(cfg, stop):  # stands in for the server: only the parsed configuration matters here
        seen["cfg"] = cfg

    monkeypatch.setattr(exporter.server, "serve_forever", fake_serve)
    monkeypatch.setattr("naap.cli.run_until_signal", lambda run: run(None))
    result = CliRunner().invoke(cli, ["exporter", "--simulate", "--no-nvml", *args])
    assert result.exit_code == 0, result.output
    assert seen["cfg"].host_metrics.enabled is enabled


@pytest.mark.parametrize(("args", "says"), [
    (["replay", "--period", "2h"], "--period '2h' is no period of any released SLA config"),
    (["slo", "--orchestrator", "0xzz"], "--orchestrator must be a 0x-prefixed 20-byte hex address"),
    # Click's FloatRange admits NaN (every comparison with it is false): the CLI's float options refuse it.
    (["bench", "api", "--seconds", "nan"], "'--seconds': 'nan' is not a finite number"),
    (["scrape", "--interval", "NaN"], "'--interval': 'NaN' is not a finite number"),
    (["scrape", "--timeout", "inf"], "'--timeout': 'inf' is not a finite number"),
])  # fmt: skip
def test_bad_options_are_usage_errors_before_any_warehouse_is_opened(tmp_path: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not (tmp_path / "none").exists()
