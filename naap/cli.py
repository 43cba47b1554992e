"""`naap`: the command line, a thin shell over the library.

Subcommands import their parts lazily, so `naap exporter` works on an exporter-only install
(`pip install '.[exporter]'`) without chdb, litestar or web3; a command whose extra is not installed says so
in `naap --help` and, when run, in one line.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import click

from exporter.common.clock import now_ms
from naap import __version__
from naap.settings import Settings, SettingsError, load_settings

# Modules each extra brings; a command that needs an extra whose modules are missing is replaced by a stub.
EXTRA_MODULES = {
    "exporter": ("aiohttp", "prometheus_client"),
    "collector": ("clickhouse_connect", "chdb", "litestar", "uvicorn", "apscheduler", "web3"),
    "prober": ("grpc", "google.protobuf", "av", "numpy", "cryptography"),
}


class FiniteFloat(click.FloatRange):
    """A float option that refuses NaN and infinities (Click's FloatRange admits NaN: every comparison with it is
    false), optionally within [min, max]; a usage error (exit 2) names the option."""

    name = "float"

    def _describe_range(self) -> str:
        return "" if self.min is None and self.max is None else super()._describe_range()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number




def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install is not an installed one
        return False


def missing_extra(extra: str) -> bool:
    return not all(_installed(m) for m in EXTRA_MODULES[extra])


def needs(extra: str) -> Callable[[click.Command], click.Command]:
    """Mark a command as needing an extra (pyproject.toml's optional dependencies)."""

    def mark(cmd: click.Command) -> click.Command:
        cmd.needs_extra = extra  # type: ignore[attr-defined]
        return cmd

    return mark


class ExtrasGroup(click.Group):
    """A group whose commands, when their extra is not installed, become one-line stubs saying what to install."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        extra = getattr(cmd, "needs_extra", None)
        if cmd is None or extra is None or not missing_extra(extra):
            return cmd
        message = f"needs the {extra} extra: pip install 'naap-sla[{extra}]'"
        full_name = f"{ctx.command_path} {cmd_name}" if ctx.command_path else f"naap {cmd_name}"

        def refuse() -> None:
            raise click.ClickException(f"{full_name} {message}")

        return click.Command(cmd_name, callback=refuse, help=message, short_help=message, add_help_option=False,
                             context_settings={"ignore_unknown_options": True, "allow_extra_args": True})  # fmt: skip

log = logging.getLogger("naap")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("apscheduler", "httpx", "uvicorn.error", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # apscheduler logs a line per skipped or missed job; the scraper records each such slot itself (a void
    # row, naap_scraper_overruns_total), and an overloaded scraper would otherwise flood the log.
    logging.getLogger("apscheduler.scheduler").setLevel(max(logging.ERROR, logging.getLogger().level))


def _run_collector(main: Callable[[asyncio.Event], Awaitable[Any]]) -> Any:
    """run_until_signal, with start-up failures (warehouse, ports) as one line and exit 1."""
    from naap.collector import StartError

    try:
        return run_until_signal(main)
    except StartError as e:
        raise click.ClickException(str(e)) from None


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[Any]]) -> Any:
    """Run `main(stop)` until it returns; SIGINT/SIGTERM set `stop` for a clean shutdown. A second signal during
    that shutdown stops at once: `main` is cancelled (the collector counts and logs what it abandons), and the
    process exits without waiting for work stuck in threads (an insert to a server that stopped answering)."""
    forced: list[int] = []

    async def runner() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(sig: int) -> None:
            if not stop.is_set():
                stop.set()
            elif not forced:
                forced.append(sig)
                log.warning("second signal: stopping at once")
                if task is not None:
                    task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            result = await main(stop)
        except asyncio.CancelledError:
            if forced:  # before asyncio.run's teardown, which would wait for every worker thread
                _exit_now(128 + forced[0])
            raise
        if forced:
            _exit_now(128 + forced[0])
        return result

    return asyncio.run(runner())


def _exit_now(code: int) -> None:
    """Exit without waiting for worker threads (they may be blocked on a network read until its time limit)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _settings(config: str | None, overrides: dict[str, Any], flags: dict[str, str] | None = None) -> Settings:
    """The settings, or a usage error; `flags` names the flag behind each overridden field (see load_settings)."""
    try:
        return load_settings(config, overrides, {**WAREHOUSE_FLAGS, **(flags or {})})
    except SettingsError as e:
        raise click.UsageError(str(e)) from None


WAREHOUSE_FLAGS = {"warehouse.dsn": "--warehouse", "warehouse.data_dir": "--data-dir"}


def _sla_config(settings: Settings) -> Any:
    """The SLA config `scoring.config` names (or the packaged one), loaded and validated, or a usage error."""
    from scoring.sla_config import ConfigError, load_config

    try:
        return load_config(settings.scoring.config)
    except ConfigError as e:
        raise click.UsageError(f"the SLA config (scoring.config): {e}") from None


def _warehouse_overrides(warehouse: str | None, data_dir: str | None) -> dict[str, Any]:
    wh: dict[str, Any] = {}
    if warehouse:
        wh["dsn"] = warehouse
    if data_dir:
        wh["data_dir"] = data_dir
    return {"warehouse": wh} if wh else {}


def _merge(*dicts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            if isinstance(v, dict):
                out.setdefault(k, {}).update(v)
            else:
                out[k] = v
    return out


config_option = click.option(
    "--config", "config", type=click.Path(dir_okay=False), envvar="NAAP_CONFIG", help="Settings YAML file (also NAAP_CONFIG)."
)
warehouse_option = click.option(
    "--warehouse", metavar="DSN", help="Warehouse DSN: chdb:///path (embedded, default) or http(s)://host:8123."
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Data directory of the embedded warehouse."
)


@click.group(cls=ExtrasGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="naap")
@click.option(
    "--log-level", default="info", show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False), help="Log verbosity (stderr).",
)  # fmt: skip
def cli(log_level: str) -> None:
    """NaaP SLA metrics: exporter, scraper, scoring and API for the Livepeer AI video network."""
    _setup_logging(log_level)


# --------------------------------------------------------------------------------------- exporter
@needs("exporter")
@cli.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Exporter YAML file; flags override it.")
@click.option("--host", help="Address /metrics listens on. [default: 0.0.0.0]")
@click.option("--port", type=int, help="Port of /metrics; 0 picks one. [default: 9935]")
@click.option("--orchestrator", metavar="0x…", help="This orchestrator's Ethereum address (in naap_exporter_build_info).")
@click.option("--region", help="Declared region, e.g. us-east.")
@click.option("--no-nvml", is_flag=True, default=None, help="Do not read GPUs through NVML.")
@click.option("--gpu-interval", type=FiniteFloat(), help="Seconds between GPU reads. [default: 1]")
@click.option("--window", type=FiniteFloat(), help="FPS window in seconds; jitter spans 12 windows. [default: 5]")
@click.option("--dcgm", "dcgm_mode", type=click.Choice(["auto", "bindings", "url", "off"]),
              help="DCGM profiling source: auto = --dcgm-url if given, else the DCGM Python bindings if installed. "
                   "[default: auto]")  # fmt: skip
@click.option("--dcgm-url", metavar="URL", help="A co-located dcgm-exporter /metrics URL, e.g. http://127.0.0.1:9400/metrics.")
@click.option("--livepeer-url", metavar="URL",
              help="The local go-livepeer /metrics URL to relay, e.g. http://127.0.0.1:7935/metrics. [default: off]")  # fmt: skip
@click.option("--no-push", is_flag=True, default=None,
              help="Refuse runner pushes (in-process SDK only); the default with --simulate.")
@click.option("--no-host-metrics", is_flag=True, default=None,
              help="Do not expose this host's CPU, load, memory, disk and network (naap_host_*; on by default, "
                   "real even with --simulate).")  # fmt: skip
@click.option("--push-host", help="Address the runner push listener binds. [default: 127.0.0.1]")
@click.option("--push-port", type=int, help="Port of the runner push listener (POST /v1/push). [default: 9936]")
@click.option("--push-allow", multiple=True, metavar="CIDR",
              help="Peer network allowed to push; repeatable; replaces the loopback default (e.g. a Docker bridge "
                   "172.17.0.0/16).")  # fmt: skip
@click.option("--model-flops", multiple=True, metavar="MODEL=FLOPS",
              help="FLOPs per output frame for a model_id (proxy CUE); repeatable, e.g. my-model=1.2e12.")  # fmt: skip
@click.option("--simulate", is_flag=True, default=None, help="Serve a simulated GPU source and runner (no GPU needed).")
@click.option("--gpus", type=int, help="Simulated GPUs. [default: 1]")
@click.option("--streams", type=int, help="Simulated concurrent streams. [default: 4]")
@click.option("--profile", help="Simulated quality: steady, jittery, slow, flaky, offline. [default: steady]")
@click.option("--gpu-model", help="Simulated GPU model: H100, L40S, A100, RTX4090, RTX5090. [default: RTX4090]")
@click.option("--simulate-dcgm", is_flag=True, default=None, help="Simulated GPUs also report DCGM profiling.")
@click.option("--seed", type=int, help="Seed of the simulation. [default: 0]")
def exporter(
    config: str | None,
    no_nvml: bool | None,
    gpu_interval: float | None,
    window: float | None,
    dcgm_mode: str | None,
    dcgm_url: str | None,
    livepeer_url: str | None,
    no_push: bool | None,
    no_host_metrics: bool | None,
    push_host: str | None,
    push_port: int | None,
    push_allow: tuple[str, ...],
    model_flops: tuple[str, ...],
    **flags: Any,
) -> None:
    """Serve this orchestrator's GPU, stream, CUE and go-livepeer capacity metrics at /metrics.

    Prometheus text format, or OpenMetrics when asked (Accept header); gzip when asked. Runners in other
    processes push stream metrics to POST /v1/push on a loopback-only listener. Every option can also be
    set in --config (see docs/exporter.md); flags win.
    """
    from exporter.config import ExporterConfigError, load_exporter_config
    from exporter.server import ExporterStartError, serve_forever

    flags["nvml"] = False if no_nvml else None
    flags["gpu_interval_s"] = gpu_interval
    flags["window_s"] = window
    flags["dcgm"] = {"mode": dcgm_mode, "url": dcgm_url}
    flags["livepeer"] = {"url": livepeer_url}
    flags["host_metrics"] = {"enabled": False if no_host_metrics else None}
    flags["push"] = {"enabled": False if no_push else None, "host": push_host, "port": push_port,
                     "allow": list(push_allow) or None}  # fmt: skip
    flops: dict[str, float] = {}
    for item in model_flops:
        name, _, value = item.partition("=")
        try:
            flops[name.strip()] = float(value)
        except ValueError:
            raise click.UsageError(f"--model-flops {item!r}: expected MODEL=FLOPS, e.g. my-model=1.2e12") from None
    flags["cue"] = {"model_flops": flops or None}
    try:
        cfg = load_exporter_config(config, flags)
    except ExporterConfigError as e:
        raise click.UsageError(str(e)) from None
    try:
        run_until_signal(lambda stop: serve_forever(cfg, stop))
    except ExporterStartError as e:  # one line: a port in use, a requested source that cannot start, ...
        raise click.ClickException(str(e)) from None


# --------------------------------------------------------------------------------------- scrape
@needs("collector")
@cli.command()
@config_option
@click.option("--targets", "target_files", multiple=True, type=click.Path(dir_okay=False),
              help="file_sd JSON/YAML or a list of URLs; repeatable.")  # fmt: skip
@click.option("--once", is_flag=True, help="Scrape every target once, print one JSON line each, and exit.")
@click.option("--allow-loopback", is_flag=True, default=None, help="Allow 127.0.0.0/8 and ::1 targets (tests, demos).")
@click.option("--interval", type=FiniteFloat(), help="Scrape interval in seconds. [default: 15]")
@click.option("--timeout", type=FiniteFloat(), help="Per-scrape time limit in seconds. [default: 10]")
@click.option("--shard", metavar="i/N", help="Scrape only targets whose stable hash mod N is i.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve the scraper's own /metrics on this port (127.0.0.1; 0 picks one). Not with --once.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="With --once: scrape and print, store nothing.")
@warehouse_option
@data_dir_option
def scrape(
    config: str | None,
    target_files: tuple[str, ...],
    once: bool,
    allow_loopback: bool | None,
    interval: float | None,
    timeout: float | None,
    shard: str | None,
    metrics_port: int | None,
    dry_run: bool,
    warehouse: str | None,
    data_dir: str | None,
) -> None:
    """Scrape targets into the warehouse (continuously, or --once).

    --once stores into the warehouse you name (--warehouse or --data-dir; --dry-run stores nothing) and exits 0
    when every target could be read from the targets files, even if scrapes failed (their lines say why); a
    missing or broken targets file exits 1. N scrapers with --shard 0/N … N-1/N split the targets exactly (each
    target in exactly one shard); they need a ClickHouse server DSN to share a warehouse.
    """
    if once and not (warehouse or data_dir or dry_run or os.environ.get("NAAP_WAREHOUSE__DSN") or os.environ.get("NAAP_WAREHOUSE__DATA_DIR")):
        raise click.UsageError("--once needs a destination: --data-dir DIR or --warehouse DSN (or --dry-run to store nothing)")
    if dry_run and not once:
        raise click.UsageError("--dry-run goes with --once")
    if once and metrics_port is not None:
        raise click.UsageError("--metrics-port does not go with --once (a single pass serves no /metrics)")
    scraper_over: dict[str, Any] = {}
    if metrics_port is not None:
        scraper_over["metrics_port"] = metrics_port
    if allow_loopback:
        scraper_over["allow_loopback"] = True
    if interval is not None:
        scraper_over["interval_s"] = interval
        if timeout is None:
            scraper_over["timeout_s"] = min(10.0, interval)
    if timeout is not None:
        scraper_over["timeout_s"] = timeout
    if shard:
        scraper_over["shard"] = shard
    overrides = _merge(_warehouse_overrides(warehouse, data_dir), {"scraper": scraper_over} if scraper_over else {})
    settings = _settings(config, overrides, {"scraper.metrics_port": "--metrics-port", "scraper.interval_s": "--interval",
                                             "scraper.timeout_s": "--timeout", "scraper.shard": "--shard"})  # fmt: skip
    if target_files:
        settings.discovery.target_files = [*settings.discovery.target_files, *map(Path, target_files)]
    if not settings.discovery.target_files and not settings.discovery.targets:
        raise click.UsageError("no targets: give --targets FILE or discovery.targets in --config")
    from naap.collector import StartError
    from naap.runner import NoTargets, scrape_forever, scrape_once

    if once:
        try:
            lines, problems = asyncio.run(scrape_once(settings, store=not dry_run))
        except NoTargets as e:
            raise click.ClickException(f"nothing to scrape: {e}") from None
        except StartError as e:
            raise click.ClickException(str(e)) from None
        for line in lines:
            click.echo(json.dumps(line, sort_keys=True))
        if problems:
            raise click.ClickException("targets: " + "; ".join(problems))
    else:
        _run_collector(lambda stop: scrape_forever(settings, stop))


# --------------------------------------------------------------------------------------- collect
@needs("collector")
@cli.command()
@config_option
@click.option("--targets", "target_files", multiple=True, type=click.Path(dir_okay=False),
              help="file_sd JSON/YAML or a list of URLs; repeatable.")  # fmt: skip
@click.option("--allow-loopback", is_flag=True, default=None, help="Allow 127.0.0.0/8 and ::1 targets.")
@click.option("--host", help="API listen address. [default: 127.0.0.1]")
@click.option("--port", type=int, help="API port. [default: 8000]")
@warehouse_option
@data_dir_option
def collect(
    config: str | None,
    target_files: tuple[str, ...],
    allow_loopback: bool | None,
    host: str | None,
    port: int | None,
    warehouse: str | None,
    data_dir: str | None,
) -> None:
    """Run the whole collector: discovery, scraper, scoring and API in one process."""
    api: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    overrides = _merge(
        _warehouse_overrides(warehouse, data_dir),
        {"api": api} if api else {},
        {"scraper": {"allow_loopback": True}} if allow_loopback else {},
    )
    settings = _settings(config, overrides, {"api.port": "--port", "api.host": "--host"})
    if target_files:
        settings.discovery.target_files = [*settings.discovery.target_files, *map(Path, target_files)]
    sla = _sla_config(settings)
    from naap.collector import Collector, Running

    def ready(r: Running) -> None:
        click.echo(f"collector: {r.targets} targets ({r.refused} refused); API {r.api_url}  docs {r.docs_url}")

    _run_collector(lambda stop: Collector(settings, sla_config=sla).run(stop, ready))


# --------------------------------------------------------------------------------------- api
@needs("collector")
@cli.command()
@config_option
@click.option("--host", help="Listen address. [default: 127.0.0.1]")
@click.option("--port", type=int, help="Port. [default: 8000]")
@warehouse_option
@data_dir_option
def api(config: str | None, host: str | None, port: int | None, warehouse: str | None, data_dir: str | None) -> None:
    """Serve the public API over an existing warehouse (a server DSN, or an embedded one nobody else holds)."""
    api_over: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = _settings(config, _merge(_warehouse_overrides(warehouse, data_dir), {"api": api_over} if api_over else {}),
                         {"api.port": "--port", "api.host": "--host"})  # fmt: skip
    sla = _sla_config(settings)
    import uvicorn

    from api.app import create_app
    from naap.collector import bind_listener, listen_error
    from warehouse.client import WarehouseError
    from warehouse.migrations import open_warehouse

    try:
        sock = bind_listener(settings.api.host, settings.api.port)
    except OSError as e:
        raise click.ClickException(listen_error("the API", settings.api.host, settings.api.port, e)) from None
    try:
        wh = open_warehouse(settings.warehouse, migrate=False, holder="naap api", create=False)
    except WarehouseError as e:
        sock.close()
        raise click.ClickException(str(e)) from None
    shown_host = "127.0.0.1" if settings.api.host in ("0.0.0.0", "") else settings.api.host
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    url = f"http://{shown_host}:{sock.getsockname()[1]}"
    click.echo(f"API {url}  docs {url}/docs")
    try:
        app = create_app(wh.reader(settings.api.query_timeout_s), sla, settings.api)
        uvicorn.Server(uvicorn.Config(app, log_level="critical", **settings.api.server_kwargs())).run(sockets=[sock])
    finally:
        wh.close()


# --------------------------------------------------------------------------------------- score
@needs("collector")
@cli.command()
@config_option
@click.option("--period", help="Scoring period (from the SLA config). [default: every period; 5m for a v1 config]")
@click.option("--at", "at_ms", type=int, help="Window end, epoch milliseconds. [default: now, aligned to the step]")
@warehouse_option
@data_dir_option
def score(config: str | None, period: str | None, at_ms: int | None, warehouse: str | None, data_dir: str | None) -> None:
    """Compute SLA scores from the raw log and print them as JSON lines (nothing is published).

    With a v1 config, every base window of the period is reduced from the raw log first (as of now), which takes
    a while for long periods.
    """
    from scoring.compute import aligned_window_end, compute_scores
    from scoring.sla_config import ConfigError, is_v1, load_config
    from warehouse.client import WarehouseError
    from warehouse.migrations import open_warehouse

    settings = _settings(config, _warehouse_overrides(warehouse, data_dir))
    try:
        sla = load_config(settings.scoring.config)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if period and period not in sla.periods:
        raise click.UsageError(f"unknown period {period!r}; configured: {', '.join(sla.periods)}")
    periods = [period] if period else (["5m"] if is_v1(sla) and "5m" in sla.periods else list(sla.periods))
    step = sla.spec.base_window_s if is_v1(sla) else sla.step_s
    end = at_ms if at_ms is not None else aligned_window_end(now_ms(), step)
    try:
        wh = open_warehouse(settings.warehouse, migrate=False, holder="naap score", create=False)
    except WarehouseError as e:
        raise click.ClickException(str(e)) from None
    printed = 0
    try:
        for p in periods:
            if is_v1(sla):
                from scoring.publish_v1 import score_from_raw

                scores = score_from_raw(wh, sla, p, end, now_ms())
                scores = [s for s in scores if s.workflow == ""]
            else:
                scores = compute_scores(wh, sla, p, end)
            for s in scores:
                click.echo(json.dumps(s.as_dict(), sort_keys=True))
                printed += 1
    except WarehouseError as e:
        raise click.ClickException(str(e)) from None
    finally:
        wh.close()
    if not printed:
        raise click.ClickException(f"nothing to score: no scrape rows or samples in the windows ending {end} (epoch ms)")


# --------------------------------------------------------------------------------------- replay
def _time_ms(value: str | None, name: str) -> int | None:
    """Epoch milliseconds, or an ISO 8601 time (UTC unless it says otherwise)."""
    if value is None:
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    from datetime import datetime, timezone

    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.UsageError(f"{name} {value!r}: give epoch milliseconds or an ISO 8601 time, e.g. 2026-11-29T20:00:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)


@needs("collector")
@cli.command()
@config_option
@click.option("--from", "from_", metavar="T", help="First window end: epoch ms or ISO 8601. [default: 24 h before --to]")
@click.option("--to", metavar="T", help="Last window end: epoch ms or ISO 8601. [default: now]")
@click.option("--orchestrator", metavar="0x…", help="Only this orchestrator's scores.")
@click.option("--period", help="Only this period's scores (e.g. 1h).")
@click.option("--no-inputs", is_flag=True, help="v1: recompute scores from the stored base-window inputs only, without "
              "recomputing those inputs from the raw log (fast; checks the arithmetic, not the inputs).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per score instead of text.")
@warehouse_option
@data_dir_option
def replay(config: str | None, from_: str | None, to: str | None, orchestrator: str | None, period: str | None,
           no_inputs: bool, as_json: bool, warehouse: str | None, data_dir: str | None) -> None:  # fmt: skip
    """Recompute published scores with the config version and hash each one names; print identical or the difference.

    Exits 1 if any score differs or could not be recomputed.
    """
    from exporter.common.eth import eth_address
    from scoring.replay import json_diff, published_scores, replay as run_replay, summary
    from warehouse.client import WarehouseError
    from warehouse.migrations import open_warehouse

    hi = _time_ms(to, "--to") or now_ms()
    lo = _time_ms(from_, "--from")
    lo = hi - 86_400_000 if lo is None else lo
    if lo > hi:
        raise click.UsageError("--from is after --to")
    orch = None
    if orchestrator:
        try:
            orch = eth_address(orchestrator)
        except ValueError as e:
            raise click.UsageError(f"--orchestrator {e}") from None
    if period is not None:
        from scoring.sla_config import released_configs

        known = sorted({p for cfg in released_configs().values() for p in cfg.periods})
        if period not in known:
            raise click.UsageError(f"--period {period!r} is no period of any released SLA config ({', '.join(known)})")
    settings = _settings(config, _warehouse_overrides(warehouse, data_dir))
    try:
        wh = open_warehouse(settings.warehouse, migrate=False, holder="naap replay", create=False)
    except WarehouseError as e:
        raise click.ClickException(str(e)) from None
    try:
        rows = published_scores(wh, lo, hi, orch, period)
        results = run_replay(wh, rows, verify_inputs=not no_inputs)
    except WarehouseError as e:
        raise click.ClickException(str(e)) from None
    finally:
        wh.close()
    for r in results:
        if as_json:
            click.echo(json.dumps({"period": r.period, "window_end": r.window_end_ms, "orchestrator": r.orchestrator,
                                   "workflow": r.workflow, "config_version": r.config_version, "identical": r.identical,
                                   "reason": r.reason}, sort_keys=True))  # fmt: skip
            continue
        head = f"{r.period:>4} {r.window_end_ms} {r.orchestrator} {r.workflow or '-'} {r.config_version}"
        if r.identical:
            click.echo(f"identical  {head}" + (f"  ({r.reason})" if r.reason else ""))
            continue
        click.echo(f"DIFFERS    {head}: {r.reason}")
        if r.recomputed:
            for line in json_diff(json.loads(r.published), json.loads(r.recomputed))[:10]:
                click.echo(f"           {line}")
    s = summary(results)
    click.echo(f"{s['replayed']} scores replayed: {s['identical']} identical, {s['differ']} differ", err=True)
    if not results:
        click.echo("no published scores in that range", err=True)
    if s["differ"]:
        sys.exit(1)


# --------------------------------------------------------------------------------------- discover
@needs("collector")
@cli.command()
@config_option
@click.option("--rpc", "rpc_urls", multiple=True, metavar="URL",
              help="Arbitrum One JSON-RPC URL; repeat for failover. [default: discovery.chain.rpc_urls]")  # fmt: skip
@click.option("--controller", metavar="0x…", help="Livepeer Controller address. [default: Arbitrum One's]")
@click.option("--format", "fmt", type=click.Choice(["table", "http_sd", "json"]), default="table", show_default=True,
              help="table for people; http_sd: Prometheus HTTP SD JSON of the accepted targets; json: one line each.")  # fmt: skip
@click.option("--include-inactive", is_flag=True, help="Also give targets to orchestrators outside the active set.")
@click.option("--allow-loopback", is_flag=True, default=None, help="Accept 127.0.0.0/8 and ::1 metrics URLs (local chains).")
def discover(config: str | None, rpc_urls: tuple[str, ...], controller: str | None, fmt: str,
             include_inactive: bool, allow_loopback: bool | None) -> None:  # fmt: skip
    """Walk the on-chain registry once, print every orchestrator with its metrics URL, and exit.

    Reads the Livepeer Controller, BondingManager and ServiceRegistry at one block. Refused orchestrators
    (no or malformed service URI, forbidden address, inactive) are listed with the reason. A summary goes
    to stderr. Exits 1 when the walk fails.
    """
    chain: dict[str, Any] = {}
    if rpc_urls:
        chain["rpc_urls"] = list(rpc_urls)
    if controller:
        chain["controller"] = controller
    if include_inactive:
        chain["active_only"] = False
    base = _settings(config, {})
    merged = {**(base.discovery.chain.model_dump() if base.discovery.chain else {}), **chain}
    if not merged.get("rpc_urls"):
        raise click.UsageError("no RPC URL: give --rpc URL or discovery.chain.rpc_urls in --config")
    over: dict[str, Any] = {"discovery": {**base.discovery.model_dump(), "chain": merged}}
    if allow_loopback:
        over["scraper"] = {"allow_loopback": True}
    given = {k: f for k, f, v in (("discovery.chain.controller", "--controller", controller),
                                  ("discovery.chain.rpc_urls", "--rpc", rpc_urls)) if v}  # fmt: skip
    settings = _settings(config, over, given)
    try:
        from discovery.chain import chain_source_from_settings
        from discovery.report import walk_once
    except ImportError as e:
        raise click.ClickException(f"chain discovery needs the collector extra (pip install 'naap-sla[collector]'): {e}") from None
    assert settings.discovery.chain is not None
    # The table says per orchestrator what the discovery log would say: keep stderr to the summary.
    logging.getLogger("discovery").setLevel(max(logging.WARNING, logging.getLogger().level))
    source = chain_source_from_settings(settings.discovery.chain)
    try:
        report = asyncio.run(walk_once(source, settings.scraper.allow_loopback, settings.discovery.resolve_names))
    except RuntimeError as e:
        raise click.ClickException(f"the walk failed: {e}") from None
    click.echo(report.render(fmt), nl=False)
    click.echo(report.summary(), err=True)


# --------------------------------------------------------------------------------------- demo
@needs("collector")
@cli.command()
@click.option("--orchestrators", "n", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Simulated orchestrators to start.")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="API port (0 picks one).")
@click.option("--chain", is_flag=True,
              help="Register the fleet on an in-process local chain and find it by on-chain discovery.")  # fmt: skip
@data_dir_option
@config_option
def demo(n: int, port: int, chain: bool, data_dir: str | None, config: str | None) -> None:
    """Start a simulated fleet on loopback and a collector that scrapes, scores and serves it.

    The collector runs with your settings (--config, environment) and the demo's overrides: loopback allowed,
    5 s scrapes, the fleet as targets, the API on --port. Each run starts with a fresh embedded warehouse in a
    temporary directory (removed at the end) unless --data-dir names one to keep; a configured warehouse DSN
    (warehouse.dsn, NAAP_WAREHOUSE__DSN) is ignored: the demo never writes into your warehouse.
    """
    import shutil
    import tempfile

    from naap.collector import StartError, bind_listener, listen_error
    from naap.demo import run_demo

    base = _settings(config, {})
    _sla_config(base)
    if port:  # a taken port is said before the fleet starts (the collector binds it again for real)
        try:
            bind_listener("127.0.0.1", port).close()
        except OSError as e:
            raise click.ClickException(listen_error("the API", "127.0.0.1", port, e)) from None
    directory = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="naap-demo-"))
    try:
        run_until_signal(lambda stop: run_demo(base, n, port, directory, stop, chain=chain))
    except (RuntimeError, StartError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        if not data_dir:
            shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------------------- slo
def _sla_v1(settings: Settings) -> Any:
    """The settings' SLA config, which must be a v1 one (SLOs are a v1 feature)."""
    from scoring.sla_config import ConfigError, is_v1, load_config

    try:
        sla = load_config(settings.scoring.config)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if not is_v1(sla):
        raise click.UsageError(f"SLOs need a v1 SLA config; scoring.config is version {sla.version}")
    return sla


@cli.group(cls=ExtrasGroup, invoke_without_command=True)
@config_option
@click.option("--at", "at_ms", type=int, help="Status at this time, epoch milliseconds. [default: now]")
@click.option("--orchestrator", metavar="0x…", help="Only this orchestrator's SLOs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table for people; json: one object per (orchestrator, workflow, SLO) and line.")  # fmt: skip
@warehouse_option
@data_dir_option
@click.pass_context
def slo(ctx: click.Context, config: str | None, at_ms: int | None, orchestrator: str | None, fmt: str,
        warehouse: str | None, data_dir: str | None) -> None:  # fmt: skip
    """Error budgets: every SLO's objective, budget left, burn rates and alert conditions, from the warehouse.

    Without a subcommand: the status of each (orchestrator, workflow) and SLO of the v1 SLA config, workflow "-"
    being the orchestrator as a whole (docs/slo.md). `naap slo rules` writes the Prometheus rule files.
    """
    if ctx.invoked_subcommand is not None:
        return
    if missing_extra("collector"):
        raise click.ClickException("naap slo needs the collector extra: pip install 'naap-sla[collector]'")
    from scoring.slo import slo_status, status_table
    from warehouse.client import WarehouseError
    from warehouse.migrations import open_warehouse

    if orchestrator:
        from exporter.common.eth import eth_address

        try:
            orchestrator = eth_address(orchestrator.lower())  # a filter: any case, as before
        except ValueError as e:
            raise click.UsageError(f"--orchestrator {e}") from None
    settings = _settings(config, _warehouse_overrides(warehouse, data_dir))
    sla = _sla_v1(settings)
    at = at_ms if at_ms is not None else now_ms()
    try:
        wh = open_warehouse(settings.warehouse, migrate=False, holder="naap slo", create=False)
    except WarehouseError as e:
        raise click.ClickException(str(e)) from None
    try:
        statuses = slo_status(wh, sla, at)
    except WarehouseError as e:
        raise click.ClickException(str(e)) from None
    finally:
        wh.close()
    if orchestrator:
        statuses = [s for s in statuses if s.orchestrator == orchestrator.lower()]
    if not statuses:
        raise click.ClickException(f"no SLO data: no score inputs of config {sla.version} in the SLO period before {at} (epoch ms)")
    for line in ([json.dumps(s.as_dict(), sort_keys=True) for s in statuses] if fmt == "json" else status_table(statuses)):
        click.echo(line)


@needs("exporter")
@slo.command("rules")
@config_option
@click.option("--output", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Directory to write naap-slo-alerts.yaml and naap-slo-recording.yaml into (created if missing).")  # fmt: skip
@click.option("--job", default="naap-exporter", show_default=True,
              help="Scrape job of the orchestrator's exporter in its Prometheus (availability is its `up`).")  # fmt: skip
def slo_rules(config: str | None, output: str, job: str) -> None:
    """Write the Prometheus rule files of the SLA config's SLOs: burn-rate alerts over naap_slo_burn_rate, and
    recording rules that compute those series in an orchestrator's own Prometheus from its exporter.

    Check them with `promtool check rules`; docs/slo.md shows how to load them.
    """
    from scoring.slo_rules import write_rules

    sla = _sla_v1(_settings(config, {}))
    try:
        for path in write_rules(sla, Path(output), job):
            click.echo(str(path))
    except OSError as e:
        raise click.ClickException(f"cannot write the rule files into {output}: {e.strerror or e}") from None


# --------------------------------------------------------------------------------------- probe
@cli.group(cls=ExtrasGroup, invoke_without_command=True)
@config_option
@click.option("--target", "given", multiple=True, metavar="HOST:PORT[=0x…]",
              help="An orchestrator's service address (where go-livepeer serves gRPC), optionally with its eth address; "
                   "repeatable. Probed beside the discovered ones.")  # fmt: skip
@click.option("--targets", "target_files", multiple=True, type=click.Path(dir_okay=False),
              help="file_sd JSON/YAML or a list of URLs; entries are probed when they carry a service_uri label. Repeatable.")  # fmt: skip
@click.option("--no-discovery", is_flag=True, help="Probe only the --target orchestrators, not discovery's targets.")
@click.option("--allow-loopback", is_flag=True, default=None, help="Allow 127.0.0.0/8 and ::1 orchestrators (tests, demos).")
@click.option("--dataset", "dataset_refs", multiple=True, metavar="WORKFLOW/ID@VERSION",
              help="Draw probe items from these datasets instead of prober.datasets; repeatable.")  # fmt: skip
@click.option("--duration", type=FiniteFloat(2, 600), help="Seconds of input per probe. [default: prober.duration_s, 20]")
@click.option("--dry-run", is_flag=True, help="Probe and print; store nothing (no warehouse needed).")
@warehouse_option
@data_dir_option
@click.pass_context
def probe(ctx: click.Context, config: str | None, given: tuple[str, ...], target_files: tuple[str, ...], no_discovery: bool,
          allow_loopback: bool | None, dataset_refs: tuple[str, ...], duration: float | None, dry_run: bool,
          warehouse: str | None, data_dir: str | None) -> None:  # fmt: skip
    """Probe every orchestrator × advertised model once, as a live-video-to-video gateway would (docs/prober.md).

    Prints one signed result per probe on stdout (JSON lines: check them with `naap probe verify`) and a summary
    line per probe on stderr, stores them in the warehouse you name (--data-dir or --warehouse; --dry-run stores
    nothing), and exits 0 even when probes fail (their results say why). Nothing to probe, unusable datasets or
    keys, or an unreachable warehouse exit 1.
    """
    if ctx.invoked_subcommand is not None:
        return
    for extra in ("prober", "collector"):
        if missing_extra(extra):
            raise click.ClickException(f"naap probe needs the {extra} extra: pip install 'naap-sla[{extra}]'")
    if not (warehouse or data_dir or dry_run or os.environ.get("NAAP_WAREHOUSE__DSN") or os.environ.get("NAAP_WAREHOUSE__DATA_DIR")):
        raise click.UsageError("naap probe needs a destination: --data-dir DIR or --warehouse DSN (or --dry-run to store nothing)")
    from prober.canonical import canonical_json
    from prober.targets import parse_target

    targets = []
    for spec in given:
        try:
            targets.append(parse_target(spec))
        except ValueError as e:
            raise click.UsageError(f"--target {spec[:80]!r}: {e}") from None
    prober_over: dict[str, Any] = {}
    if allow_loopback:
        prober_over["allow_loopback"] = True
    if dataset_refs:
        prober_over["datasets"] = list(dataset_refs)
    if duration is not None:
        prober_over["duration_s"] = duration
    overrides = _merge(_warehouse_overrides(warehouse, data_dir), {"prober": prober_over} if prober_over else {},
                       {"scraper": {"allow_loopback": True}} if allow_loopback else {})  # fmt: skip
    settings = _settings(config, overrides)
    if target_files:
        settings.discovery.target_files = [*settings.discovery.target_files, *map(Path, target_files)]
    from discovery.safety import url_refusal

    for t in targets:  # the prober's own address rules refuse it: the command line's mistake, never a probe result
        reason = url_refusal(f"https://{t.target}", settings.prober.allow_loopback)
        if reason is not None:
            hint = " (add --allow-loopback for a local orchestrator)" if reason == "loopback" else ""
            raise click.UsageError(f"--target {t.target[:80]!r}: refused by the prober's address rules: {reason}{hint}")
    use_discovery = not no_discovery and bool(settings.discovery.targets or settings.discovery.target_files or settings.discovery.chain)
    if not targets and not use_discovery:
        raise click.UsageError("nothing to probe: give --target HOST:PORT, --targets FILE or discovery settings in --config")
    from naap.probing import ProbingError, probe_once, summary_line

    try:
        report, unprobed, problems = asyncio.run(probe_once(settings, targets, store=not dry_run, use_discovery=use_discovery))
    except ProbingError as e:
        raise click.ClickException(str(e)) from None
    for env in report.envelopes:
        click.echo(canonical_json(env).decode())
        click.echo(summary_line(env["result"]), err=True)
    for where, why in unprobed.reasons:
        click.echo(f"not probed: {where}: {why}", err=True)
    for key, model in report.uncovered:
        click.echo(f"not probed: {key} {model}: no dataset item for this model", err=True)
    for key in report.not_live:
        click.echo(f"not probed: {key}: advertises no live-video-to-video model", err=True)
    summary = report.summary()
    click.echo(f"period {summary['period_id']}: {summary['results']} results {summary['by_outcome']}"
               + (" (void: every probe failed to reach its orchestrator — the prober's fault)" if report.void else ""), err=True)  # fmt: skip
    if problems:
        click.echo("targets: " + "; ".join(problems), err=True)


@needs("prober")
@probe.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--public-key", metavar="HEX", help="The prober's ed25519 public key, 64 hex digits (GET /v1/prober serves it). "
              "[default: the public key of prober.key_file, when that file exists]")  # fmt: skip
@config_option
def probe_verify(file: str, public_key: str | None, config: str | None) -> None:
    """Check the signatures of exported probe results against the prober's public key.

    FILE holds signed results one per line (what `naap probe` prints), or the JSON object GET /v1/prober/results
    returns. Prints each invalid line with the reason and a count; exits 1 if any result fails or none is valid.
    """
    from prober.signing import ExportCheck, public_key_from_hex, verify, verify_export

    if public_key is None:
        settings = _settings(config, {})
        key_file = settings.prober.key_file
        if not key_file.exists():
            raise click.UsageError(f"give --public-key HEX (no key file at {key_file} to read it from)")
        from prober.signing import KeyFileError, load_or_create_key, public_key_hex

        try:
            public_key = public_key_hex(load_or_create_key(key_file))
        except KeyFileError as e:
            raise click.UsageError(str(e)) from None
    try:
        public_key_from_hex(public_key)
    except ValueError as e:
        raise click.UsageError(f"--public-key: {e}") from None
    path = Path(file)
    check: ExportCheck | None = None
    if path.stat().st_size <= 256 << 20:
        with open(path, "rb") as f:
            head = f.read(1).lstrip()
        if head == b"{":
            try:
                doc = json.loads(path.read_bytes())
            except ValueError:
                doc = None
            if isinstance(doc, dict) and isinstance(doc.get("results"), list):  # /v1/prober/results
                check = ExportCheck()
                for n, env in enumerate(doc["results"], 1):
                    reason = verify(env, public_key)
                    if reason is None:
                        check.valid += 1
                    else:
                        check.invalid.append((n, reason))
    if check is None:
        try:
            check = verify_export(path, public_key)
        except OSError as e:
            raise click.ClickException(f"cannot read {file}: {e.strerror or e}") from None
    for n, reason in check.invalid[:100]:
        click.echo(f"{file}:{n}: {reason}")
    click.echo(f"{check.valid} valid, {len(check.invalid)} invalid")
    if not check.ok:
        sys.exit(1)


# --------------------------------------------------------------------------------------- datasets
@cli.group()
def datasets() -> None:
    """The prober's test datasets (docs/prober.md): check a contributed one, list the shipped ones."""


@datasets.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(file_okay=False))
def datasets_validate(paths: tuple[str, ...]) -> None:
    """Check datasets: manifest schema, licences, hashes, canonical items, duplicate ids, params against the
    workflow's rules.

    Each PATH is a dataset folder (<workflow>/<id>/<version>/ with manifest.json and items.jsonl) or a root holding
    such folders. Prints every problem as file[:line]: message; exits 1 if any dataset has one.
    """
    from prober.datasets import discover, validate

    bad = 0
    checked = 0
    for p in map(Path, paths):
        if not p.is_dir():
            click.echo(f"{p}: not a folder")
            bad += 1
            continue
        folders = [p] if (p / "manifest.json").exists() else discover(p)
        if not folders:
            click.echo(f"{p}: no dataset here (no manifest.json, nor <workflow>/<id>/<version>/manifest.json below)")
            bad += 1
        for folder in folders:
            checked += 1
            problems = validate(folder)
            if problems:
                bad += 1
                for line in problems:
                    click.echo(f"{folder}: {line}")
            else:
                click.echo(f"{folder}: ok")
    if bad:
        raise click.ClickException(f"{bad} of {checked or len(paths)} datasets have problems")


@datasets.command("list")
@config_option
def datasets_list(config: str | None) -> None:
    """List the datasets under prober.datasets_dir (default: the shipped ones): ref, type, items, licence."""
    from prober.datasets import discover, load

    root = _settings(config, {}).prober.datasets_dir
    for folder in discover(root):
        try:
            ds = load(folder)
        except ValueError as e:
            click.echo(f"{folder}: invalid ({str(e).splitlines()[0]})")
            continue
        click.echo(f"{ds.workflow}/{ds.ref}  {ds.type:<6} {len(ds.items):>4} items  {ds.manifest['licence']}  {ds.manifest['description'][:70]}")


# --------------------------------------------------------------------------------------- config
@cli.command("config")
@config_option
def config_cmd(config: str | None) -> None:
    """Validate the settings (file + environment) and the SLA config they name, and print the effective values as YAML."""
    import yaml

    from warehouse.dsn import redact_dsn

    settings = _settings(config, {})
    if not missing_extra("collector"):  # the SLA config loader is the collector's (scoring/)
        _sla_config(settings)
    data = settings.model_dump(mode="json")
    if data["warehouse"].get("dsn"):  # never print credentials
        data["warehouse"]["dsn"] = redact_dsn(data["warehouse"]["dsn"])
    click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


# --------------------------------------------------------------------------------------- warehouse
@needs("collector")
@cli.group()
def warehouse() -> None:
    """Warehouse schema and maintenance."""


@warehouse.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Print the SQL of pending migrations and the retention settings; change "
              "nothing (a warehouse that does not exist is not created).")  # fmt: skip
@click.option("--all", "show_all", is_flag=True, help="With --dry-run: print every migration, applied or not.")
@warehouse_option
@data_dir_option
def migrate(config: str | None, dry_run: bool, show_all: bool, warehouse: str | None, data_dir: str | None) -> None:
    """Apply pending schema migrations (in order, once each), then the retention settings (warehouse.*_ttl_days)."""
    from warehouse.client import WarehouseError

    from warehouse.migrations import (
        MigrationError, apply_migrations, apply_retention, load_migrations, open_warehouse, render_retention, render_sql,
    )  # fmt: skip

    if dry_run and show_all:
        click.echo(render_sql(load_migrations()), nl=False)
        return
    settings = _settings(config, _warehouse_overrides(warehouse, data_dir))
    try:
        if dry_run:
            pending = _dry_run_pending(settings)
            if not pending:
                click.echo("-- up to date: no pending migrations")
            click.echo(render_sql(pending), nl=False)
            click.echo(render_retention(settings.warehouse), nl=False)
            return
        wh = open_warehouse(settings.warehouse, migrate=False)
        try:
            done = apply_migrations(wh)
            apply_retention(wh, settings.warehouse)
        finally:
            wh.close()
    except (WarehouseError, MigrationError) as e:
        raise click.ClickException(str(e)) from None
    if done:
        for m in done:
            click.echo(f"applied {m.version:04d}_{m.name}")
    else:
        click.echo("up to date: no pending migrations")


def _dry_run_pending(settings: Settings) -> list:
    """The migrations a real run would apply, changing nothing: an embedded warehouse that does not exist yet is
    not created (every migration is pending), and a database that does not exist is not created either."""
    from warehouse.client import Warehouse
    from warehouse.dsn import embedded_path, is_embedded
    from warehouse.migrations import load_migrations, pending_migrations

    dsn = settings.warehouse.resolved_dsn()
    if is_embedded(dsn) and not embedded_path(dsn).is_dir():
        return load_migrations()
    w = settings.warehouse
    wh = Warehouse(dsn, w.database, connect_timeout_s=w.connect_timeout_s, read_timeout_s=w.read_timeout_s,
                   create_database=False)  # fmt: skip
    try:
        if not wh.database_exists():
            return load_migrations()
        return pending_migrations(wh)
    finally:
        wh.close()


# --------------------------------------------------------------------------------------- bench
@cli.group(cls=ExtrasGroup)
def bench() -> None:
    """Benchmarks: commands that print measured figures beside a baseline from the same run."""


@needs("exporter")
@bench.command("exporter")
@click.option("--gpus", type=click.IntRange(1, 64), default=8, show_default=True, help="Simulated GPUs.")
@click.option("--streams", type=click.IntRange(0, 4096), default=64, show_default=True, help="Active streams.")
@click.option("--rounds", type=click.IntRange(10, 100000), default=200, show_default=True,
              help="Renders timed per measurement.")  # fmt: skip
def bench_exporter(gpus: int, streams: int, rounds: int) -> None:
    """/metrics render time and the cost of one SDK frame_out, each beside prometheus-client's own bare
    render and Counter.inc measured in the same run (goals: render <= 2 ms, frame_out <= 1 µs)."""
    from exporter.bench import run_benchmark

    for line in run_benchmark(gpus=gpus, streams=streams, rounds=rounds):
        click.echo(line)


@needs("collector")
@bench.command("catalog")
@click.option("--orchestrators", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Simulated orchestrators.")
@click.option("--gpus", type=click.IntRange(1, 64), default=4, show_default=True, help="GPUs per orchestrator (2 streams each).")
@click.option("--hours", type=FiniteFloat(1, 24 * 31), default=24, show_default=True, help="Hours of scrapes to load.")
@click.option("--interval", type=FiniteFloat(1, 3600), default=15, show_default=True, help="Scrape interval (s).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated fleet (same seed, same rows).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Warehouse directory (default: a fresh temporary one, removed after).")
def bench_catalog(orchestrators: int, gpus: int, hours: float, interval: float, seed: int, data_dir: str | None) -> None:
    """Load a generated fleet through the scraper's insert path, then print bytes on disk per raw sample after
    OPTIMIZE FINAL and the whole catalog's query time over 1 h and 24 h from the rollups and from raw (ratios)."""
    from naap.bench_catalog import format_result, run_bench

    res = run_bench(orchestrators, gpus, hours, interval, seed, Path(data_dir) if data_dir else None,
                    progress=lambda m: click.echo(m, err=True))  # fmt: skip
    click.echo(format_result(res))


@needs("collector")
@bench.command("api")
@click.option("--orchestrators", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Simulated orchestrators.")
@click.option("--gpus", type=click.IntRange(1, 64), default=4, show_default=True, help="GPUs per orchestrator (2 streams each).")
@click.option("--hours", type=click.IntRange(1, 24 * 31), default=24, show_default=True,
              help="Whole hours of scrapes to load (ending two hours ago).")  # fmt: skip
@click.option("--interval", type=FiniteFloat(1, 3600), default=60, show_default=True, help="Scrape interval (s).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated fleet (same seed, same rows).")
@click.option("--seconds", type=FiniteFloat(0.1, 600), default=5, show_default=True,
              help="Measured seconds per endpoint and configuration (under 1 s: a smoke run, not a figure).")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 4096), default=32, show_default=True,
              help="Concurrent clients (aiohttp, one process).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), help="Warehouse directory (default: a fresh temporary one, removed after).")
def bench_api(orchestrators: int, gpus: int, hours: int, interval: float, seed: int, seconds: float, concurrency: int,
              data_dir: str | None) -> None:  # fmt: skip
    """Load a generated fleet (as `bench catalog`) and publish score v1 over it, serve the real API on loopback, and
    drive every endpoint with concurrent clients: p50/p95/p99 latency and requests/s per endpoint with the response
    cache and without it, then one request at a time from the rollups and from the raw log without rollups (the
    ratio), then all endpoints at once."""
    from naap.bench_api import Plan, format_result, run_bench

    plan = Plan(orchestrators, gpus, hours, interval, seed, seconds, concurrency)
    try:
        res = run_bench(plan, data_dir, progress=lambda m: click.echo(m, err=True))
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None
    click.echo(format_result(res))


@needs("collector")
@bench.command("scrape")
@click.option("--targets", type=click.IntRange(1, 60_000), default=1000, show_default=True,
              help="Simulated exporters to start on loopback (one 127.x.y.z address each).")  # fmt: skip
@click.option("--seconds", type=FiniteFloat(1, 3600), default=60, show_default=True,
              help="Measured seconds, after one interval of warm-up.")  # fmt: skip
@click.option("--interval", type=FiniteFloat(0.5, 3600), default=15, show_default=True, help="Scrape interval (s).")
@click.option("--processes", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processes serving the simulated exporters.")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 100_000), default=512, show_default=True,
              help="Most scrapes in flight at once.")  # fmt: skip
@click.option("--batch-rows", type=click.IntRange(1000, 10_000_000), default=500_000, show_default=True,
              help="Samples per warehouse insert.")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), help="Warehouse directory (default: a fresh temporary one, removed after).")
def bench_scrape(targets: int, seconds: float, interval: float, processes: int, concurrency: int, batch_rows: int,
                 data_dir: str | None) -> None:  # fmt: skip
    """Scrape K simulated exporters into a fresh embedded warehouse and print samples/s stored, scrapes/s,
    overrun %, p99 scrape duration, CPU and RSS, against prometheus-client's parser alone on the same bodies."""
    from scraper.bench import format_result, run_bench

    logging.getLogger("scraper").setLevel(logging.ERROR)  # the figures, not per-window warnings
    try:
        res = run_bench(targets, seconds, interval, processes, concurrency, batch_rows,
                        Path(data_dir) if data_dir else None, progress=lambda m: click.echo(m, err=True))  # fmt: skip
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None
    click.echo(format_result(res))


@needs("collector")
@bench.command("replay")
@click.option("--orchestrators", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Simulated orchestrators.")
@click.option("--hours", type=FiniteFloat(1, 24 * 31), default=24, show_default=True, help="Hours of history to publish and replay.")
@click.option("--interval", type=click.IntRange(1, 3600), default=10, show_default=True, help="Scrape interval (s).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated history.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Warehouse directory (default: a fresh temporary one, removed after).")
def bench_replay(orchestrators: int, hours: float, interval: int, seed: int, data_dir: str | None) -> None:
    """Publish a generated history with score v1, replay every score (from stored inputs, then with inputs
    recomputed from the raw log), and project the time for 30 days x 100 orchestrators."""
    from scoring.bench_replay import run_bench

    run_bench(orchestrators, hours, interval, seed, data_dir)


@needs("prober")
@bench.command("probe")
@click.option("--standins", type=click.IntRange(1, 256), default=8, show_default=True, help="Stand-in orchestrators to probe.")
@click.option("--probes", type=click.IntRange(1, 100_000), default=32, show_default=True, help="Probes in the throughput phase.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Probes in flight at once.")
@click.option("--duration", type=FiniteFloat(2, 600), default=6, show_default=True, help="Seconds of input per probe.")
@click.option("--delay-ms", type=FiniteFloat(0, 10_000), default=200, show_default=True,
              help="Output delay the stand-ins inject (the accuracy phase also uses 2x and 3x).")  # fmt: skip
@click.option("--accuracy-probes", type=click.IntRange(1, 1000), default=9, show_default=True,
              help="Probes in the accuracy phase (one at a time).")  # fmt: skip
def bench_probe(standins: int, probes: int, concurrency: int, duration: float, delay_ms: float, accuracy_probes: int) -> None:
    """Probes per minute one prober sustains against stand-in orchestrators on this machine, its CPU per probe, and
    the E2E and P2FF measurement error against the stand-ins' ground truth (goal: within 5 ms p50 on loopback)."""
    from prober.bench import format_result, run_bench

    logging.getLogger("prober").setLevel(logging.ERROR)
    res = run_bench(standins, probes, concurrency, duration, delay_ms / 1000, accuracy_probes,
                    progress=lambda m: click.echo(m, err=True))  # fmt: skip
    click.echo(format_result(res))


def main() -> None:
    cli(prog_name="naap")


if __name__ == "__main__":
    main()
