"""GET /v1/sla/targets: what an orchestrator must meet — the SLA config the API scores with (scoring/configs/CURRENT
unless the collector names another), its targets per workflow, group weights, periods and the whole config."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from api import models as m
from api.query import DATA_RESPONSES, respond
from api.scores import scoring_version
from scoring.sla_config import is_v1


def _targets(config: Any) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, float], dict[str, Any]]:
    """(workflows, periods, group weights, canonical config) of a v1 or v0 config."""
    if is_v1(config):
        spec = config.spec
        workflows = [{"workflow": name, **t.model_dump()} for name, t in sorted(spec.workflows.items())]
        periods = {name: p.model_dump() for name, p in spec.periods.items()}
        return workflows, periods, dict(spec.groups), spec.model_dump()
    workflows = [{"workflow": name, "output_fps": fps} for name, fps in sorted(config.fps_targets.items())]
    periods = {name: {"seconds": s, "step_s": config.step_s} for name, s in config.periods.items()}
    return workflows, periods, dict(config.weights), dataclasses.asdict(config)


@get(
    "/v1/sla/targets",
    sync_to_thread=False,
    summary="SLA targets and scoring config",
    description=(
        "The fixed targets every published score is measured against, from the SLA config this API scores with: per "
        "workflow (`pipeline/model_id`, a `model_id`, or `default`) the output FPS a 5 s window must reach and, in "
        "v1, the prompt-to-first-frame and startup bounds in seconds; the periods scores are published for "
        "(`seconds`, `step_s`, `min_coverage`); the group weights; and the whole config (`config`) with its version "
        "and the sha256 of its canonical JSON (`config_hash`), the pair every score names and `naap replay` uses."
    ),
    tags=["sla"],
    responses=DATA_RESPONSES,
)
def sla_targets(request: Request, state: State) -> Response[m.SlaTargetsResponse]:
    config = state.sla_config
    workflows, periods, weights, canonical = _targets(config)
    body = m.SlaTargetsResponse(
        config_version=config.version, config_hash=config.hash, scoring_version=scoring_version(config),
        periods=periods, weights=weights, workflows=workflows, config=canonical,
        source="scoring/configs (docs/scoring.md)",
    )  # fmt: skip
    return respond(request, body, False)
