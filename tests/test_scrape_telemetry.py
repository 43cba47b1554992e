"""The scraper's own /metrics: on the collector's API, and on the standalone scraper's listener."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from naap.collector import Collector
from naap.settings import Settings
from test_end_to_end import _fleet, running_collector

from exporter.simulate import PROFILES

FAMILIES = {
    "naap_scraper_targets", "naap_scraper_scrapes", "naap_scraper_samples", "naap_scraper_samples_per_second",
    "naap_scraper_scrape_duration_seconds", "naap_scraper_overruns", "naap_scraper_sink_queue_batches",
    "naap_scraper_sink_dropped_batches", "naap_scraper_sink_buffered_rows", "naap_scraper_warehouse_up",
    "naap_scraper_parses", "naap_scraper_void_windows", "naap_scraper_loop_lag_seconds",
}  # fmt: skip


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


OK = ("naap_scraper_scrapes_total", (("outcome", "ok"),))


async def _metrics_until(url: str, done, timeout_s: float = 30.0) -> str:  # noqa: ANN001
    """GET `url` until `done(samples)` holds; the deadline only guards against a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(url) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
            if done(_samples(text)):
                return text
            assert loop.time() < deadline, f"counters not reached in {timeout_s} s:\n{text}"
            await asyncio.sleep(0.1)


async def test_collector_api_serves_scraper_metrics(settings: Settings, fast_sla) -> None:  # noqa: ANN001
    fleet = await _fleet([PROFILES["steady"], PROFILES["steady"]])
    settings.discovery.targets = [{"url": s.url, "orchestrator": s.config.orchestrator} for s in fleet]
    settings.scraper.interval_s = 1.0  # first: the timeout may not exceed the interval
    settings.scraper.timeout_s = 1.0  # far above a loopback answer's time

    def enough(got: dict) -> bool:
        return (
            got.get(OK, 0) >= 4
            and got.get(("naap_scraper_parses_total", (("path", "fast"),)), 0) >= 4
            and got.get(("naap_scraper_scrape_duration_seconds_count", ()), 0) >= 4
            and got.get(("naap_scraper_samples_total", ()), 0) > 20
        )

    try:
        async with running_collector(settings, fast_sla) as (_collector, running):
            text = await _metrics_until(f"{running.api_url}/metrics", enough)
    finally:
        for s in fleet:
            await s.stop()
    names = {fam.name for fam in text_string_to_metric_families(text)}
    assert FAMILIES <= names, FAMILIES - names
    got = _samples(text)
    assert got[("naap_scraper_targets", ())] == 2
    assert got[("naap_scraper_scrapes_total", (("outcome", "ok"),))] >= 4
    assert got[("naap_scraper_samples_total", ())] > 20
    assert got[("naap_scraper_parses_total", (("path", "fast"),))] >= 4  # our own exporter takes the fast path
    assert got[("naap_scraper_scrape_duration_seconds_count", ())] >= 4
    assert got[("naap_scraper_sink_dropped_batches_total", ())] == 0
    assert got[("naap_scraper_warehouse_up", ())] == 1
    assert ("naap_scraper_overruns_total", (("kind", "missed"),)) in got


async def test_standalone_scraper_serves_metrics_on_its_own_port(settings: Settings) -> None:
    fleet = await _fleet([PROFILES["steady"]])
    settings.discovery.targets = [{"url": fleet[0].url, "orchestrator": fleet[0].config.orchestrator}]
    settings.scraper.metrics_port = 0
    settings.scraper.interval_s = 1.0  # first: the timeout may not exceed the interval
    settings.scraper.timeout_s = 1.0  # far above a loopback answer's time
    collector = Collector(settings, with_api=False, with_scoring=False)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        # The listener opens only after the warehouse's migrations: wait for it as long as start-up may take.
        deadline = asyncio.get_running_loop().time() + 30
        while not collector.metrics_port:
            assert not task.done(), task
            assert asyncio.get_running_loop().time() < deadline, "no metrics listener in 30 s"
            await asyncio.sleep(0.05)
        text = await _metrics_until(f"http://127.0.0.1:{collector.metrics_port}/metrics", lambda got: got.get(OK, 0) >= 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await fleet[0].stop()
    got = _samples(text)
    assert got[("naap_scraper_targets", ())] == 1
    assert got[("naap_scraper_scrapes_total", (("outcome", "ok"),))] >= 1
