// The leaderboard: /v1/leaderboard joined with /v1/sla/compliance (same period, window and workflow) for each
// entry's availability, FPS and sample counts; the network header from /v1/gpu/metrics and /v1/network/demand.
import { $, Q, EMBED, GROUPS, api, apiAll, bar, el, fill, fpsTarget, href, nav, num, options, pct, periodList,
  scoreClass, setParam, short, showError, when, workflowList } from "./common.js";

nav("/");
let targets = null;

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
  const lb = await api("/v1/leaderboard", { period, workflow, region, limit: 500 });
  const comp = lb.window_end === null ? [] : await apiAll("/v1/sla/compliance", { period, workflow, window_end: lb.window_end }, "orchestrators");
  const detail = new Map(comp.map((c) => [`${c.orchestrator}|${c.workflow}`, c]));
  const target = workflow ? fpsTarget(targets, workflow) : null;
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
    const fpsText = fps.mean === undefined || fps.mean === null ? "—"
      : `${num(fps.mean, 1)}${target ? ` / ${num(target, 0)}` : ""} fps`;
    const fpsShare = fps.value === undefined || fps.value === null ? "" : `${pct(fps.value, 0)} of windows at target`;
    const reasons = (d.reasons || []).join("; ");
    return el("tr", { class: ins ? "insufficient" : "", "data-orchestrator": e.orchestrator, "data-workflow": e.workflow },
      el("td", { class: "num" }, e.rank ?? "–"),
      el("td", {}, el("a", { class: "mono", href: href(`/orchestrators/${e.orchestrator}`, { period }), title: e.orchestrator }, short(e.orchestrator)),
        e.workflow && !workflow ? el("span", { class: "muted" }, ` ${e.workflow}`) : null),
      el("td", { class: "hide-sm" }, e.region || "—"),
      scoreCell,
      el("td", {}, el("span", { class: "bars" }, GROUPS.map((g) => bar(e.groups[g], g)))),
      el("td", { class: "num", "data-availability": av.value ?? "" }, av.value === undefined ? "—" : pct(av.value, 1)),
      el("td", { class: "num", title: fpsShare }, fpsText, fpsShare ? el("br") : null, fpsShare ? el("span", { class: "interval" }, fpsShare) : null),
      el("td", { class: "num hide-sm", title: "scheduled scrapes · 5 s FPS windows" }, `${num(av.events, 0)} · ${num(fps.events, 0)}`),
      el("td", { class: "hide-sm", title: reasons }, ins ? el("span", { class: "badge insufficient" }, "insufficient data") : el("span", { class: "badge ok" }, "ok")));
  }));
}

async function main() {
  targets = await api("/v1/sla/targets");
  const periods = periodList(targets);
  const [workflows, regions] = await Promise.all([
    workflowList(targets),
    apiAll("/v1/regions", { time_range: "7d" }, "regions").then((rs) => rs.map((r) => r.region)).catch(() => []),
  ]);
  const wf = Q.get("workflow") || "", rg = (Q.get("region") || "").toLowerCase();
  options($("#f-workflow"), ["", ...workflows.includes(wf) || !wf ? workflows : [wf, ...workflows]], wf);
  options($("#f-region"), ["", ...regions.includes(rg) || !rg ? regions : [rg, ...regions]], rg);
  const names = periods.map(([p]) => p);
  const period = names.includes(Q.get("period")) ? Q.get("period") : await pickPeriod(periods, wf, rg);
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
