"""The built-in pages (api/pages): the leaderboard `/`, `/orchestrators/{address}`, `/network` and `/targets`, plus
their static files under `/static/` (CSS, JS modules, the vendored Chart.js). docs/pages.md describes them.

Errors on these routes (a malformed address, an unknown parameter, no such page) are small HTML pages with the
status (api/errors.py error_page); /v1 keeps its JSON errors. The HTML is fixed; the pages' JavaScript reads the public /v1 API only, so they show what any consumer gets. `embed=1`
marks the document for the iframe mode (no header, navigation or footer) before any script runs, so nothing moves as
the page loads. Framing is allowed from anywhere (`frame-ancestors *`; no X-Frame-Options): the Explorer embeds them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from litestar import MediaType, Response, get
from litestar.params import Parameter, PathParameter
from litestar.static_files import create_static_files_router

from api.errors import error_page
from api.params import eth_address, short_text

PAGES = resources.files("api.pages")
STATIC_DIR = Path(str(PAGES.joinpath("static")))
# Scripts, styles and data from this origin only; framing by any site (the iframe mode is the point).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'self'")  # fmt: skip
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "public, max-age=60", "Referrer-Policy": "no-referrer"}

Embed = Annotated[str | None, Parameter(description="1: the iframe mode, without header and navigation.", max_length=8)]
Text = Annotated[str | None, Parameter(max_length=160)]


# Each page file holds its <main>; layout.html is the chrome they share (head, navigation, footer).
TITLES = {"index.html": ("Leaderboard", "leaderboard.js"), "orchestrator.html": ("Orchestrator", "orchestrator.js"),
          "network.html": ("Network", "network.js"), "targets.html": ("Targets", "targets.js")}  # fmt: skip


@lru_cache(maxsize=8)
def _html(name: str) -> str:
    title, script = TITLES[name]
    layout = PAGES.joinpath("layout.html").read_text(encoding="utf-8")
    main = PAGES.joinpath(name).read_text(encoding="utf-8")
    return layout.replace("{title}", title).replace("{script}", script).replace("{main}", main.rstrip("\n"))


def _page(name: str, embed: str | None) -> Response[str]:
    html = _html(name)
    if embed in ("1", "true", "yes"):
        html = html.replace('<html lang="en">', '<html lang="en" class="embed">', 1)
    return Response(html, media_type=MediaType.HTML, headers=HEADERS)


@get("/", include_in_schema=False, sync_to_thread=False)
def leaderboard_page(embed: Embed = None, workflow: Text = None, region: Text = None, period: Text = None) -> Response[str]:
    """The leaderboard; `workflow`, `region` and `period` preselect the filters (read by the page's script)."""
    short_text(workflow, "workflow", 160), short_text(region, "region", 64), short_text(period, "period", 16)
    return _page("index.html", embed)


@get("/orchestrators/{address:str}", include_in_schema=False, sync_to_thread=False)
def orchestrator_page(address: Annotated[str, PathParameter(max_length=64)], embed: Embed = None, period: Text = None) -> Response[str]:
    """One orchestrator; a malformed address is a 400 (a small HTML page, api/errors.py) before any page is served."""
    eth_address(address, "address")
    short_text(period, "period", 16)
    return _page("orchestrator.html", embed)


@get("/orchestrators", include_in_schema=False, sync_to_thread=False)
def orchestrators_index() -> Response[str]:
    """No list of orchestrators at this path (the leaderboard is one): a 404 page that says where to look."""
    return error_page(404, "no page here: the leaderboard at / lists the orchestrators; one orchestrator's page is "
                           "/orchestrators/0x followed by its 40-hex-digit address")  # fmt: skip


@get("/network", include_in_schema=False, sync_to_thread=False)
def network_page(embed: Embed = None, period: Text = None) -> Response[str]:
    short_text(period, "period", 16)
    return _page("network.html", embed)


@get("/targets", include_in_schema=False, sync_to_thread=False)
def targets_page(embed: Embed = None) -> Response[str]:
    return _page("targets.html", embed)


static_router = create_static_files_router(
    path="/static", directories=[STATIC_DIR], include_in_schema=False, name="pages-static",
    cache_control=None, send_as_attachment=False,
)
PAGE_ROUTES = [leaderboard_page, orchestrators_index, orchestrator_page, network_page, targets_page, static_router]
