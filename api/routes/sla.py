"""GET /v1/sla/compliance: published SLA scores with their subscores, inputs and config version."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter

from api.errors import BadRequest
from api.params import eth_address
from scoring.store import latest_scores


@get(
    "/v1/sla/compliance",
    sync_to_thread=True,
    summary="SLA compliance scores",
    description=(
        "The latest published SLA score (0-100) per orchestrator for a period, with subscores, their inputs "
        "and sample counts, the window, and the scoring config version and hash needed to recompute it. "
        "Cells with too few samples say `insufficient_data` instead of a number."
    ),
    tags=["sla"],
)
def sla_compliance(
    state: State,
    orchestrator_id: Annotated[str | None, Parameter(description="Orchestrator eth address; omit to list every orchestrator.")] = None,
    period: Annotated[str, Parameter(description="Scoring period, one of the configured periods (e.g. 5m, 1h, 24h).")] = "1h",
) -> dict[str, Any]:
    config = state.sla_config
    if period not in config.periods:
        raise BadRequest(f"unknown period {period[:20]!r}; one of: {', '.join(config.periods)}")
    orch = eth_address(orchestrator_id, "orchestrator_id")
    rows = latest_scores(state.warehouse, period, orch, config.version)
    return {
        "period": period,
        "config_version": config.version,
        "config_hash": config.hash,
        "count": len(rows),
        "orchestrators": rows,
    }
