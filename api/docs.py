"""A self-contained API docs page rendered from the OpenAPI schema.

No JavaScript or CSS from a CDN: the page must work on a machine (or a browser) with no internet, and
it must not make a reader's browser call third parties.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import MediaType, Request, get

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{margin-bottom:.2rem} .op{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{font-weight:700;color:#fff;background:#1f6feb;border-radius:4px;padding:.1rem .4rem;margin-right:.5rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px} table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eaeef2;text-align:left;padding:.25rem .4rem;vertical-align:top}
"""


def render_docs(schema: dict[str, Any]) -> str:
    info = schema.get("info", {})
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))}</h1><p>version {escape(str(info.get('version', '')))} · ",
        "machine-readable schema: <a href='/schema/openapi.json'><code>/schema/openapi.json</code></a></p>",
        f"<p>{escape(info.get('description', ''))}</p>",
    ]
    for path in sorted(schema.get("paths", {})):
        for method, op in sorted(schema["paths"][path].items()):
            if not isinstance(op, dict):
                continue
            parts.append(f"<div class=op id='{escape(op.get('operationId', path))}'>")
            parts.append(f"<p><span class=m>{escape(method.upper())}</span><code>{escape(path)}</code> — ")
            parts.append(f"{escape(op.get('summary', ''))}</p><p>{escape(op.get('description', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>")
                for p in params:
                    typ = p.get("schema", {}).get("type") or "/".join(
                        str(s.get("type")) for s in p.get("schema", {}).get("oneOf", []) if isinstance(s, dict)
                    )
                    default = p.get("schema", {}).get("default")
                    desc = p.get("description", "") + (f" Default: {default}." if default is not None else "")
                    parts.append(
                        f"<tr><td><code>{escape(p.get('name', ''))}</code>{' *' if p.get('required') else ''}</td>"
                        f"<td>{escape(p.get('in', ''))}</td><td>{escape(str(typ))}</td><td>{escape(desc)}</td></tr>"
                    )
                parts.append("</table>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)


@get("/docs", media_type=MediaType.HTML, include_in_schema=False)
async def docs_page(request: Request) -> str:
    return render_docs(request.app.openapi_schema.to_schema())
