// The leaderboard: /v1/leaderboard joined with /v1/sla/compliance (same period, window and workflow) for each
// entry's availability, FPS and sample counts; the network header from /v1/gpu/metrics and /v1/network/demand.
// A row is marked "flagged" when its self-report disagrees with the prober's measurements: a pair of
// /v1/prober/crosscheck with flags over the last day (as on the orchestrator page), or a metric of its score with
// `flagged`.
import { $, Q, EMBED, GROUPS, api, apiAll, bar, el, fill, fpsTarget, href, nav, num, options, pct, periodList,
  scoreClass, setParam, short, showError, when, workflowList } from "./common.js";

nav("/");
let targets = null;
let offered = new Map();  // orchestrator -> workflows offered in the last week (for the FPS target of its own row)

// orchestrator -> [{model_id, metric, probe, exporter}] of the cross-check's flags (none when there is no prober).
async function crossFlags() {
  const cc = await api("/v1/prober/crosscheck", { flagged: "true", window: "1d" }).catch(() => ({ pairs: [], window: null }));
  const out = new Map();
  for (const p of cc.pairs || []) {
    for (const f of p.flags || []) (out.get(p.orchestrator) || out.set(p.orchestrator, []).get(p.orchestrator)).push({ model_id: p.model_id, ...f });
  }
  return { flags: out, seconds: cc.window ? cc.window.seconds : null };
}

// The flagged metrics of a row: its score's own (metrics with `flagged: true`) and the cross-check's for its model
// (a workflow row) or for any of its models (the orchestrator's own row, workflow '').
function rowFlags(e, detail, cross) {
  const names = new Set(Object.entries(detail.metrics || {}).filter(([, m]) => m && m.flagged === true).map(([k]) => k));
  const model = (e.workflow || "").split("/").pop();
  for (const f of cross.flags.get(e.orchestrator) || []) if (!e.workflow || f.model_id === model) names.add(f.metric);
  return [...names].sort();
}

function fpsTargets(e) {
  const wfs = e.workflow ? [e.workflow] : [...(offered.get(e.orchestrator) || [])];
  const ts = [...new Set(wfs.map((w) => fpsTarget(targets, w)).filter((t) => t !== null))].sort((a, b) => a - b);
  if (!ts.length) { const d = fpsTarget(targets, "default"); return d === null ? [] : [d]; }
  return ts;
}

async function header() {
  const [gpus, demand] = await Promise.all([
    apiAll("/v1/gpu/metrics", { time_range: "15m" }, "gpus").catch(() => []),
    api("/v1/network/demand", { interval: "hour" }).catch(() => ({ rows: [] })),
  ]);
  const orchs = new Set(gpus.map((g) => g.orchestrator));
  const ids = new Set(gpus.map((g) => g.gpu_id));
  const models = {};
  for (const g of gpus) models[g.gpu_model || "unknown"] = (models[g.gpu_model || "unknown"] || new Set()).add(g.gpu_id);
  fill("#t-orchs", String(orchs.size));
  fill("#t-gpus", String(ids.size));
  fill("#t-gpus-s", Object.entries(models).map(([m, s]) => `${s.size}× ${m.replace("NVIDIA ", "")}`).join(", ") || "\u00a0");
  const rows = (demand.rows || []).filter((r) => r.samples > 0);
  const last = rows[rows.length - 1];
  fill("#t-streams", last ? num(last.avg_concurrent_streams, 2) : "—");
  fill("#t-cap", last && last.capacity_rate !== null ? pct(last.capacity_rate, 0) : "—");
  fill("#t-cap-s", last ? `${num(last.capacity_in_use_minutes, 0)} of ${num((last.capacity_in_use_minutes || 0) + (last.capacity_idle_minutes || 0), 0)} container min` : "\u00a0");
  fill("#t-ds", last ? `${num(last.capacity_in_use_minutes, 0)} / ${num(last.capacity_idle_minutes, 0)}` : "—");
  fill("#t-ds-s", last && last.inference_minutes !== undefined && last.inference_minutes !== null
    ? `min in use / idle, latest hour; ${num(last.inference_minutes, 0)} inference min` : "min in use / idle, latest hour");
}

// Without ?period=: the longest period whose latest window has a ranked entry, else the shortest with any entry.
async function pickPeriod(periods, workflow, region) {
  const boards = await Promise.all(periods.map(([p]) => api("/v1/leaderboard", { period: p, workflow, region, limit: 1 })));
  let best = null, any = null;
  boards.forEach((b, i) => {
    if (b.entries.length && b.entries[0].rank !== null) best = periods[i][0];
    if (b.entries.length && any === null) any = periods[i][0];
  });
  return best || any || periods[Math.min(1, periods.length - 1)][0];
}

async function board() {
  await render();
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
}

async function render() {
  const period = $("#f-period").value, workflow = $("#f-workflow").value, region = $("#f-region").value;
  const [lb, cross] = await Promise.all([api("/v1/leaderboard", { period, workflow, region, limit: 500 }), crossFlags()]);
  const comp = lb.window_end === null ? [] : await apiAll("/v1/sla/compliance", { period, workflow, window_end: lb.window_end }, "orchestrators");
  const detail = new Map(comp.map((c) => [`${c.orchestrator}|${c.workflow}`, c]));
  fill("#window", lb.window_end === null ? "no score published for this period yet"
    : `${lb.entries.length} orchestrators · window ${when(lb.window_start)} → ${when(lb.window_end)} UTC · config ${lb.config_version}`);
  const tbody = $("#board tbody");
  if (!lb.entries.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "no orchestrator matches these filters")));
    return;
  }
  tbody.replaceChildren(...lb.entries.map((e) => {
    const d = detail.get(`${e.orchestrator}|${e.workflow}`) || {};
    const m = d.metrics || {};
    const av = m.availability || {}, fps = m.output_fps || {};
    const ins = e.insufficient_data;
    const scoreCell = ins ? el("td", { class: "num", "data-score": "" }, el("span", { class: "badge insufficient" }, "insufficient data"))
      : el("td", { class: "num", "data-score": String(e.score) },
        el("span", { class: `score ${scoreClass(e.score)}` }, num(e.score, 1)), el("br"),
        el("span", { class: "interval", title: "score with every rate at its Wilson lower / upper bound" }, `${num(e.score_lower, 1)}–${num(e.score_upper, 1)}`));
    const tg = fpsTargets(e).map((t) => num(t, 0)).join(" or ");
    const fpsText = `${fps.mean === undefined || fps.mean === null ? "—" : num(fps.mean, 1)}${tg ? ` / ${tg}` : ""} fps`;
    const flags = rowFlags(e, d, cross);
    const flagNote = flags.length ? el("div", {}, el("span", { class: "badge flag", "data-flagged": flags.join(","),
      title: `the orchestrator's exporter reports figures the prober's measurements contradict${cross.seconds ? ` (cross-check over the last ${num(cross.seconds / 60, 0)} min)` : ""}; see its page` },
      `flagged: self-report disagrees with probes (${flags.join(", ")})`)) : null;
    const fpsShare = fps.value === undefined || fps.value === null ? "" : `${pct(fps.value, 0)} of windows at target`;
    const reasons = (d.reasons || []).join("; ");
    return el("tr", { class: `${ins ? "insufficient" : ""}${flags.length ? " flagged" : ""}`.trim(), "data-orchestrator": e.orchestrator, "data-workflow": e.workflow },
      el("td", { class: "num" }, e.rank ?? "–"),
      el("td", {}, el("a", { class: "mono", href: href(`/orchestrators/${e.orchestrator}`, { period }), title: e.orchestrator }, short(e.orchestrator)),
        e.workflow && !workflow ? el("span", { class: "muted" }, ` ${e.workflow}`) : null, flagNote),
      el("td", { class: "hide-sm" }, e.region || "—"),
      scoreCell,
      el("td", {}, el("span", { class: "bars" }, GROUPS.map((g) => bar(e.groups[g], g)))),
      el("td", { class: "num", "data-availability": av.value ?? "" }, av.value === undefined ? "—" : pct(av.value, 1)),
      el("td", { class: "num", title: fpsShare, "data-fps": fpsText }, fpsText, fpsShare ? el("br") : null, fpsShare ? el("span", { class: "interval" }, fpsShare) : null),
      el("td", { class: "num hide-sm", title: "scheduled scrapes · 5 s FPS windows" }, `${num(av.events, 0)} · ${num(fps.events, 0)}`),
      el("td", { class: "hide-sm", title: reasons || "enough samples and coverage for a score (this says nothing about how good it is)" },
        ins ? el("span", { class: "badge insufficient" }, "insufficient") : el("span", { class: "badge ok" }, "enough")));
  }));
}

async function main() {
  targets = await api("/v1/sla/targets");
  const periods = periodList(targets);
  const caps = await apiAll("/v1/network/capabilities", { time_range: "7d" }, "capabilities").catch(() => []);
  const [workflows, regions] = await Promise.all([
    workflowList(targets, caps),
    apiAll("/v1/regions", { time_range: "7d" }, "regions").then((rs) => rs.map((r) => r.region)).catch(() => []),
  ]);
  offered = new Map();
  for (const c of caps) (offered.get(c.orchestrator) || offered.set(c.orchestrator, new Set()).get(c.orchestrator)).add(c.workflow);
  const wf = Q.get("workflow") || "", rg = (Q.get("region") || "").toLowerCase();
  options($("#f-workflow"), ["", ...workflows.includes(wf) || !wf ? workflows : [wf, ...workflows]], wf);
  options($("#f-region"), ["", ...regions.includes(rg) || !rg ? regions : [rg, ...regions]], rg);
  const names = periods.map(([p]) => p);
  const asked = Q.get("period");
  const period = names.includes(asked) ? asked : await pickPeriod(periods, wf, rg);
  if (asked && !names.includes(asked)) {
    fill("#notice", `period=${asked} is not a period of the score config (${names.join(", ")}): showing ${period} instead`);
    setParam("period", period);
  }
  options($("#f-period"), names, period);
  for (const id of ["#f-workflow", "#f-region", "#f-period"]) {
    $(id).addEventListener("change", () => {
      setParam(id.slice(3), $(id).value);
      board().catch(showError);
    });
  }
  await board();
  document.body.dataset.ready = "1";
}

header().catch(showError);
main().catch((e) => { showError(e); document.body.dataset.ready = "error"; });
