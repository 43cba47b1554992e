"""Regression tests for an acceptance tester's findings: untrusted input (target files, settings, the environment,
YAML), a warehouse server that hangs, start-up order, shutdown, and the messages an operator sees.

Real parts only: files, FIFOs and devices on this machine, real HTTP servers and sockets on loopback, the ClickHouse
HTTP stand-in (tests/clickhouse_http_standin.py) for a server, `naap` itself as a subprocess where the process's
behaviour is the point.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest
import uvicorn
from click.testing import CliRunner

from discovery.safety import collision_key
from discovery.service import DUPLICATE_METRICS_URL, Discovery, StaticSource, TargetFileSource
from discovery.static import MAX_REPORTED_PROBLEMS, load_target_file, parse_targets, read_target_text, TargetFileError
from discovery.target import make_target
from exporter.common.net import free_port
from naap.cli import cli
from test_warehouse_http import control, engine_held, standin  # noqa: F401 - the stand-in server fixture

ROOT = Path(__file__).resolve().parents[1]
A = "0x" + "ab" * 20
B = "0x" + "cd" * 20


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def naap(*args: str, env: dict[str, str] | None = None, log_level: str = "warning") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naap", "--log-level", log_level, *args], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env={**os.environ, **(env or {})})  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess, *words: str, rc: int | None = None) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    if rc is not None:
        assert proc.returncode == rc, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3, proc.stderr  # click's usage lines at most, and the message
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)


def invoke(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    result = CliRunner().invoke(cli, list(args), env=env, prog_name="naap")
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel completes them) and never answers a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def taken_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# -- 1. target files: only regular files, bounded, never blocking --------------------------------------------------
def test_a_target_file_must_be_a_regular_file(tmp_path: Path) -> None:
    zero = tmp_path / "z.txt"
    zero.symlink_to("/dev/zero")  # an endless device behind a symlink: refused after resolving it, never read
    fifo = tmp_path / "f.txt"
    os.mkfifo(fifo)  # no writer: a blocking open would hang forever
    for path, kind in ((zero, "a device"), (fifo, "a FIFO"), (tmp_path, "a directory")):
        r = load_target_file(path)
        assert r.targets == [] and r.failure == f"{path}: cannot read: {kind}, not a regular file", r
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(32 * 1024 * 1024 + 1)  # sparse: costs no disk
    with pytest.raises(TargetFileError, match="larger than"):
        read_target_text(big)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"http://caf\xe9.example:1/metrics\n")
    assert "not UTF-8" in load_target_file(bad).failure


async def test_a_fifo_target_file_does_not_block_the_walk(tmp_path: Path) -> None:
    fifo = tmp_path / "targets.json"
    os.mkfifo(fifo)
    d = Discovery([TargetFileSource(str(fifo))], allow_loopback=True, resolve_names=False)
    snap = await d.walk()  # would never return if the file were opened for a blocking read
    assert snap.accepted == [] and "a FIFO" in snap.failed[f"file:{fifo}"]
    assert d.source_failures == {f"file:{fifo}": 1}


def test_scrape_once_refuses_a_symlink_to_dev_zero(tmp_path: Path) -> None:
    zero = tmp_path / "z.txt"
    zero.symlink_to("/dev/zero")
    proc = naap("scrape", "--once", "--allow-loopback", "--dry-run", "--targets", str(zero))
    one_line_error(proc, "z.txt", "a device, not a regular file", rc=1)


# -- 2. a broken targets file keeps its last good targets; a missing one stops start-up --------------------------------
async def test_a_broken_targets_file_keeps_its_last_good_targets(tmp_path: Path) -> None:
    live = tmp_path / "live.txt"
    live.write_text("http://127.0.0.1:9/metrics\nhttp://127.0.0.2:9/metrics\n")
    d = Discovery([TargetFileSource(str(live))], allow_loopback=True, resolve_names=False)
    good = await d.walk()
    assert len(good.accepted) == 2 and not good.failed
    breakages = [
        lambda: live.write_text('[{"targets": ["127.0.0.1:9"'),  # broken JSON (an editor's half-written save)
        lambda: live.write_bytes(b"\xff\xfe\x00garbage"),  # not UTF-8
        lambda: live.write_text("not a url at all://\n"),  # not one usable entry
        lambda: live.unlink(),  # deleted
    ]
    for n, breakage in enumerate(breakages, start=1):
        breakage()
        snap = await d.walk()
        assert [t.url for t in snap.accepted] == [t.url for t in good.accepted], n
        assert f"file:{live}" in snap.failed and d.source_failures[f"file:{live}"] == n
        assert any(str(live) in e for e in snap.errors)
    live.write_text("http://127.0.0.3:9/metrics\n")  # fixed: the file's new contents are used
    snap = await d.walk()
    assert [t.url for t in snap.accepted] == ["http://127.0.0.3:9/metrics"] and not snap.failed


async def test_the_failures_are_in_the_discovery_report_without_local_paths(tmp_path: Path) -> None:
    from api.routes.discovery import discovery_targets

    live = tmp_path / "secret-dir" / "live.txt"
    live.parent.mkdir()
    live.write_text("http://127.0.0.1:9/metrics\n")
    d = Discovery([TargetFileSource(str(live))], allow_loopback=True, resolve_names=False)
    await d.walk()
    live.write_text("[")
    await d.walk()
    import msgspec

    body = msgspec.to_builtins(await discovery_targets.fn(state={"discovery": d}))  # type: ignore[call-arg]  # as served
    assert body["source_failures"] == {"file": 1} and body["failed_sources"] == ["file"]
    assert len(body["accepted"]) == 1
    assert "secret-dir" not in json.dumps(body)


def test_collect_with_a_missing_targets_file_does_not_start(tmp_path: Path) -> None:
    data = tmp_path / "wh"
    proc = naap("collect", "--allow-loopback", "--port", "0", "--targets", str(tmp_path / "missing.json"),
                "--data-dir", str(data))  # fmt: skip
    one_line_error(proc, "missing.json", "cannot read", rc=1)
    assert not data.exists(), "the warehouse was created before start-up failed"


# -- 3. a hung ClickHouse server -----------------------------------------------------------------------------------
def test_a_server_that_never_answers_fails_after_the_read_timeout(black_hole: int) -> None:
    from warehouse.client import Warehouse, WarehouseError

    with pytest.raises(WarehouseError, match="Check that the ClickHouse server is running"):
        Warehouse(f"http://127.0.0.1:{black_hole}", "naap", read_timeout_s=1)


def test_score_against_a_server_that_never_answers_is_one_line(black_hole: int, tmp_path: Path) -> None:
    proc = naap("score", "--warehouse", f"http://127.0.0.1:{black_hole}", env={"NAAP_WAREHOUSE__READ_TIMEOUT_S": "1"})
    one_line_error(proc, f"127.0.0.1:{black_hole}", "Check that the ClickHouse server is running", rc=1)


def test_an_unreachable_server_is_one_line_without_library_warnings() -> None:
    port = free_port()
    proc = naap("score", "--warehouse", f"http://127.0.0.1:{port}")
    one_line_error(proc, f"127.0.0.1:{port}", "--data-dir", rc=1)
    assert "Retrying" not in proc.stderr and "Unexpected Http Driver Exception" not in proc.stderr


@pytest.fixture
def server_wh(standin: str) -> Iterator:  # noqa: F811
    from warehouse.client import Warehouse
    from warehouse.migrations import apply_migrations

    db = f"hd_{uuid.uuid4().hex[:12]}"
    wh = Warehouse(standin, db, read_timeout_s=10)  # queries that must succeed: far above any answer time
    apply_migrations(wh)
    yield wh
    wh.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
    wh.close()


@contextmanager
def short_reads(handle: object, read_s: float) -> Iterator[None]:
    """A short client read limit on a warehouse handle, only while the stand-in holds its answers (the limit is
    expected to fire there); the handle's own limit comes back for the reads that must succeed."""
    from urllib3.util import Timeout

    client = handle._client  # type: ignore[attr-defined]
    before = client.timeout
    client.timeout = Timeout(connect=before.connect_timeout, read=read_s)
    try:
        yield
    finally:
        client.timeout = before


async def test_the_api_answers_503_while_the_warehouse_hangs(standin: str, server_wh) -> None:  # noqa: ANN001, F811
    from api.app import create_app
    from api.config import ApiSettings
    from scoring.sla_config import load_config

    reader = server_wh.reader(10.0)
    app = create_app(reader, load_config(), ApiSettings())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="on"))
    server.capture_signals = lambda: __import__("contextlib").nullcontext()  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/healthz") as r:
                assert r.status == 200
            await asyncio.to_thread(control, standin, "hold")
            try:
                with short_reads(reader, 1.0):  # the held answers: the limit fires, quickly
                    for path, words in (("/healthz", "unreachable"), ("/v1/sla/compliance?period=1h", "unavailable"),
                                        ("/v1/gpu/metrics", "unavailable")):  # fmt: skip
                        async with http.get(path) as r:
                            assert r.status == 503, path
                            assert r.headers["Content-Type"].startswith("application/json")
                            assert words in json.dumps(await r.json()), path
            finally:
                await asyncio.to_thread(control, standin, "release")
            async with http.get("/healthz") as r:
                assert r.status == 200
    finally:
        server.should_exit = True
        await task


async def test_warehouse_up_is_0_while_a_write_hangs_and_while_writes_fail(standin: str, server_wh) -> None:  # noqa: ANN001, F811
    from scraper.sink import VOID_COLUMNS
    from scraper.telemetry import ScraperTelemetry
    from warehouse.writer import Writer

    class Sink:  # what the telemetry reads of a sink: its writer
        def __init__(self, writer: Writer) -> None:
            self.writer = writer

    writer = Writer(server_wh, f"w-{uuid.uuid4().hex[:6]}", stall_s=0.0)
    telemetry = ScraperTelemetry()
    telemetry.bind(sink=Sink(writer))
    up = lambda: telemetry.registry.get_sample_value("naap_scraper_warehouse_up")  # noqa: E731
    writer.add("scraper_void", VOID_COLUMNS, [(1_700_000_000_000, 1_700_000_001_000, "s", "0/1", "test", "x")])
    assert up() == 1
    with engine_held(standin), short_reads(server_wh, 2):  # the held insert: the limit fires, quickly
        flush = asyncio.create_task(writer.flush())
        await asyncio.to_thread(control, standin, "wait", inflight=1)  # the insert is in flight, unanswered
        assert up() == 0  # stalled
        assert await flush is False  # the client's read timeout ended it
        assert up() == 0 and writer.stats.insert_errors == 1
    assert await writer.flush() is True
    assert up() == 1
    assert server_wh.scalar("SELECT count() FROM scraper_void") == 1  # the retry was deduplicated


# -- 4. configuration errors are one line --------------------------------------------------------------------------
@pytest.mark.parametrize("contents", [None, "version: [unclosed\n"], ids=["missing", "invalid"])
def test_a_bad_sla_config_is_one_line_everywhere(tmp_path: Path, contents: str | None) -> None:
    sla = tmp_path / "sla.yaml"
    if contents is not None:
        sla.write_text(contents)
    cfg = tmp_path / "sc1.yaml"
    cfg.write_text(f"scoring:\n  config: {sla}\n")
    targets = tmp_path / "t.txt"
    targets.write_text("http://127.0.0.1:9/metrics\n")
    data = tmp_path / "wh"
    for args in (["config"], ["collect", "--targets", str(targets), "--port", "0", "--data-dir", str(data)],
                 ["api", "--port", "0", "--data-dir", str(data)], ["demo", "--port", "0", "--orchestrators", "1"]):  # fmt: skip
        result = invoke(*args, "--config", str(cfg))
        assert result.exit_code == 2, (args, result.output)
        assert "SLA config" in result.output and str(sla) in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not data.exists()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("NAAP_DISCOVERY__TARGET_FILES", "/tmp/t/plain.txt", "NAAP_DISCOVERY__TARGET_FILES='[\"/tmp/t/plain.txt\"]'"),
        ("NAAP_API__CORS_ORIGINS", "*", "NAAP_API__CORS_ORIGINS='[\"*\"]'"),
        ("NAAP_DISCOVERY__CHAIN__RPC_URLS", "http://127.0.0.1:1", "are JSON"),
        ("NAAP_WAREHOUSE", "x", "NAAP_WAREHOUSE is a whole section"),
    ],
)
def test_environment_values_that_are_not_json_are_one_line(name: str, value: str, words: str) -> None:
    proc = naap("config", env={name: value})
    one_line_error(proc, words, rc=2)


# -- 5. the demo never uses the operator's warehouse ----------------------------------------------------------------
def test_the_demo_ignores_a_configured_warehouse_dsn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from naap.demo import demo_settings
    from naap.fleet import plan_fleet
    from naap.settings import load_settings

    monkeypatch.setenv("NAAP_WAREHOUSE__DSN", "http://127.0.0.1:1")
    s = demo_settings(load_settings(), plan_fleet(2), tmp_path, 0)
    assert s.warehouse.resolved_dsn() == f"chdb://{(tmp_path / 'warehouse').resolve()}"
    assert "DSN" in invoke("demo", "--help").output


# -- 7, 19. warehouse migrate: a dry run creates nothing; a real one applies retention ------------------------------
def test_migrate_dry_run_creates_nothing_and_migrate_applies_retention(tmp_path: Path) -> None:
    data = tmp_path / "wh"
    dry = naap("warehouse", "migrate", "--dry-run", "--data-dir", str(data))
    assert dry.returncode == 0, dry.stderr
    assert "migration 0001_samples" in dry.stdout and "samples: 30 days" in dry.stdout
    assert not data.exists()
    ttl = tmp_path / "ttl.yaml"
    ttl.write_text("warehouse:\n  sample_ttl_days: 7\n")
    assert naap("warehouse", "migrate", "--data-dir", str(data)).returncode == 0
    applied = naap("warehouse", "migrate", "--config", str(ttl), "--data-dir", str(data), log_level="info")
    assert applied.returncode == 0, applied.stderr
    assert "samples retention set to 7 days" in applied.stderr
    assert "samples: 7 days" in naap("warehouse", "migrate", "--dry-run", "--config", str(ttl), "--data-dir", str(data)).stdout
    assert not (data / "warehouse" / ".naap-holder.json").exists()  # 10: a clean close removes the holder file


# -- 8. a file of many bad lines gives a short message ---------------------------------------------------------------
def test_many_bad_lines_give_the_first_few_and_a_count() -> None:
    r = parse_targets("not a url at all://\n" * 30_000, "big.txt")
    assert len(r.errors) == MAX_REPORTED_PROBLEMS + 1
    assert r.errors[-1] == f"big.txt: … and {30_000 - MAX_REPORTED_PROBLEMS} more problems"
    long = parse_targets("ftp://" + "x" * 100_000 + "\n", "long.txt")
    assert len(long.errors[0]) < 300
    assert sum(map(len, r.errors)) < 3000 and len(r.failure) < 600


# -- 9, 11. errors name the flag the value came from ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["collect", "--port", "99999"], "from --port 99999"),
        (["discover", "--rpc", "http://127.0.0.1:1", "--controller", "0x12"], "from --controller 0x12"),
        (["scrape", "--once", "--dry-run", "--targets", "t.txt", "--shard", "5/3"], "from --shard 5/3"),
        (["scrape", "--once", "--dry-run", "--targets", "t.txt", "--metrics-port", "5"], "--metrics-port does not go with --once"),
    ],
)
def test_bad_flag_values_name_the_flag(args: list[str], words: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert words in result.output and "defaults and environment)" not in result.output


def test_a_taken_metrics_port_names_its_flag_and_creates_nothing(tmp_path: Path, taken_port: int) -> None:
    targets = tmp_path / "t.txt"
    targets.write_text("http://127.0.0.1:9/metrics\n")
    data = tmp_path / "wh"
    proc = naap("scrape", "--allow-loopback", "--targets", str(targets), "--metrics-port", str(taken_port), "--data-dir", str(data))
    one_line_error(proc, "already in use", "choose another with --metrics-port", rc=1)
    assert not data.exists()


def test_a_taken_api_port_creates_no_warehouse_and_prints_no_url(tmp_path: Path, taken_port: int) -> None:
    targets = tmp_path / "t.txt"
    targets.write_text("http://127.0.0.1:9/metrics\n")
    data = tmp_path / "wh"
    proc = naap("collect", "--allow-loopback", "--targets", str(targets), "--port", str(taken_port), "--data-dir", str(data))
    one_line_error(proc, "already in use", "--port", rc=1)
    assert not data.exists()
    api = naap("api", "--port", str(taken_port), "--data-dir", str(data))
    one_line_error(api, "already in use", rc=1)
    assert api.stdout == ""


def test_a_taken_port_stops_the_demo_before_its_fleet_starts(taken_port: int) -> None:
    result = invoke("demo", "--port", str(taken_port), "--orchestrators", "1")
    assert result.exit_code == 1 and "already in use" in result.output, result.output
    assert "started" not in result.output


def test_a_bad_static_target_url_is_a_settings_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text('discovery:\n  targets:\n    - url: "ftp://x.example/"\n')
    result = invoke("scrape", "--once", "--dry-run", "--config", str(cfg))
    assert result.exit_code == 2 and "discovery.targets.0.url" in result.output and "http or https" in result.output


# -- 12. DSN credentials in the query string ------------------------------------------------------------------------
def test_a_query_string_password_is_masked_and_accepted(standin: str) -> None:  # noqa: F811
    from warehouse.client import Warehouse
    from warehouse.dsn import redact_dsn

    shown = invoke("config", env={"NAAP_WAREHOUSE__DSN": "http://127.0.0.1:1/?user=u&password=s3cr3t-pw"}).output
    assert "s3cr3t-pw" not in shown and "password=***" in shown
    assert redact_dsn("http://u:pw@h:8123/?password=secret") == "http://***@h:8123/?password=***"
    wh = Warehouse(f"{standin}/?user=default&password=secret", f"pw_{uuid.uuid4().hex[:8]}")  # the stand-in ignores them
    try:
        assert wh.scalar("SELECT 1") == 1
    finally:
        wh.command(f"DROP DATABASE IF EXISTS `{wh.database}` SYNC")
        wh.close()


# -- 13. an unquoted 0x… address in YAML ------------------------------------------------------------------------------
def test_an_unquoted_address_in_yaml_says_to_quote_it(tmp_path: Path) -> None:
    exp = tmp_path / "exporter.yaml"
    exp.write_text("orchestrator: 0x52cf2968b3dc6016778742d3539449a6597d5954\n")
    result = invoke("exporter", "--config", str(exp), "--simulate")
    assert result.exit_code == 2 and "quote it" in result.output, result.output
    sd = tmp_path / "targets.yaml"
    sd.write_text("- targets: ['127.0.0.1:9']\n  labels: {orchestrator: 0x52cf2968b3dc6016778742d3539449a6597d5954}\n")
    r = load_target_file(sd)
    assert r.targets == [] and "'orchestrator' is a number" in r.errors[0] and "quote it" in r.errors[0]


# -- 14. one spelling per address ------------------------------------------------------------------------------------
async def test_one_exporter_listed_under_several_spellings_is_scraped_once() -> None:
    spellings = ["http://127.0.0.1:18999/metrics", "http://localhost:18999/metrics", "http://LOCALHOST.:18999/metrics",
                 "http://0x7f000001:18999/metrics", "http://127.1:18999/metrics", "http://2130706433:18999/metrics"]  # fmt: skip
    d = Discovery([StaticSource([make_target(u) for u in spellings])], allow_loopback=True, resolve_names=False)
    snap = await d.walk()
    assert [t.url for t in snap.accepted] == [spellings[0]]
    reasons = {r.target.url: r.reason for r in snap.refused}
    assert reasons["http://0x7f000001:18999/metrics"] == "non_canonical_ip (write 0x7f000001 as 127.0.0.1)"
    assert len(reasons) == 3  # the numeric spellings; localhost is the same target as 127.0.0.1, not a refusal
    # Two orchestrators behind one exporter under two spellings collide.
    d2 = Discovery([StaticSource([make_target(spellings[0], A), make_target(spellings[1], B)])], allow_loopback=True,
                   resolve_names=False)  # fmt: skip
    snap2 = await d2.walk()
    assert snap2.accepted == [] and all(r.reason.startswith(DUPLICATE_METRICS_URL) for r in snap2.refused)
    assert collision_key("http://localhost/") == collision_key("http://127.0.0.1:80/")


# -- 16. the stub of a command whose extra is missing names the whole command ------------------------------------------
def test_a_missing_extra_names_the_whole_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("naap.cli.missing_extra", lambda extra: extra == "collector")
    result = invoke("bench", "scrape")
    assert result.exit_code == 1
    assert "naap bench scrape needs the collector extra" in result.output


# -- 17. a duplicate metrics URL has its own error class -----------------------------------------------------------
async def test_a_duplicate_metrics_url_has_its_own_error_class() -> None:
    from naap.runner import scrape_once
    from naap.settings import load_settings

    url = f"http://127.0.0.1:{free_port()}/metrics"
    settings = load_settings(overrides={
        "scraper": {"allow_loopback": True, "timeout_s": 2},
        "discovery": {"targets": [{"url": url, "orchestrator": A}, {"url": url, "orchestrator": B}]},
    })  # fmt: skip
    lines, _ = await scrape_once(settings, store=False)
    assert {line["error"] for line in lines} == {"duplicate_metrics_url"}


# -- 18. a second signal stops at once -----------------------------------------------------------------------------
def test_a_second_sigint_stops_at_once_and_says_what_it_abandoned(standin: str, tmp_path: Path) -> None:  # noqa: F811
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scraper:\n  interval_s: 0.5\n  timeout_s: 0.4\nwarehouse:\n  flush_interval_s: 0.2\n"
                   "  read_timeout_s: 600\n")  # a hung insert would hold a clean stop for ten minutes
    targets = tmp_path / "t.txt"
    targets.write_text(f"http://127.0.0.1:{free_port()}/metrics\n")
    db = f"sig_{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "info", "collect", "--config", str(cfg), "--warehouse", standin,
         "--allow-loopback", "--targets", str(targets), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "NAAP_WAREHOUSE__DATABASE": db},
    )  # fmt: skip
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    held = False
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("collector:"), line + "".join(stderr)
        control(standin, "hold")
        held = True
        control(standin, "wait", inflight=1)  # a write is in flight and will not be answered
        proc.send_signal(signal.SIGINT)
        for _ in range(6000):
            if any("collector stopping" in s for s in stderr):
                break
            threading.Event().wait(0.01)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)  # not the ten minutes of the insert's read timeout
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if held:
            control(standin, "release")
    text = "".join(stderr)
    assert proc.returncode == 128 + signal.SIGINT, text
    assert "stopped at once by a second signal: abandoned" in text, text


# -- 20. an info series declares only with value 1 ------------------------------------------------------------------
@pytest.mark.parametrize(("value", "ok"), [("1", True), ("0", False), ("2", False), ("NaN", False)])
def test_build_info_declares_an_identity_only_with_value_1(value: str, ok: bool) -> None:
    from scraper.append import CHECKED, check_identity
    from scraper.errors import ScrapeError
    from scraper.parse import parse_exposition

    body = f'naap_exporter_build_info{{orchestrator="{A}",version="1"}} {value}\nup_thing 1\n'.encode()
    samples = parse_exposition(body, "text/plain; version=0.0.4")
    if ok:
        assert check_identity(samples, A) == (A, CHECKED)
        return
    with pytest.raises(ScrapeError) as info:
        check_identity(samples, A)
    assert info.value.error_class == "identity_mismatch" and "is not 1" in str(info.value)
    with pytest.raises(ScrapeError):
        check_identity(samples, "")  # nor as a self-declared identity


# -- 21. the exporter says where it listens once ----------------------------------------------------------------------
async def test_the_exporter_banner_is_printed_once_not_also_logged(capsys: pytest.CaptureFixture[str],
                                                                   caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    import logging

    from exporter.config import ExporterConfig
    from exporter.server import serve_forever

    caplog.set_level(logging.INFO)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_forever(ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False}), stop))
    out = ""
    try:
        deadline = asyncio.get_running_loop().time() + 30  # a hang guard: the loop ends once the banner is out
        while asyncio.get_running_loop().time() < deadline and not task.done():
            out += capsys.readouterr().out
            if "listening on" in out:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    assert out.count("naap exporter listening on") == 1
    assert not [r for r in caplog.records if "listening on" in r.getMessage()]
