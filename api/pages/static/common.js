// Shared by every page: the public /v1 API, URL parameters, formatting, small DOM helpers, charts.
// Pages read /v1 only, so what they show is what any API consumer gets.

export const GROUPS = ["availability", "latency", "reliability", "consistency", "efficiency"];
export const Q = new URLSearchParams(location.search);
export const EMBED = document.documentElement.classList.contains("embed");

export async function api(path, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") qs.set(k, v);
  const url = qs.toString() ? `${path}?${qs}` : path;
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${path}: ${body.message || r.status}`);
  return body;
}

// The same API call for every page of a paged answer (cursor), up to `max` items of `key`.
export async function apiAll(path, params, key, max = 2000) {
  let out = [], cursor = null;
  do {
    const body = await api(path, { ...params, cursor, limit: 500 });
    out = out.concat(body[key] || []);
    cursor = body.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

export function setParam(k, v) {
  if (v === undefined || v === null || v === "") Q.delete(k); else Q.set(k, v);
  history.replaceState(null, "", `${location.pathname}${Q.toString() ? "?" + Q : ""}`);
}

// A link to another page that keeps the iframe mode.
export function href(path, params = {}) {
  const qs = new URLSearchParams(params);
  if (EMBED) qs.set("embed", "1");
  return qs.toString() ? `${path}?${qs}` : path;
}

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

export const $ = (sel) => document.querySelector(sel);
export function fill(sel, ...kids) { const e = $(sel); e.replaceChildren(...kids.flat()); return e; }

export function num(x, d = 1) {
  return x === null || x === undefined || Number.isNaN(x) ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 });
}
export function pct(x, d = 1) { return x === null || x === undefined ? "—" : `${num(100 * x, d)} %`; }
export function short(addr) { return addr ? `${addr.slice(0, 8)}…${addr.slice(-4)}` : "—"; }
export function when(ms) { return ms ? new Date(ms).toISOString().replace(".000Z", "Z").replace("T", " ") : "—"; }
export function scoreClass(s) { return s === null || s === undefined ? "" : s >= 85 ? "good" : s >= 65 ? "mid" : "bad"; }

// A group value 0-1 as a small bar (hatched when there is none).
export function bar(v, label) {
  const title = `${label}: ${v === null || v === undefined ? "no value" : pct(v)}`;
  if (v === null || v === undefined) return el("span", { class: "bar na", title, "data-value": "" });
  const b = el("span", { class: "bar", title, "data-value": String(v) });
  const i = el("i"); i.style.width = `${Math.max(0, Math.min(1, v)) * 100}%`;
  i.style.background = v >= 0.85 ? "var(--good)" : v >= 0.6 ? "var(--mid)" : "var(--bad)";
  b.append(i);
  return b;
}

export function showError(e) {
  console.warn(e);  // a warning, not an error: the API answered, the page says what is missing
  const box = $("#error");
  if (box) box.textContent = String(e.message || e);
}

// Periods of the config, shortest first: [[name, seconds], ...]
export function periodList(targets) {
  return Object.entries(targets.periods).map(([n, p]) => [n, p.seconds]).sort((a, b) => a[1] - b[1]);
}

export function options(select, values, current, labels = {}) {
  select.replaceChildren(...values.map((v) => el("option", { value: v, selected: v === current }, labels[v] ?? (v || "all"))));
}

// Workflows seen offered in the last week plus the config's named ones (model ids), deduplicated by model id.
export async function workflowList(targets, caps = null) {
  caps = caps || await apiAll("/v1/network/capabilities", { time_range: "7d" }, "capabilities").catch(() => []);
  const seen = new Map();
  for (const c of caps) seen.set(c.model_id, c.workflow);
  for (const w of targets.workflows) if (w.workflow !== "default" && !seen.has(w.workflow.split("/").pop())) seen.set(w.workflow.split("/").pop(), w.workflow);
  return [...seen.values()].sort();
}

export function fpsTarget(targets, workflow) {
  const byName = Object.fromEntries(targets.workflows.map((w) => [w.workflow, w]));
  return (byName[workflow] || byName[(workflow || "").split("/").pop()] || byName.default || {}).output_fps ?? null;
}

const COLORS = ["#0969da", "#1a7f37", "#bf8700", "#8250df", "#cf222e", "#1b7c83", "#9a6700", "#6e7781"];
export const color = (i) => COLORS[i % COLORS.length];

// A Chart.js chart in a reserved box; a message instead when there is nothing to draw.
export function chart(box, config) {
  const holder = typeof box === "string" ? $(box) : box;
  const old = holder._chart; if (old) old.destroy();
  holder.replaceChildren();
  const points = (config.data.datasets || []).reduce((n, d) => n + (d.data || []).length, 0);
  holder.dataset.points = String(points);
  if (!points) { holder.append(el("div", { class: "empty" }, config.emptyText || "no data yet")); return null; }
  // One distinct time (a lone point, or a lone point with its objective line): Chart.js would stretch the linear
  // axis over ±years; show `config.xPad` ms either side of it instead (the page passes its period).
  const xs = new Set((config.data.datasets || []).flatMap((d) => (d.data || []).map((p) => p.x)).filter((x) => x !== undefined));
  if (xs.size === 1 && config.xPad) {
    const x = [...xs][0], sc = ((config.options = config.options || {}).scales = config.options.scales || {});
    sc.x = Object.assign(sc.x || timeAxis(), { min: x - config.xPad, max: x + config.xPad });
  }
  const canvas = el("canvas", { role: "img", "aria-label": config.label || "chart" });
  holder.append(canvas);
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
    interaction: { mode: "nearest", intersect: false }, plugins: { legend: { labels: { boxWidth: 12 } } } }, config.options || {});
  holder._chart = new window.Chart(canvas, config);
  return holder._chart;
}

// A time axis without the date adapter Chart.js needs for type "time": linear epoch ms with readable ticks.
export function timeAxis(extra = {}) {
  return Object.assign({ type: "linear", ticks: { maxTicksLimit: 6, callback: (v) => new Date(v).toISOString().slice(5, 16).replace("T", " ") } }, extra);
}

export function nav(current) {
  for (const a of document.querySelectorAll("header.chrome nav a")) {
    if (a.getAttribute("href") === current) a.setAttribute("aria-current", "page");
  }
}
