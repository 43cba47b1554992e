"""The exporter's exposition by the book: promtool-clean text, strict OpenMetrics, negotiation, gzip, the
fast encoder agreeing with prometheus-client, a light install, and the `naap exporter` command itself."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.config import ExporterConfig
from exporter.exposition import TextEncoder
from exporter.server import Exporter, ExporterServer
from exporter.streams.sdk import StreamMetrics
from naap.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
EXPECTED = {
    "naap_exporter_build_info", "naap_exporter_source_up", "naap_exporter_source_duration_seconds",
    "naap_exporter_source_errors_total", "naap_gpu_info", "naap_gpu_utilization_ratio",
    "naap_gpu_memory_used_bytes", "naap_gpu_memory_total_bytes", "naap_gpu_power_watts",
    "naap_gpu_power_limit_watts", "naap_gpu_temperature_celsius", "naap_gpu_sm_clock_hertz",
    "naap_gpu_memory_clock_hertz", "naap_gpu_pcie_throughput_bytes_per_second",
    "naap_gpu_encoder_utilization_ratio", "naap_gpu_decoder_utilization_ratio", "naap_gpu_ecc_errors_total",
    "naap_gpu_xid_errors_total", "naap_gpu_cue_ratio", "naap_gpu_peak_flops", "naap_gpu_achieved_flops",
    "naap_stream_output_fps", "naap_stream_input_fps", "naap_stream_jitter_ratio", "naap_streams_active",
    "naap_frames_out_total", "naap_frames_in_total", "naap_stream_receive_bytes_total",
    "naap_stream_transmit_bytes_total", "naap_stream_startup_seconds_bucket",
    "livepeer_ai_container_in_use", "livepeer_ai_container_idle", "livepeer_ai_current_live_pipelines",
    # the host's own, real in simulate mode too
    "naap_host_cpu_seconds_total", "naap_host_cpus", "naap_host_load1", "naap_host_memory_total_bytes",
    "naap_host_memory_available_bytes", "naap_host_filesystem_size_bytes", "naap_host_filesystem_avail_bytes",
    "naap_host_disk_read_bytes_total", "naap_host_disk_written_bytes_total",
    "naap_host_network_receive_bytes_total", "naap_host_network_transmit_bytes_total",
}  # fmt: skip
DCGM_FAMILIES = {"naap_gpu_pipe_active_ratio", "naap_gpu_sm_active_ratio", "naap_gpu_dram_active_ratio"}


async def _simulated(**over: object) -> tuple[ExporterServer, dict[str, bytes]]:
    cfg = ExporterConfig(host="127.0.0.1", port=0, simulate=True, gpus=2, streams=6, gpu_model="H100",
                         orchestrator="0x" + "ab" * 20, region="eu-west", **over)  # fmt: skip
    srv = ExporterServer(Exporter(cfg, window_s=0.2))
    await srv.start()
    bodies: dict[str, bytes] = {}
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        # A few windows: poll until FPS, jitter and histograms are in the page (the deadline only guards a hang;
        # past it the caller's assertions say what is missing).
        want = EXPECTED | (DCGM_FAMILIES if over.get("simulate_dcgm") else set())
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            async with http.get(srv.url, headers={"Accept-Encoding": "identity"}) as r:
                page = (await r.read()).decode()
            if want <= {s.name for f in parse_text(page) for s in f.samples}:
                break
            await asyncio.sleep(0.1)
        for name, headers in {
            "text": {"Accept-Encoding": "identity"},
            "openmetrics": {"Accept": OPENMETRICS, "Accept-Encoding": "identity"},
            "gzip": {"Accept-Encoding": "gzip"},
        }.items():
            async with http.get(srv.url, headers=headers) as r:
                assert r.status == 200
                bodies[name] = await r.read()
                bodies[name + ":type"] = r.headers["Content-Type"].encode()
                bodies[name + ":encoding"] = r.headers.get("Content-Encoding", "").encode()
    await srv.stop()
    return srv, bodies


def _promtool(text: bytes) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is installed by `make test` (Debian package prometheus)"
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30)


@pytest.mark.parametrize("dcgm", [False, True], ids=["proxy-cue", "dcgm-cue"])
async def test_simulated_exposition_is_promtool_clean_in_every_format(dcgm: bool) -> None:
    _, bodies = await _simulated(simulate_dcgm=dcgm)
    text = bodies["text"]
    assert bodies["text:type"].startswith(b"text/plain; version=0.0.4")
    check = _promtool(text)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check.stdout + check.stderr
    names = {s.name for f in parse_text(text.decode()) for s in f.samples}
    assert EXPECTED <= names, EXPECTED - names
    if dcgm:
        assert DCGM_FAMILIES <= names
    # Every family carries HELP and TYPE.
    lines = text.decode().splitlines()
    helped = {ln.split()[2] for ln in lines if ln.startswith("# HELP ")}
    typed = {ln.split()[2] for ln in lines if ln.startswith("# TYPE ")}
    assert helped == typed and {f.name for f in parse_text(text.decode())} <= {n.removesuffix("_total") for n in typed} | typed

    # OpenMetrics by negotiation, strictly parsed (promtool 2.42 reads only the text format).
    om = bodies["openmetrics"]
    assert bodies["openmetrics:type"].startswith(b"application/openmetrics-text")
    assert om.endswith(b"# EOF\n")
    om_names = {s.name for f in parse_openmetrics(om.decode()) for s in f.samples}
    assert EXPECTED - {"naap_gpu_info"} <= om_names | {n.removesuffix("_total") for n in om_names}

    # gzip when asked: the same page, compressed.
    assert bodies["gzip:encoding"] == b"gzip"
    again = gzip.decompress(bodies["gzip"])
    assert _promtool(again).returncode == 0
    assert {f.name for f in parse_text(again.decode())} == {f.name for f in parse_text(text.decode())}


def test_fast_text_encoder_agrees_with_prometheus_client() -> None:
    sdk = StreamMetrics()
    odd = 'quote " back \\ slash\nnewline ünïcode'
    s = sdk.start_stream(odd, "live-video-to-video", "m/with:chars", "GPU-1", warm=True)
    s.frame_out(3)
    s.error("timeout")
    reg = CollectorRegistry()
    reg.register(sdk)
    ours = TextEncoder().encode(reg).decode()
    theirs = generate_latest(reg).decode()

    def norm(t: str) -> list:
        return sorted((s.name, tuple(sorted(s.labels.items())), s.value) for f in parse_text(t) for s in f.samples)

    assert norm(ours) == norm(theirs)
    assert [ln for ln in ours.splitlines() if ln.startswith("#")] == [ln for ln in theirs.splitlines() if ln.startswith("#")]
    assert _promtool(ours.encode()).returncode == 0


def test_exporter_imports_and_serves_without_collector_packages(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import importlib.abc, sys
        BLOCKED = ("chdb", "clickhouse_connect", "litestar", "web3", "uvicorn", "apscheduler")
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is blocked: the exporter must not need it")
        sys.meta_path.insert(0, Block())
        for name in BLOCKED:
            try:
                __import__(name)
                raise SystemExit(f"{name} still importable")
            except ImportError:
                pass
        import asyncio, urllib.request
        from exporter.config import ExporterConfig
        from exporter.server import Exporter, ExporterServer
        from exporter.streams.push import PushClient
        async def main():
            srv = ExporterServer(Exporter(ExporterConfig(host="127.0.0.1", port=0, nvml=False, simulate=True,
                                                         push={"enabled": True})))
            await srv.start()
            client = PushClient(srv.push_url, runner="r")
            client.start_stream("s", "p", "m").frame_out(2)
            ok = await asyncio.to_thread(client.push)
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(srv.url, timeout=5).read())
            await srv.stop()
            assert ok and b"naap_exporter_build_info" in body
            assert b'naap_frames_out_total{pipeline="p",model_id="m",gpu_id=""} 2.0' in body
        asyncio.run(main())
        from naap.cli import cli  # the CLI shell imports lazily too
        mods = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not mods, mods
        print("served without", ", ".join(BLOCKED))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "served without" in proc.stdout


def test_naap_exporter_help_documents_every_option() -> None:
    result = CliRunner().invoke(cli, ["exporter", "--help"])
    assert result.exit_code == 0
    for opt in ("--config", "--host", "--port", "--orchestrator", "--region", "--no-nvml", "--gpu-interval", "--window",
                "--dcgm", "--dcgm-url", "--livepeer-url", "--no-push", "--push-host", "--push-port", "--push-allow",
                "--model-flops", "--simulate", "--gpus", "--streams", "--profile", "--gpu-model", "--simulate-dcgm",
                "--seed"):  # fmt: skip
        assert opt in result.output, opt


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--dcgm-url", "ftp://x/metrics"], None, "dcgm.url"),
        (["--dcgm", "url", "--dcgm-url", "http://127.0.0.1:99999/metrics"], None, "dcgm.url"),
        (["--dcgm-url", "http://127.0.0.1:9400/met rics"], None, "dcgm.url"),
        (["--livepeer-url", "http://127.0.0.1:0/metrics"], None, "livepeer.url"),
        (["--dcgm", "url"], None, "dcgm.mode=url needs dcgm.url"),
        (["--port", "9000", "--push-port", "9000"], None, "push.port must differ"),
        (["--push-allow", "not-a-net"], None, "not an IP network"),
        (["--model-flops", "m=lots"], None, "MODEL=FLOPS"),
        (["--orchestrator", "0x123"], None, "orchestrator"),
        ([], "livepeer: {url: 'http://127.0.0.1:7935/metrics', colour: red}\n", "livepeer.colour"),
        ([], "- a list\n", "must hold a mapping"),
    ],
)
def test_bad_exporter_configuration_is_a_clear_usage_error(tmp_path: Path, args: list[str], config: str | None,
                                                          message: str) -> None:  # fmt: skip
    if config is not None:
        path = tmp_path / "exporter.yaml"
        path.write_text(config)
        args = ["--config", str(path), *args]
    result = CliRunner().invoke(cli, ["exporter", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_config_file_and_flags_merge_flags_win(tmp_path: Path) -> None:
    from exporter.config import load_exporter_config

    path = tmp_path / "exporter.yaml"
    path.write_text("region: us-east\ndcgm: {mode: off, interval_s: 9}\npush: {port: 9999, max_runners: 3}\n")
    cfg = load_exporter_config(path, {"region": "eu-west", "dcgm": {"mode": None, "url": None}, "push": {"port": 9998}})
    assert (cfg.region, cfg.dcgm.mode, cfg.dcgm.interval_s) == ("eu-west", "off", 9)
    assert (cfg.push.port, cfg.push.max_runners, cfg.push.enabled, cfg.push.host) == (9998, 3, True, "127.0.0.1")


def test_naap_exporter_simulate_serves_the_full_exposition(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "warning", "exporter", "--simulate", "--host", "127.0.0.1",
         "--port", "0", "--gpus", "3", "--streams", "5", "--window", "0.2"],  # fmt: skip
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:  # it exited: its stderr says why (read only then, or the read would wait for ever)
            proc.wait(timeout=10)
            pytest.fail(proc.stderr.read() if proc.stderr else "no output")
        # Where it really listens, then the URL to use from this host as the last word.
        assert line.startswith("naap exporter listening on 127.0.0.1:") and "(loopback only); from this host: " in line, line
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), line
        import time
        import urllib.request

        # A few windows: poll until the full exposition is there (the deadline only guards a hang).
        want = EXPECTED - {"naap_gpu_ecc_errors_total"}
        deadline = time.monotonic() + 60
        while True:
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            if want <= {s.name for f in parse_text(text) for s in f.samples} or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    got = {s.name: 0 for f in parse_text(text) for s in f.samples}
    assert EXPECTED - {"naap_gpu_ecc_errors_total"} <= set(got)  # RTX 4090 default: no ECC
    gpus = {s.labels["gpu_id"] for f in parse_text(text) if f.name in ("naap_gpu", "naap_gpu_info") for s in f.samples}
    assert len(gpus) == 3 and all(g.startswith("GPU-sim-") for g in gpus)
    assert proc.returncode in (0, -15)
