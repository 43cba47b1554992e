"""GET /v1/prober (the prober's public key, period, seed and schedule), /v1/prober/results (a period's signed
results, as stored) and /v1/prober/crosscheck (probes against exporters' self-reports).

The running prober's status comes from the `prober` entry of the app state (prober/status.py's ProberStatus,
set by the collector when `prober.enabled`); what was stored comes from the warehouse, so an API process without
a prober still serves stored periods and results.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.errors import BadRequest
from api.params import duration_s, eth_address
from exporter.common.clock import now_ms
from prober.config import ProberSettings
from prober.crosscheck import crosscheck, thresholds
from prober.schedule import SEED_DOMAIN
from prober.store import latest_periods, period_envelopes

_PERIOD = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}/\d{1,6}s/\d{1,12}$")
MAX_RESULTS = 10_000


def _settings(state: State) -> ProberSettings:
    status = state.get("prober")
    return status.settings if status is not None else ProberSettings()


@get(
    "/v1/prober",
    sync_to_thread=True,
    summary="The prober: public key, period seed, schedule",
    description=(
        "The load-test prober's ed25519 public key (every probe result is signed with it), the current period and "
        "its seed, how the seed was derived from the previous period's results (recompute it: the previous "
        "period's signed results are at /v1/prober/results), the schedule's fairness facts (period, concurrency, "
        "per-orchestrator budget, datasets), the last pass, and the latest periods stored in the warehouse. "
        "`enabled` is false when this API process runs no prober (stored periods are still listed)."
    ),
    tags=["prober"],
)
def prober_handler(state: State) -> m.ProberResponse:
    status = state.get("prober")
    if status is not None:
        body = status.as_dict()
    else:
        body = {"enabled": False, "running": False, "alg": "ed25519", "public_key": None, "period": None, "schedule": None}
    stored = latest_periods(state.warehouse, 5)
    body["stored_periods"] = stored
    if body["public_key"] is None and stored and stored[0]["public_keys"]:
        body["public_key"] = stored[0]["public_keys"][0]
    body["seed_domain"] = SEED_DOMAIN
    return msgspec.convert(body, m.ProberResponse)


@get(
    "/v1/prober/results",
    sync_to_thread=True,
    summary="A period's signed probe results",
    description=(
        "Every probe result of one period as the signed envelope it was stored as: `{alg, public_key, result, "
        "result_json, signature}`, the signature being ed25519 over the UTF-8 bytes of `result_json` — the exact "
        "canonical JSON text of `result` (Python's json.dumps with sorted keys, no spaces, raw UTF-8, Python's float "
        "repr: verify these bytes rather than re-serialising `result`; docs/prober.md#signatures). "
        "Save them one per line and check them with `naap probe verify FILE --public-key KEY`. The sha256 over the "
        "sorted canonical JSON lines of these results is the `previous_digest` the next period's seed chains from. "
        "Default: the latest stored period."
    ),
    tags=["prober"],
)
def prober_results(
    state: State,
    period_id: Annotated[str | None, Parameter(description="A period id, e.g. global/600s/2993300; default: the latest.")] = None,
) -> m.ProberResultsResponse:
    if period_id is not None and not _PERIOD.match(period_id):
        raise BadRequest(f"period_id must look like <region>/<seconds>s/<index>, e.g. global/600s/2993300; got {period_id[:60]!r}")
    if period_id is None:
        latest = latest_periods(state.warehouse, 1)
        if not latest:
            return m.ProberResultsResponse(period_id=None, count=0, results=[])
        period_id = latest[0]["period_id"]
    envs = period_envelopes(state.warehouse, period_id, MAX_RESULTS)
    return msgspec.convert({"period_id": period_id, "count": len(envs), "results": envs}, m.ProberResultsResponse)


@get(
    "/v1/prober/crosscheck",
    sync_to_thread=True,
    summary="Probes against exporters' self-reports",
    description=(
        "Per orchestrator and model: what the prober measured (delivery ratio = output/input FPS, P2FF, startup, "
        "failure rate of probes that reached the orchestrator; the prober's own faults and excluded probes left "
        "out) beside what the orchestrator's exporter reported for the same window, with a flag for every "
        "disagreement larger than the configured tolerance (`thresholds`). A flag needs at least `min_probes` "
        "probes and a self-report of the same quantity; otherwise the comparison says why there is none."
    ),
    tags=["prober"],
)
def prober_crosscheck(
    state: State,
    orchestrator: Annotated[str | None, Parameter(description="Orchestrator eth address; omit for every orchestrator.")] = None,
    window: Annotated[str | None, Parameter(description="Window ending now, e.g. 15m, 1h, 1d; default: prober.crosscheck_window_s.")] = None,
    flagged: Annotated[bool, Parameter(description="Only orchestrator × model pairs with at least one flag.")] = False,
) -> m.CrosscheckResponse:
    orch = eth_address(orchestrator, "orchestrator")
    s = _settings(state)
    seconds = duration_s(window, "window") if window is not None else int(s.crosscheck_window_s)
    end = now_ms()
    rows = crosscheck(state.warehouse, thresholds(s), end - seconds * 1000, end, orch)
    if flagged:
        rows = [r for r in rows if r["flags"]]
    return m.CrosscheckResponse(
        window=m.CrosscheckWindow(start_ms=end - seconds * 1000, end_ms=end, seconds=seconds),
        thresholds=thresholds(s).as_dict(),
        count=len(rows),
        flagged=sum(1 for r in rows if r["flags"]),
        pairs=rows,
    )
