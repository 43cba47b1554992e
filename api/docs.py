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


# What every score field means, with an example (docs/api.md has the long form).
GLOSSARY = (
    ("score", "0-100: the weighted mean of the SLA config's groups (availability, latency, reliability, consistency, "
              "efficiency), each the share of events that met its target. Example: 87.5 = 87.5 % of the weighted "
              "events met their targets."),
    ("score_lower / score_upper", "The score recomputed with every rate at the lower (upper) bound of its 95 % Wilson "
              "score interval. Example: 9 of 10 streams without error is 0.9, interval 0.596-0.982; 900 of 1000 is "
              "0.9, interval 0.880-0.917: the same rate, proven by more events, gets a higher lower bound. "
              "Leaderboards rank on score_lower."),
    ("status", "ok, or insufficient_data when the window has too few observed base windows (coverage below the "
               "period's min_coverage) or a scored metric has too few events; its score fields are then null and "
               "`reasons` says why. `insufficient_data` repeats it as a boolean."),
    ("coverage", "Observed base windows / base windows of the period (0-1). Example: 0.75 for a 1 h score with 45 of "
                 "its 60 one-minute windows observed."),
    ("config_version / config_hash", "The SLA config the score was computed with: `naap replay` recomputes it "
                                     "byte for byte."),
    ("time_window", "The window as an ISO 8601 interval, start/end in RFC 3339 UTC, end excluded; window_start and "
                    "window_end are the same in epoch milliseconds."),
)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return node


def _type(schema: dict[str, Any], node: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """A short type name and the object schema to descend into (if any)."""
    for key in ("oneOf", "anyOf"):
        if key in node:
            parts = [_type(schema, n) for n in node[key]]
            inner = next((d for _, d in parts if d is not None), None)
            return " | ".join(t for t, _ in parts), inner
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[1], _resolve(schema, node)
    t = node.get("type")
    if t == "array":
        name, inner = _type(schema, node.get("items", {}))
        return f"array of {name}", inner
    if t == "object" and isinstance(node.get("additionalProperties"), dict) and node["additionalProperties"]:
        name, inner = _type(schema, node["additionalProperties"])
        return f"map of {name}", inner
    return str(t or "any"), None


def _fields(schema: dict[str, Any], obj: dict[str, Any], prefix: str, depth: int, out: list[tuple[str, str, str]],
            seen: frozenset[int] = frozenset()) -> None:  # fmt: skip
    """(dotted name, type, description) of an object schema's properties, nested objects to `depth` levels."""
    if id(obj) in seen:
        return
    for name, prop in (obj.get("properties") or {}).items():
        typ, inner = _type(schema, prop)
        desc = prop.get("description") or (inner or {}).get("description") or ""
        out.append((prefix + name, typ, desc))
        if inner is not None and depth > 1:
            _fields(schema, inner, f"{prefix}{name}{'[].' if typ.startswith('array') else '.'}", depth - 1, out,
                    seen | {id(obj)})  # fmt: skip


def _responses(schema: dict[str, Any], op: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema")
    if isinstance(ok, dict):
        rows: list[tuple[str, str, str]] = []
        _fields(schema, _resolve(schema, ok), "", 3, rows)
        if rows:
            parts.append("<details><summary>response fields (200)</summary><table><tr><th>field</th><th>type</th>"
                         "<th>meaning</th></tr>")  # fmt: skip
            parts.extend(f"<tr><td><code>{escape(n)}</code></td><td>{escape(t)}</td><td>{escape(d)}</td></tr>"
                         for n, t, d in rows)  # fmt: skip
            parts.append("</table></details>")
    errors = [(k, v.get("description", "")) for k, v in sorted(op.get("responses", {}).items()) if k != "200"]
    if errors:
        parts.append("<p>other answers: " + "; ".join(f"<code>{escape(k)}</code> {escape(d)}" for k, d in errors)
                     + " Every error body is <code>{\"status\", \"message\"[, \"details\", \"reason\"]}</code>.</p>")
    return parts


def render_docs(schema: dict[str, Any]) -> str:
    info = schema.get("info", {})
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))}</h1><p>version {escape(str(info.get('version', '')))} · ",
        "machine-readable schema: <a href='/schema/openapi.json'><code>/schema/openapi.json</code></a></p>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<h2>What the score fields mean</h2><table>",
        *(f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td></tr>" for k, v in GLOSSARY),
        "</table>",
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
            parts.extend(_responses(schema, op))
            parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)


@get("/docs", media_type=MediaType.HTML, include_in_schema=False)
async def docs_page(request: Request) -> str:
    return render_docs(request.app.openapi_schema.to_schema())
