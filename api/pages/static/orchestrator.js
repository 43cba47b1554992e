// One orchestrator: score history and subscores (/v1/sla/history), the SLIs against their objectives, why the
// latest score is what it is, workflows (/v1/network/capabilities + per-workflow scores), GPUs (/v1/gpu/metrics),
// probes and the cross-check (/v1/prober/crosscheck), recent scrape failures (/v1/scrapes/failures).
import { $, Q, GROUPS, api, apiAll, chart, color, el, fill, fpsTarget, href, nav, num, options, pct, periodList,
  scoreClass, setParam, showError, timeAxis, when } from "./common.js";

nav("");
const ADDR = decodeURIComponent(location.pathname.split("/").pop()).toLowerCase();
const SPAN_S = { 300: 86400, 3600: 7 * 86400 };  // history shown per period length; longer periods: 31 days
let targets = null;

function spanMs(seconds) { return 1000 * (SPAN_S[seconds] || (seconds >= 86400 * 7 ? 31 * 86400 : 7 * 86400)); }

async function history(period, seconds) {
  const to = Date.now();
  return apiAll("/v1/sla/history", { orchestrator_id: ADDR, period, from: String(to - spanMs(seconds)), to: String(to) }, "scores", 1000);
}

function sli(entry, name) {
  const m = (entry.metrics || {})[name];
  if (!m || m.status !== "ok") return null;
  if (name === "failure_rate") return m.rate === null || m.rate === undefined ? null : 1 - m.rate;
  return m.value ?? null;
}

function drawHistory(scores, period) {
  const ok = scores.filter((s) => s.score !== null);
  chart("#c-score", {
    type: "line", label: "score history",
    emptyText: `no ${period} score published in this range yet`,
    data: { datasets: ok.length ? [
      { label: "score", data: ok.map((s) => ({ x: s.window_end, y: s.score })), borderColor: color(0), backgroundColor: color(0), pointRadius: 2 },
      { label: "lower bound", data: ok.map((s) => ({ x: s.window_end, y: s.score_lower })), borderColor: "#8c959f", borderDash: [4, 3], pointRadius: 0, fill: false },
      { label: "upper bound", data: ok.map((s) => ({ x: s.window_end, y: s.score_upper })), borderColor: "#8c959f", borderDash: [4, 3], pointRadius: 0, fill: "-1", backgroundColor: "rgba(140,149,159,.15)" },
    ] : [] },
    options: { scales: { x: timeAxis(), y: { min: 0, max: 100, title: { display: true, text: `score (${period} windows)` } } } },
  });
  chart("#c-groups", {
    type: "line", label: "subscores over time", emptyText: "no subscores yet",
    data: { datasets: ok.some((s) => s.groups) ? GROUPS.map((g, i) => ({
      label: g, data: ok.filter((s) => s.groups && s.groups[g] && s.groups[g].value !== null).map((s) => ({ x: s.window_end, y: s.groups[g].value })),
      borderColor: color(i), backgroundColor: color(i), pointRadius: 1.5,
    })).filter((d) => d.data.length) : [] },
    options: { scales: { x: timeAxis(), y: { min: 0, max: 1, title: { display: true, text: "subscore 0–1" } } } },
  });
  const slos = (targets.config && targets.config.slos) || {};
  const box = $("#c-slos");
  box.replaceChildren();
  for (const [name, objective] of Object.entries(slos)) {
    const holder = el("div", { class: "chart small", "aria-label": `${name} against its objective` });
    box.append(holder);
    const pts = scores.map((s) => ({ x: s.window_end, y: sli(s, name) })).filter((p) => p.y !== null);
    const xs = pts.map((p) => p.x);
    chart(holder, {
      type: "line", label: name, emptyText: `${name}: no events yet`,
      data: { datasets: pts.length ? [
        { label: name === "failure_rate" ? "1 − failure rate" : name, data: pts, borderColor: color(0), backgroundColor: color(0), pointRadius: 1.5 },
        { label: `objective ${objective}`, data: [{ x: Math.min(...xs), y: objective }, { x: Math.max(...xs), y: objective }], borderColor: "#cf222e", borderDash: [6, 4], pointRadius: 0 },
      ] : [] },
      options: { scales: { x: timeAxis(), y: { suggestedMin: Math.max(0, Math.min(objective, ...pts.map((p) => p.y)) - 0.05), max: 1 } } },
    });
  }
}

function why(latest, period) {
  if (!latest) { fill("#why", el("div", { class: "card muted" }, `no ${period} score published yet`)); return; }
  const groups = Object.entries(latest.groups || {}).map(([g, v]) => el("tr", {},
    el("td", {}, g), el("td", { class: "num" }, num(v.weight, 2)), el("td", { class: "num" }, v.value === null ? "—" : num(v.value, 3)),
    el("td", { class: "num interval" }, v.lower === null ? "" : `${num(v.lower, 3)}–${num(v.upper, 3)}`), el("td", { class: "muted" }, (v.metrics || []).join(", "))));
  const metrics = Object.entries(latest.metrics || {}).sort().map(([k, m]) => el("tr", {},
    el("td", {}, k), el("td", {}, m.status || "—"), el("td", { class: "num" }, num(m.events, 0)), el("td", { class: "num" }, num(m.good, 0)),
    el("td", { class: "num" }, m.value === null || m.value === undefined ? "—" : num(m.value, 3)),
    el("td", { class: "num interval" }, m.lower === null || m.lower === undefined ? "" : `${num(m.lower, 3)}–${num(m.upper, 3)}`),
    el("td", { class: "muted" }, m.reason || (m.scored === false ? "not scored" : ""))));
  const iso = new Date(latest.window_end).toISOString().replace(".000Z", "Z");
  const cmd = `naap replay --orchestrator ${latest.orchestrator} --period ${period} --from ${iso} --to ${iso}`;
  fill("#why",
    el("div", { class: "card" }, el("strong", {}, "Groups"), el("div", { class: "tablewrap", style: "min-height:0" }, el("table", {},
      el("thead", {}, el("tr", {}, ["group", "weight", "value", "interval", "metrics"].map((h) => el("th", {}, h)))), el("tbody", {}, groups)))),
    el("div", { class: "card" }, el("strong", {}, "Inputs (metrics of the window)"), el("div", { class: "tablewrap", style: "min-height:0" }, el("table", { id: "why-metrics" },
      el("thead", {}, el("tr", {}, ["metric", "status", "events", "good", "value", "interval", "note"].map((h) => el("th", {}, h)))), el("tbody", {}, metrics)))),
    el("div", { class: "card" }, el("strong", {}, "Config and replay"),
      el("p", {}, `Window ${when(latest.window_start)} → ${when(latest.window_end)} UTC, rows as of ${when(latest.as_of)}; coverage ${pct(latest.coverage, 0)}`,
        latest.observed_windows !== undefined ? ` (${latest.observed_windows} of ${latest.windows} base windows)` : ""),
      el("p", {}, "Config ", el("code", {}, latest.config_version), " sha256 ", el("code", { class: "mono" }, latest.config_hash)),
      latest.reasons.length ? el("p", { class: "mid" }, latest.reasons.join("; ")) : null,
      el("p", {}, "Recompute it on a collector holding the raw rows (add --data-dir or --warehouse):"),
      el("pre", { class: "cmd", id: "replay" }, cmd)));
}

async function workflows(period) {
  const caps = await apiAll("/v1/network/capabilities", { orchestrator_id: ADDR, time_range: "7d" }, "capabilities").catch(() => []);
  const scores = await Promise.all(caps.map((c) => api("/v1/sla/compliance", { orchestrator_id: ADDR, period, workflow: c.workflow })
    .then((b) => b.orchestrators[0]).catch(() => null)));
  const tbody = $("#workflows tbody");
  if (!caps.length) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no workflow offered in the last 7 days"))); return; }
  tbody.replaceChildren(...caps.map((c, i) => {
    const s = scores[i];
    return el("tr", {}, el("td", {}, c.workflow, el("span", { class: "muted" }, ` (FPS ≥ ${num(fpsTarget(targets, c.workflow), 0)})`)),
      el("td", { class: "num" }, !s ? "—" : s.insufficient_data ? el("span", { class: "badge insufficient" }, "insufficient data") : el("span", { class: `score ${scoreClass(s.score)}` }, num(s.score, 1))),
      el("td", {}, c.warm === null ? "—" : c.warm ? "warm" : "cold"),
      el("td", { class: "num" }, `${c.capacity_idle ?? "—"} / ${c.capacity_in_use ?? "—"}`),
      el("td", { class: "num" }, c.price_per_unit === null ? "—" : `${num(c.price_per_unit, 0)} wei`),
      el("td", {}, Object.entries(c.gpu_models || {}).map(([m, n]) => `${n}× ${m}`).join(", ") || "—"));
  }));
}

async function gpus() {
  let rows = await apiAll("/v1/gpu/metrics", { o_wallet: ADDR, time_range: "1h" }, "gpus");
  if (!rows.length) rows = await apiAll("/v1/gpu/metrics", { o_wallet: ADDR, time_range: "24h" }, "gpus");
  const byId = new Map();
  for (const r of rows) (byId.get(r.gpu_id) || byId.set(r.gpu_id, []).get(r.gpu_id)).push(r);
  const tbody = $("#gpus tbody");
  if (!byId.size) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "no GPU reported in the last day"))); return; }
  tbody.replaceChildren(...[...byId.entries()].map(([id, rs]) => {
    const r = rs[0], g = (r.catalog && r.catalog.gpu) || {};
    const temp = g.temperature_celsius ? g.temperature_celsius.avg : null;
    const cue = r.metrics.cuda_utilization_efficiency_pct;
    return el("tr", { "data-gpu": id }, el("td", { class: "mono", title: id }, id.length > 16 ? `${id.slice(0, 12)}…` : id),
      el("td", {}, r.gpu_model || "—"), el("td", { class: "num" }, r.vram_bytes ? `${num(r.vram_bytes / 2 ** 30, 0)} GiB` : "—"),
      el("td", { class: "num" }, r.gpu_utilization && r.gpu_utilization.avg !== null ? pct(r.gpu_utilization.avg, 0) : "—"),
      el("td", { class: "num" }, temp === null ? "—" : `${num(temp, 0)} °C`),
      el("td", { class: "num" }, cue === null ? "—" : `${num(cue, 0)} %`),
      el("td", {}, r.metrics.cuda_utilization_efficiency_method ? `${r.metrics.cuda_utilization_efficiency_method} / ${r.metrics.cuda_utilization_efficiency_confidence}` : "—"),
      el("td", { class: "num" }, rs.map((x) => x.output_fps && x.output_fps.p50 !== null ? `${num(x.output_fps.p50, 1)} (${x.model_id})` : null).filter(Boolean).join(", ") || "—"));
  }));
}

async function probes() {
  const cc = await api("/v1/prober/crosscheck", { orchestrator: ADDR, window: "1d" });
  const tbody = $("#probes tbody");
  if (!cc.pairs.length) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "not probed in the last day"))); return; }
  tbody.replaceChildren(...cc.pairs.map((p) => el("tr", {}, el("td", {}, p.model_id), el("td", { class: "num" }, `${p.probe.ok} ok of ${p.probe.probes}`),
    el("td", { class: "num" }, p.probe.delivery === null ? "—" : pct(p.probe.delivery, 0)),
    el("td", { class: "num" }, p.probe.p2ff_ms === null ? "—" : `${num(p.probe.p2ff_ms, 0)} ms`),
    el("td", { class: "num" }, p.probe.failure_rate === null ? "—" : pct(p.probe.failure_rate, 0)),
    el("td", {}, p.flags.length ? p.flags.map((f) => el("span", { class: "badge flag", title: `probe ${f.probe} vs exporter ${f.exporter}` }, `${f.metric} disagrees`))
      : el("span", { class: "muted" }, Object.entries(p.compared).map(([k, v]) => `${k}: ${v}`).join("; "))))));
}

async function failures() {
  const f = await api("/v1/scrapes/failures", { orchestrator_id: ADDR, time_range: "24h", limit: 20 });
  const classes = Object.entries(f.by_class).map(([c, n]) => `${c} ${n}`).join(", ");
  fill("#scrape-summary", `last 24 h: ${f.failed} of ${f.scheduled} scrapes failed${classes ? ` (${classes})` : ""}`);
  const tbody = $("#failures tbody");
  if (!f.failures.length) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no failed scrape in the last 24 h"))); return; }
  tbody.replaceChildren(...f.failures.map((x) => el("tr", {}, el("td", {}, when(x.ts)), el("td", {}, x.error_class),
    el("td", { class: "num" }, `${num(x.duration_s, 3)} s`), el("td", {}, x.void ? "void (scraper's fault)" : "against availability"))));
}

async function show(period, seconds, scores) {
  setParam("period", period);
  const latest = scores.length ? scores[scores.length - 1] : null;
  fill("#o-period", period);
  fill("#o-window", latest ? `ends ${when(latest.window_end)}` : "none published");
  fill("#o-region", (latest && latest.region) || "—");
  if (latest && latest.score !== null) {
    fill("#o-score", el("span", { class: scoreClass(latest.score) }, num(latest.score, 1)));
    fill("#o-interval", `interval ${num(latest.score_lower, 1)}–${num(latest.score_upper, 1)}`);
  } else { fill("#o-score", "—"); fill("#o-interval", "\u00a0"); }
  fill("#o-status", latest ? (latest.insufficient_data ? el("span", { class: "badge insufficient" }, "insufficient data") : el("span", { class: "badge ok" }, "ok")) : "—");
  fill("#o-coverage", latest ? `coverage ${pct(latest.coverage, 0)}` : "\u00a0");
  drawHistory(scores, period);
  why(latest, period);
  await workflows(period);
}

async function main() {
  fill("#addr", ADDR);
  $("#back").setAttribute("href", href("/"));
  document.title = `${ADDR.slice(0, 10)}… · NaaP SLA`;
  targets = await api("/v1/sla/targets");
  const periods = periodList(targets);
  const all = await Promise.all(periods.map(([p, s]) => history(p, s)));
  const names = periods.map(([p]) => p);
  let i = names.indexOf(Q.get("period"));
  if (i < 0) {  // the period with the most ok scores (ties: the longer)
    let best = -1;
    all.forEach((sc, j) => { const n = sc.filter((s) => s.score !== null).length; if (n > 0 && n >= best) { best = n; i = j; } });
    if (i < 0) i = 0;
  }
  options($("#f-period"), names, names[i]);
  $("#f-period").addEventListener("change", () => { const j = names.indexOf($("#f-period").value); show(names[j], periods[j][1], all[j]).catch(showError); });
  await Promise.all([show(names[i], periods[i][1], all[i]), gpus().catch(showError), probes().catch(showError), failures().catch(showError)]);
  document.body.dataset.ready = "1";
}

main().catch((e) => { showError(e); document.body.dataset.ready = "error"; });
