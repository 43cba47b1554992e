"""Start-up of the exporter process: where it says it listens is where it listens, and a start that cannot
succeed stops with one line (`ExporterStartError`), leaves nothing running and logs no traceback.

Every port here is a real socket on this machine: ports in use are taken by a socket the test binds itself,
"permission denied" is a real refusal by the kernel (a port below 1024 bound by an unprivileged process),
"not an address of this host" is a real bind to a TEST-NET-1 address (RFC 5737), which nothing is sent to.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from exporter.config import ExporterConfig
from exporter.errors import ExporterStartError
from exporter.server import Exporter, ExporterServer, _bind_error, serve_forever
from exposition_helpers import families, scrape, value

ROOT = Path(__file__).resolve().parents[1]
ORCH = "0x3B1f4a2C9d0e8f7A6b5c4D3e2f1A0b9C8d7E6f5a"  # EIP-55-style mixed case


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port held by a listening socket of our own (as another exporter would)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_a_port_in_use_is_one_clear_line_and_nothing_is_left_open(taken: int) -> None:
    cfg = ExporterConfig(host="127.0.0.1", port=taken, simulate=True, push={"enabled": True, "port": 0})
    srv = ExporterServer(Exporter(cfg))
    with pytest.raises(ExporterStartError) as e:
        await srv.start()
    assert str(e.value) == (
        f"cannot listen on 127.0.0.1:{taken}: address already in use — another exporter running? choose another --port"
    )
    # Nothing started: no source task, no stream ticker thread, no simulated runner, no push listener.
    assert srv._tasks == [] and srv.exporter.streams._ticker is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("source-")]
    assert _port_is_free(srv.push_port) if srv.push_port else True


async def test_a_push_port_in_use_closes_the_metrics_listener_it_had_opened(taken: int) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    metrics_port = free.getsockname()[1]
    free.close()
    cfg = ExporterConfig(host="127.0.0.1", port=metrics_port, nvml=False, push={"enabled": True, "port": taken})
    srv = ExporterServer(Exporter(cfg))
    with pytest.raises(ExporterStartError) as e:
        await srv.start()
    assert str(e.value) == (
        f"cannot listen for runner pushes on 127.0.0.1:{taken}: address already in use — another exporter running? "
        "choose another --push-port (or --no-push)"
    )
    assert _port_is_free(metrics_port)  # the /metrics socket bound first was closed again


async def test_an_address_not_of_this_host_is_one_clear_line() -> None:
    cfg = ExporterConfig(host="192.0.2.1", port=0, nvml=False, push={"enabled": False})  # RFC 5737 TEST-NET-1
    with pytest.raises(ExporterStartError) as e:
        await ExporterServer(Exporter(cfg)).start()
    assert str(e.value) == (
        "cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this host — choose --host "
        "(0.0.0.0 for every interface, 127.0.0.1 for this host only)"
    )


def test_a_name_that_does_not_resolve_is_one_clear_line() -> None:
    # The message only: resolving a made-up name for real would ask a DNS server beyond loopback.
    e = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert _bind_error("", "exporter.invalid", 9935, "--port", "--host", e) == (
        "cannot listen on exporter.invalid:9935: cannot resolve host 'exporter.invalid' (Name or service not known) "
        "— choose --host (0.0.0.0 for every interface, 127.0.0.1 for this host only)"
    )


_SERVE = textwrap.dedent(
    """
    import asyncio, logging, os, sys, warnings
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    warnings.simplefilter("always")
    from exporter.config import ExporterConfig
    from exporter.errors import ExporterStartError
    from exporter.server import serve_forever
    cfg = ExporterConfig.model_validate_json(sys.argv[1])
    if len(sys.argv) > 2:  # started as root: become an unprivileged user now that everything is imported
        os.setgroups([])
        os.setgid(int(sys.argv[2]))
        os.setuid(int(sys.argv[2]))
    async def main():
        await serve_forever(cfg, asyncio.Event())
    try:
        asyncio.run(main())
    except ExporterStartError as e:
        print(e)
        sys.exit(1)
    """
)


def _serve_subprocess(cfg: ExporterConfig, user: int | None = None) -> subprocess.CompletedProcess:
    """serve_forever in a fresh Python in development mode (-X dev: asyncio debug, every ResourceWarning shown);
    `user`: the uid (and gid) it switches to once its modules are imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-X", "dev", "-c", _SERVE, cfg.model_dump_json(), *([str(user)] if user is not None else [])]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def _quiet(stderr: str) -> list[str]:
    """stderr lines that are not the exporter's own expected log lines."""
    noise = ("Traceback", "ResourceWarning", "Unclosed", "unclosed", "Task was destroyed", "never retrieved",
             "Exception ignored", "Error", "error")  # fmt: skip
    return [ln for ln in stderr.splitlines() if any(n in ln for n in noise)]


@pytest.mark.parametrize("which", ["metrics", "push"])
def test_start_up_failure_logs_no_traceback_and_leaks_nothing(taken: int, which: str) -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    free = other.getsockname()[1]
    other.close()
    ports = {"port": taken, "push": {"enabled": True, "port": free}} if which == "metrics" else {
        "port": free, "push": {"enabled": True, "port": taken}}  # fmt: skip
    cfg = ExporterConfig(host="127.0.0.1", simulate=True, livepeer={"url": "http://127.0.0.1:9/metrics"}, **ports)
    proc = _serve_subprocess(cfg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().startswith("cannot listen") and "address already in use" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1
    assert not _quiet(proc.stderr), proc.stderr


def test_a_privileged_port_is_permission_denied_in_one_line() -> None:
    low = 1  # below 1024: refused to an unprivileged process by the kernel itself
    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if start.exists() and int(start.read_text()) <= low:
        pytest.skip("this kernel lets unprivileged processes bind every port (ip_unprivileged_port_start)")
    user = 65534 if os.geteuid() == 0 else None  # as root, drop to nobody so the kernel refuses for real
    cfg = ExporterConfig(host="127.0.0.1", port=low, nvml=False, push={"enabled": False})
    proc = _serve_subprocess(cfg, user=user)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip() == (
        "cannot listen on 127.0.0.1:1: permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE; "
        "choose --port 1024 or above"
    )
    assert not _quiet(proc.stderr), proc.stderr


async def test_it_says_where_it_really_listens_all_interfaces(capsys: pytest.CaptureFixture[str]) -> None:
    stop = asyncio.Event()
    cfg = ExporterConfig(host="0.0.0.0", port=0, nvml=False, push={"enabled": True, "port": 0})
    task = asyncio.create_task(serve_forever(cfg, stop))
    try:
        out = ""
        deadline = asyncio.get_running_loop().time() + 30  # a hang guard: the loop ends once the banner is out
        while asyncio.get_running_loop().time() < deadline and not task.done():
            out += capsys.readouterr().out
            if "runner pushes" in out:
                break
            await asyncio.sleep(0.01)
        out += capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0].startswith("naap exporter listening on 0.0.0.0:")
        port = int(lines[0].split()[4].split(":")[1])
        assert lines[0] == (f"naap exporter listening on 0.0.0.0:{port} (all IPv4 interfaces); "
                            f"from this host: http://127.0.0.1:{port}/metrics")  # fmt: skip
        assert lines[1].startswith("runner pushes: listening on 127.0.0.1:") and "(loopback only); push to http://" in lines[1]
        got = await scrape(lines[0].split()[-1])  # the URL it printed, last word, answers
        assert "naap_exporter_build_info" in got
        push_url = lines[1].split()[-1]
        async with aiohttp.ClientSession() as http, http.get(push_url.replace("/v1/push", "/healthz")) as r:
            assert r.status == 200
    finally:
        stop.set()
        await task


async def test_server_addresses_for_tests_and_operators() -> None:
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": True, "port": 0})
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    try:
        assert srv.listen_address == f"127.0.0.1:{srv.port}" and srv.url == f"http://127.0.0.1:{srv.port}/metrics"
        assert srv.push_listen_address == f"127.0.0.1:{srv.push_port}"
        assert srv.banner()[0].endswith(f"(loopback only); from this host: {srv.url}")
    finally:
        await srv.stop()


async def test_build_info_declares_the_configured_orchestrator_lowercase(caplog: pytest.LogCaptureFixture) -> None:
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False}, orchestrator=ORCH,
                         region="eu-west")  # fmt: skip
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    try:
        got = await scrape(srv.url)
    finally:
        await srv.stop()
    assert value(got, "naap_exporter_build_info", orchestrator=ORCH.lower(), region="eu-west", mode="live") == 1
    # Without one, the exporter says at start that collectors will refuse its scrapes.
    caplog.set_level(logging.WARNING, logger="exporter")
    bare = ExporterServer(Exporter(ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False})))
    await bare.start()
    await bare.stop()
    assert any("identity_mismatch" in r.getMessage() for r in caplog.records)


def test_an_unreadable_cue_table_stops_start_up_in_one_line(tmp_path: Path) -> None:
    cfg = ExporterConfig(port=0, simulate=True, cue={"peak_table": tmp_path / "missing.yaml"})
    with pytest.raises(ExporterStartError) as e:
        Exporter(cfg)
    assert str(e.value).startswith("cue.peak_table: cannot read ") and "missing.yaml" in str(e.value)


def test_sources_report_themselves_down_not_up_before_their_first_read() -> None:
    x = Exporter(ExporterConfig(port=0, nvml=False, livepeer={"url": "http://127.0.0.1:9/metrics"},
                                dcgm={"url": "http://127.0.0.1:9/metrics"}))  # fmt: skip
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_exporter_source_up", source="livepeer") == 0
    assert value(got, "naap_exporter_source_up", source="dcgm") == 0
