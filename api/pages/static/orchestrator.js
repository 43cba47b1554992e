// One orchestrator: score history and subscores (/v1/sla/history), the SLIs against their objectives, why the
// latest score is what it is, workflows (/v1/network/capabilities + per-workflow scores), GPUs (/v1/gpu/metrics),
// probes and the cross-check (/v1/prober/crosscheck: probe figures beside the exporter's, in plain text), failed
// probes from the latest stored prober periods (/v1/prober + /v1/prober/results: also those that never reached the
// orchestrator, model_id ''), recent scrape failures (/v1/scrapes/failures). An address nothing was ever scraped,
// scored or probed for says so instead of showing empty sections.
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

function drawHistory(scores, period, seconds) {
  const xPad = 1000 * seconds;  // a lone point: one period either side of it
  const ok = scores.filter((s) => s.score !== null);
  chart("#c-score", {
    type: "line", label: "score history",
    emptyText: `no ${period} score published in this range yet`, xPad,
    data: { datasets: ok.length ? [
      { label: "score", data: ok.map((s) => ({ x: s.window_end, y: s.score })), borderColor: color(0), backgroundColor: color(0), pointRadius: 2 },
      { label: "lower bound", data: ok.map((s) => ({ x: s.window_end, y: s.score_lower })), borderColor: "#8c959f", borderDash: [4, 3], pointRadius: 0, fill: false },
      { label: "upper bound", data: ok.map((s) => ({ x: s.window_end, y: s.score_upper })), borderColor: "#8c959f", borderDash: [4, 3], pointRadius: 0, fill: "-1", backgroundColor: "rgba(140,149,159,.15)" },
    ] : [] },
    options: { scales: { x: timeAxis(), y: { min: 0, max: 100, title: { display: true, text: `score (${period} windows)` } } } },
  });
  chart("#c-groups", {
    type: "line", label: "subscores over time", emptyText: "no subscores yet", xPad,
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
      type: "line", label: name, emptyText: `${name}: no events yet`, xPad,
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
    el("td", { class: "num interval" }, v.lower === null ? "" : `${num(v.lower, 3)}–${num(v.upper, 3)}`), el("td", { class: "muted wrap" }, (v.metrics || []).join(", "))));
  const entries = Object.entries(latest.metrics || {}).sort();
  const metrics = entries.map(([k, m]) => el("tr", { "data-metric": k, "data-source": m.source || "", class: m.flagged === true ? "flagged" : "" },
    el("td", {}, k), el("td", {}, m.source || "self-reported"), el("td", {}, m.status || "—"), el("td", { class: "num" }, num(m.events, 0)), el("td", { class: "num" }, num(m.good, 0)),
    el("td", { class: "num" }, m.value === null || m.value === undefined ? "—" : num(m.value, 3)),
    el("td", { class: "num interval" }, m.lower === null || m.lower === undefined ? "" : `${num(m.lower, 3)}–${num(m.upper, 3)}`),
    el("td", { class: "wrap" }, beside(m)),
    el("td", { class: "muted wrap" }, m.reason || (m.scored === false ? "not scored" : ""))));
  const fromProbes = entries.filter(([, m]) => m.source === "probe").map(([k]) => k);
  const flagged = entries.filter(([, m]) => m.flagged === true).map(([k]) => k);
  const sources = el("p", { id: "why-sources" }, fromProbes.length
    ? `From the prober's measurements: ${fromProbes.join(", ")}; the other metrics are the orchestrator's own exporter's (self-reported).`
    : entries.some(([, m]) => m.source) ? "No metric of this window came from probes: every figure is self-reported by the orchestrator's exporter."
      : "This score names no source per metric (configs before v2): every figure is self-reported by the orchestrator's exporter.");
  const flagLine = flagged.length ? el("p", { class: "bad", id: "why-flagged" },
    `Flagged: the self-report disagrees with the probes on ${flagged.join(", ")} (see "other source").`) : null;
  const iso = new Date(latest.window_end).toISOString().replace(".000Z", "Z");
  const cmd = `naap replay --orchestrator ${latest.orchestrator} --period ${period} --from ${iso} --to ${iso}`;
  fill("#why",
    el("div", { class: "card" }, el("strong", {}, "Groups"), el("div", { class: "tablewrap", style: "min-height:0" }, el("table", { id: "why-groups" },
      el("thead", {}, el("tr", {}, ["group", "weight", "value", "interval", "metrics"].map((h) => el("th", {}, h)))), el("tbody", {}, groups)))),
    el("div", { class: "card wide" }, el("strong", {}, "Inputs (metrics of the window)"), sources, flagLine,
      el("div", { class: "tablewrap", style: "min-height:0" }, el("table", { id: "why-metrics" },
      el("thead", {}, el("tr", {}, ["metric", "source", "status", "events", "good", "value", "interval", "other source", "note"].map((h) => el("th", {}, h)))), el("tbody", {}, metrics)))),
    el("div", { class: "card" }, el("strong", {}, "Config and replay"),
      el("p", {}, `Window ${when(latest.window_start)} → ${when(latest.window_end)} UTC, rows as of ${when(latest.as_of)}; coverage ${pct(latest.coverage, 0)}`,
        latest.observed_windows !== undefined ? ` (${latest.observed_windows} of ${latest.windows} base windows)` : ""),
      el("p", {}, "Config ", el("code", {}, latest.config_version), " sha256 ", el("code", { class: "mono" }, latest.config_hash)),
      latest.reasons.length ? el("p", { class: "mid" }, latest.reasons.join("; ")) : null,
      el("p", {}, "Recompute it on a collector holding the raw rows (add --data-dir or --warehouse):"),
      el("pre", { class: "cmd", id: "replay" }, cmd)));
}

// The figure of the source a v2+ metric did not use, in plain text ("self-report: p50 0.4 s, value 0.9").
function beside(m) {
  const other = m.self_reported ? ["self-report", m.self_reported] : m.probe ? ["probes", m.probe] : null;
  if (!other) return "";
  const [who, f] = other;
  const parts = [];
  if (f.rate !== undefined && f.rate !== null) parts.push(`rate ${pct(f.rate, 1)}`);
  if (f.failures !== undefined && f.attempts !== undefined) parts.push(`${num(f.failures, 0)} of ${num(f.attempts, 0)} failed`);
  if (f.swaps !== undefined && f.swaps !== null) parts.push(`${num(f.swaps, 0)} swaps`);
  if (f.p50_ms !== undefined && f.p50_ms !== null) parts.push(`p50 ${num(f.p50_ms, 0)} ms`);
  if (f.p50_s !== undefined && f.p50_s !== null) parts.push(`p50 ${num(1000 * f.p50_s, 0)} ms`);
  if (f.value !== undefined && f.value !== null) parts.push(`value ${num(f.value, 3)}`);
  if (f.events !== undefined && f.events !== null && f.failures === undefined) parts.push(`${num(f.events, 0)} events`);
  const text = `${who}: ${parts.join(", ") || f.status || "none"}`;
  return m.flagged === true ? el("span", { class: "bad" }, `${text} — disagrees`) : text;
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
  if (!byId.size) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "no GPU reported in the last day"))); return 0; }
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
  return byId.size;
}

// The cross-check's quantities: what the probe measured and what the exporter reported, in the same unit.
const QUANTITIES = [
  ["fps", "delivery (output / input frames)", (x) => x.delivery, (v) => pct(v, 0)],
  ["p2ff", "prompt to first frame", (x) => x.p2ff_ms, (v) => `${num(v, 0)} ms`],
  ["startup", "startup", (x) => x.startup_ms, (v) => `${num(v, 0)} ms`],
  ["failure", "failure rate", (x) => x.failure_rate, (v) => pct(v, 0)],
];

async function probes() {
  const cc = await api("/v1/prober/crosscheck", { orchestrator: ADDR, window: "1d" });
  const tbody = $("#probes tbody");
  if (!cc.pairs.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no probe reached it in the last day (failed probes, if any, are below)")));
    return 0;
  }
  tbody.replaceChildren(...cc.pairs.flatMap((p) => QUANTITIES.map(([key, label, get, fmt], i) => {
    const flag = p.flags.find((f) => f.metric === key);
    const pv = get(p.probe), ev = p.exporter ? get(p.exporter) : null;
    const verdict = flag ? el("span", { class: "badge flag" }, `flagged: differs by ${key === "p2ff" || key === "startup" ? `${num(Math.abs(flag.difference), 0)} ms` : pct(Math.abs(flag.difference), 0)}`)
      : el("span", { class: "muted" }, p.compared[key] === "compared" ? "agrees" : p.compared[key] || "—");
    return el("tr", { "data-model": p.model_id, "data-quantity": key, "data-flagged": flag ? "1" : "0" },
      el("td", {}, i === 0 ? p.model_id : ""), el("td", { class: "num" }, i === 0 ? `${p.probe.ok} ok of ${p.probe.probes}` : ""),
      el("td", {}, label), el("td", { class: "num" }, pv === null || pv === undefined ? "—" : fmt(pv)),
      el("td", { class: "num" }, ev === null || ev === undefined ? "—" : fmt(ev)), el("td", {}, verdict));
  })));
  return cc.pairs.length;
}

// Failed probes of this orchestrator in the latest stored prober periods (as many as /v1/prober lists), from the
// signed results themselves: also those that never reached it (model_id '': the info call failed).
async function failedProbes() {
  const pr = await api("/v1/prober");
  // Only ids of the form the API takes (region/seconds s/index: every period the prober writes).
  const periods = (pr.stored_periods || []).map((p) => p.period_id).filter((p) => /^[a-z0-9][a-z0-9_-]{0,63}\/\d{1,6}s\/\d{1,12}$/.test(p));
  const bodies = await Promise.all(periods.map((p) => api("/v1/prober/results", { period_id: p }).catch(() => ({ results: [] }))));
  const mine = bodies.flatMap((b) => b.results || []).map((e) => e.result || {}).filter((r) => (r.orchestrator || "").toLowerCase() === ADDR);
  const failed = mine.filter((r) => r.outcome !== "ok").sort((a, b) => (b.started_at_ms || 0) - (a.started_at_ms || 0));
  const classes = {};
  for (const r of failed) classes[r.error_class || r.outcome || "?"] = (classes[r.error_class || r.outcome || "?"] || 0) + 1;
  const tbody = $("#probe-failures tbody");
  const span = periods.length ? `the latest ${periods.length} prober period${periods.length > 1 ? "s" : ""}` : "the stored prober periods";
  fill("#probe-summary", !mine.length ? `not probed in ${span}`
    : `${span}: ${failed.length} of ${mine.length} probes failed${failed.length ? ` (${Object.entries(classes).map(([c, n]) => `${c} ×${n}`).join(", ")}), last at ${when(failed[0].started_at_ms)} UTC` : ""}`);
  if (!failed.length) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no failed probe"))); return mine.length; }
  tbody.replaceChildren(...failed.slice(0, 20).map((r) => el("tr", { "data-class": r.error_class || "" }, el("td", {}, when(r.started_at_ms)),
    el("td", {}, r.model_id || el("span", { class: "muted" }, "(info call: never reached it)")), el("td", {}, r.outcome || "—"),
    el("td", {}, r.error_class || "—"), el("td", {}, r.fault || "—"))));
  return mine.length;
}

async function failures() {
  const f = await api("/v1/scrapes/failures", { orchestrator_id: ADDR, time_range: "24h", limit: 20 });
  const scheduled = f.scheduled;
  const classes = Object.entries(f.by_class).map(([c, n]) => `${c} ${n}`).join(", ");
  fill("#scrape-summary", `last 24 h: ${f.failed} of ${f.scheduled} scrapes failed${classes ? ` (${classes})` : ""}`);
  const tbody = $("#failures tbody");
  if (!f.failures.length) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no failed scrape in the last 24 h"))); return scheduled; }
  tbody.replaceChildren(...f.failures.map((x) => el("tr", {}, el("td", {}, when(x.ts)), el("td", {}, x.error_class),
    el("td", { class: "num" }, `${num(x.duration_s, 3)} s`), el("td", {}, x.void ? "void (scraper's fault)" : "against availability"))));
  return scheduled;
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
  fill("#o-status", latest ? (latest.insufficient_data ? el("span", { class: "badge insufficient" }, "insufficient") : el("span", { class: "badge ok" }, "enough")) : "—");
  fill("#o-coverage", latest ? `coverage ${pct(latest.coverage, 0)}` : "\u00a0");
  drawHistory(scores, period, seconds);
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
  const asked = Q.get("period");
  if (asked && !names.includes(asked)) fill("#notice", `period=${asked} is not a period of the score config (${names.join(", ")}): showing ${names[i]} instead`);
  options($("#f-period"), names, names[i]);
  $("#f-period").addEventListener("change", () => { const j = names.indexOf($("#f-period").value); show(names[j], periods[j][1], all[j]).catch(showError); });
  const [, caps, nGpus, nPairs, nProbes, nScrapes] = await Promise.all([show(names[i], periods[i][1], all[i]),
    apiAll("/v1/network/capabilities", { orchestrator_id: ADDR, time_range: "7d" }, "capabilities").then((c) => c.length).catch(() => 1),
    gpus().catch((e) => { showError(e); return 1; }), probes().catch((e) => { showError(e); return 1; }),
    failedProbes().catch((e) => { showError(e); return 1; }), failures().catch((e) => { showError(e); return 1; })]);
  // Nothing anywhere (an address typed by hand, or one never seen): say so rather than show empty sections.
  const scored = all.some((sc) => sc.length);
  if (!scored && !caps && !nGpus && !nPairs && !nProbes && !nScrapes) {
    fill("#notice", "unknown orchestrator: nothing scraped, scored or probed for this address (in the periods this page looks at)");
    document.body.dataset.unknown = "1";
    $("#sections").hidden = true;
    for (const t of document.querySelectorAll("section.tiles, form.filters")) t.hidden = true;
  }
  document.body.dataset.ready = "1";
}

main().catch((e) => { showError(e); document.body.dataset.ready = "error"; });
