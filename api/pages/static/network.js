// Demand vs supply (/v1/network/demand, hourly over the last day) and the region × workflow heatmap (/v1/leaderboard
// per workflow: mean score and orchestrators per region).
import { $, Q, api, apiAll, chart, color, el, fill, nav, num, periodList, scoreClass, showError, timeAxis, workflowList } from "./common.js";

nav("/network");

async function demand() {
  const body = await api("/v1/network/demand", { interval: "hour", limit: 500 });
  const rows = body.rows.filter((r) => r.samples > 0);
  const x = (r) => r.window_start;
  chart("#c-demand", {
    type: "bar", label: "demand vs supply", emptyText: "no demand observed in the last day",
    data: { datasets: rows.length ? [
      { type: "line", label: "inference minutes (demand)", data: rows.map((r) => ({ x: x(r), y: r.inference_minutes ?? 0 })), borderColor: color(4), backgroundColor: color(4), yAxisID: "y" },
      { label: "container min in use", data: rows.map((r) => ({ x: x(r), y: r.capacity_in_use_minutes ?? 0 })), backgroundColor: color(0), stack: "s" },
      { label: "container min idle (supply left)", data: rows.map((r) => ({ x: x(r), y: r.capacity_idle_minutes ?? 0 })), backgroundColor: "#afb8c1", stack: "s" },
    ] : [] },
    options: { scales: { x: timeAxis({ stacked: true, offset: true }), y: { stacked: true, beginAtZero: true, title: { display: true, text: "minutes per hour" } } } },
  });
  const models = [...new Set(rows.flatMap((r) => Object.keys(r.inference_minutes_by_gpu_model)))].sort();
  chart("#c-models", {
    type: "bar", label: "inference minutes by GPU model", emptyText: "no inference minutes in the last day",
    data: { datasets: models.map((m, i) => ({ label: m, data: rows.map((r) => ({ x: x(r), y: r.inference_minutes_by_gpu_model[m] ?? 0 })), backgroundColor: color(i), stack: "m" })) },
    options: { scales: { x: timeAxis({ stacked: true, offset: true }), y: { stacked: true, beginAtZero: true, title: { display: true, text: "inference minutes" } } } },
  });
  const cap = rows.filter((r) => r.capacity_rate !== null);
  chart("#c-capacity", {
    type: "line", label: "capacity rate", emptyText: "no runner container reported in the last day",
    data: { datasets: cap.length ? [
      { label: "capacity rate (in use / available)", data: cap.map((r) => ({ x: x(r), y: r.capacity_rate })), borderColor: color(0), backgroundColor: color(0) },
      { label: "avg concurrent streams", data: rows.map((r) => ({ x: x(r), y: r.avg_concurrent_streams ?? 0 })), borderColor: color(2), backgroundColor: color(2), yAxisID: "y2" },
    ] : [] },
    options: { scales: { x: timeAxis(), y: { min: 0, max: 1, title: { display: true, text: "capacity rate" } }, y2: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } } },
  });
}

async function heatmap() {
  const targets = await api("/v1/sla/targets");
  const periods = periodList(targets);
  const names = periods.map(([p]) => p);
  let period = names.includes(Q.get("period")) ? Q.get("period") : null;
  if (!period) {  // the longest period with a published window
    const boards = await Promise.all(names.map((p) => api("/v1/leaderboard", { period: p, limit: 1 })));
    boards.forEach((b, i) => { if (b.entries.length) period = names[i]; });
    period = period || names[0];
  }
  fill("#hm-period", period);
  const workflows = await workflowList(targets);
  const boards = await Promise.all(workflows.map((w) => apiAll("/v1/leaderboard", { period, workflow: w }, "entries")));
  const cells = new Map(), regions = new Set();
  boards.forEach((entries, i) => {
    for (const e of entries) {
      const r = e.region || "(none)";
      regions.add(r);
      const c = cells.get(`${r}|${workflows[i]}`) || { sum: 0, n: 0, orchs: 0 };
      c.orchs += 1;
      if (e.score !== null) { c.sum += e.score; c.n += 1; }
      cells.set(`${r}|${workflows[i]}`, c);
    }
  });
  const table = $("#heatmap");
  table.querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "Region"), workflows.map((w) => el("th", { class: "num" }, w.split("/").pop()))));
  const rs = [...regions].sort();
  if (!rs.length) { table.querySelector("tbody").replaceChildren(el("tr", {}, el("td", { colspan: workflows.length + 1, class: "muted" }, `no ${period} workflow score published yet`))); return; }
  table.querySelector("tbody").replaceChildren(...rs.map((r) => el("tr", {}, el("td", {}, r), workflows.map((w) => {
    const c = cells.get(`${r}|${w}`);
    if (!c) return el("td", { class: "heat muted" }, "—");
    const mean = c.n ? c.sum / c.n : null;
    const td = el("td", { class: "heat", "data-mean": mean ?? "", title: `${c.orchs} orchestrators, ${c.n} with a score` },
      el("span", { class: `score ${scoreClass(mean)}` }, mean === null ? "insufficient" : num(mean, 1)), el("br"), el("span", { class: "interval" }, `${c.orchs} orch.`));
    if (mean !== null) td.style.background = `hsla(${Math.round(1.2 * mean)}, 70%, 50%, .18)`;
    return td;
  }))));
}

Promise.all([demand(), heatmap()]).then(() => { document.body.dataset.ready = "1"; })
  .catch((e) => { showError(e); document.body.dataset.ready = "error"; });
