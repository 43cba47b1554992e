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
    result = CliRunner().invoke(cli, ["scrape", "--once", "--targets", str(tmp_path / "t.json"), "--shard", "3/2"])
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
