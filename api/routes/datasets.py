"""GET /v1/datasets: the prober's public, versioned test datasets (design §10.4) — their manifests, and on request
their items — filtered by workflow and type (good | random | bad)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.errors import BadRequest
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, page, respond
from prober.config import packaged_datasets_dir
from prober.datasets import TYPES, discover, load

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@functools.lru_cache(maxsize=8)
def _catalogue(root: str) -> tuple[tuple[dict[str, Any], tuple[dict[str, Any], ...]], ...]:
    """Every valid dataset under `root` (manifest, items), read once per process; invalid ones are left out
    (`naap datasets validate` says why)."""
    out = []
    for folder in discover(Path(root)):
        try:
            ds = load(folder)
        except ValueError:
            continue
        out.append((dict(ds.manifest), tuple(i.to_dict() for i in ds.items)))
    return tuple(out)


def datasets_root(state: State) -> Path:
    status = state.get("prober")
    return Path(status.settings.datasets_dir) if status is not None else packaged_datasets_dir()


@get(
    "/v1/datasets",
    sync_to_thread=True,
    summary="Prober test datasets",
    description=(
        "The versioned datasets the prober draws its probe items from: per dataset its workflow, id, version, type "
        "(good: the runners' published defaults, consistent outputs; random: seeded real-world-like and edge "
        "prompts; bad: inputs that must be refused, never counted against an orchestrator), licence, sources with "
        "their licences and hashes, generator and item counts. `items=true` adds the items themselves. Probes record "
        "`<id>@<version>` and the item id, so every probe result names exactly what was sent. Sorted by workflow, "
        "id and version; paged with `cursor`."
    ),
    tags=["prober"],
    responses=DATA_RESPONSES,
)
def datasets_handler(
    request: Request,
    state: State,
    workflow: Annotated[str | None, Parameter(description="Only this workflow, e.g. live-video-to-video.")] = None,
    type: Annotated[str | None, Parameter(description="Only this type: good, random or bad.")] = None,  # noqa: A002
    items: Annotated[bool, Parameter(description="Include every dataset's items.")] = False,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Datasets per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.DatasetsResponse]:
    if workflow is not None and not _SLUG.match(workflow):
        raise BadRequest(f"workflow must be a lowercase slug such as live-video-to-video; got {workflow[:40]!r}")
    if type is not None and type not in TYPES:
        raise BadRequest(f"type must be one of {', '.join(TYPES)}; got {type[:20]!r}")
    out = []
    for manifest, its in _catalogue(str(datasets_root(state))):
        if (workflow and manifest["workflow"] != workflow) or (type and manifest["type"] != type):
            continue
        entry = {"ref": f"{manifest['workflow']}/{manifest['id']}@{manifest['version']}", **manifest}
        if items:
            entry["items"] = list(its)
        out.append(msgspec.convert(entry, m.DatasetEntry))
    page_items, nxt = page(out, lambda d: (d.workflow, d.id, d.version), request, cursor, limit, (str, str, str))
    # The list grows when a dataset is added; a published version never changes: an open answer.
    return respond(request, m.DatasetsResponse(count=len(page_items), limit=limit, next_cursor=nxt, datasets=page_items), False)
