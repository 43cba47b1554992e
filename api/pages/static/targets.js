// The SLA targets and the scoring config, from /v1/sla/targets.
import { $, api, el, fill, nav, num, showError } from "./common.js";

nav("/targets");

async function main() {
  const t = await api("/v1/sla/targets");
  fill("#t-version", t.config_version);
  fill("#t-hash", t.config_hash.slice(0, 16) + "…");
  $("#t-hash").title = t.config_hash;
  $("#targets tbody").replaceChildren(...t.workflows.map((w) => el("tr", { "data-workflow": w.workflow },
    el("td", {}, w.workflow === "default" ? "default (any other workflow)" : w.workflow),
    el("td", { class: "num" }, `${num(w.output_fps, 1)} fps`),
    el("td", { class: "num" }, w.p2ff_s === undefined ? "—" : `${num(w.p2ff_s * 1000, 0)} ms`),
    el("td", { class: "num" }, w.startup_s === undefined ? "—" : `${num(w.startup_s, 1)} s`))));
  fill("#weights", el("strong", {}, "Group weights"), el("ul", {}, Object.entries(t.weights).map(([g, w]) => el("li", {}, `${g}: ${num(w, 2)}`))));
  fill("#periods", el("strong", {}, "Periods"), el("ul", {}, Object.entries(t.periods).map(([p, v]) =>
    el("li", {}, `${p}: ${num(v.seconds, 0)} s, published every ${num(v.step_s, 0)} s${v.min_coverage ? `, needs ${num(100 * v.min_coverage, 0)} % coverage` : ""}`))));
  const c = t.config, rows = [];
  for (const k of ["jitter_max", "failure_rate_target", "failure_rate_zero_at", "swap_rate_target", "cue_target", "confidence_z"]) if (c[k] !== undefined) rows.push(el("li", {}, `${k}: ${c[k]}`));
  for (const [k, v] of Object.entries(c.slos || {})) rows.push(el("li", {}, `SLO ${k}: ${v}`));
  fill("#other", el("strong", {}, "Other targets"), el("ul", {}, rows));
  fill("#config", JSON.stringify(c, null, 2));
  document.body.dataset.ready = "1";
}

main().catch((e) => { showError(e); document.body.dataset.ready = "error"; });
