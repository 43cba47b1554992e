"""`naap discover`: one walk of a real local chain over loopback JSON-RPC, printed, then exit."""

from __future__ import annotations

import json
import subprocess
import sys

from chain_fixtures import addr, chain, entries, rpc  # noqa: F401
from click.testing import CliRunner

from exporter.common.net import free_port
from discovery.localchain.chain import LocalChain, PoolEntry
from discovery.localchain.rpc import RpcServer
from naap.cli import cli


def _pool(chain: LocalChain) -> None:
    chain.set_pool([*entries(3), PoolEntry(addr(7), 10**18, True, "https://10.9.8.7:8935"), PoolEntry(addr(8), 10**17, True, None)])


def test_discover_prints_every_orchestrator_with_its_metrics_url(chain: LocalChain, rpc: RpcServer) -> None:
    _pool(chain)
    out = subprocess.run(
        [sys.executable, "-m", "naap", "discover", "--rpc", rpc.url, "--controller", chain.controller.address, "--allow-loopback"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["orchestrator", "stake_lpt", "active", "service_uri", "metrics_url", "status"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == [addr(0), addr(1), addr(2), addr(7), addr(8)]  # pool order: by stake
    for i in range(3):
        assert f"http://127.0.1.{i}:9935/metrics" in rows[addr(i)] and rows[addr(i)].endswith("ok")
    assert rows[addr(7)].endswith("refused: private")
    assert "(no_service_uri)" in rows[addr(8)] and rows[addr(8)].endswith("refused: no_service_uri")
    assert f"block {chain.block_number}: 5 orchestrators in the pool, 3 targets, 2 refused" in out.stderr


def test_discover_http_sd_and_failover(chain: LocalChain, rpc: RpcServer) -> None:
    _pool(chain)
    dead = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        cli, ["discover", "--rpc", dead, "--rpc", rpc.url, "--controller", chain.controller.address,
              "--allow-loopback", "--format", "http_sd"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    groups = json.loads(result.stdout)
    assert [g["targets"] for g in groups] == [["127.0.1.0:9935"], ["127.0.1.1:9935"], ["127.0.1.2:9935"]]
    assert groups[0]["labels"]["orchestrator"] == addr(0)


def test_discover_fails_clearly(chain: LocalChain, rpc: RpcServer) -> None:
    result = CliRunner().invoke(cli, ["discover", "--controller", chain.controller.address])
    assert result.exit_code == 2 and "no RPC URL" in result.output
    rpc.fail("http_503")
    result = CliRunner().invoke(cli, ["discover", "--rpc", rpc.url, "--controller", chain.controller.address])
    assert result.exit_code == 1
    assert "the walk failed" in result.output and "every RPC endpoint failed" in result.output
    result = CliRunner().invoke(cli, ["discover", "--rpc", rpc.url, "--controller", "0x123"])
    assert result.exit_code == 2 and "discovery.chain.controller" in result.output


def test_discover_reads_the_chain_settings_from_the_config_file(chain: LocalChain, rpc: RpcServer, tmp_path) -> None:  # noqa: ANN001
    chain.set_pool(entries(2))
    cfg = tmp_path / "naap.yaml"
    cfg.write_text(
        "discovery:\n  resolve_names: false\n  chain:\n"
        f"    rpc_urls: ['{rpc.url}']\n    controller: '{chain.controller.address}'\n    max_requests_per_s: 0\n"
        f"    overrides:\n      '{addr(0)}': {{port: 7000}}\n"
    )
    result = CliRunner().invoke(cli, ["discover", "--config", str(cfg), "--allow-loopback", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["orchestrator"], r["metrics_url"], r["status"]) for r in rows] == [
        (addr(0), "http://127.0.1.0:7000/metrics", "ok"),
        (addr(1), "http://127.0.1.1:9935/metrics", "ok"),
    ]
