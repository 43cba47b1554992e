"""Prometheus rule files for the SLOs, generated from the SLA config (Sloth's way: rules are generated, never hand
written). docs/slo.md explains how to load them.

- `naap-slo-alerts.yaml`: the multiwindow multi-burn-rate alerts (scoring/slo.py's ALERTS) over `naap_slo_burn_rate`
  series — the collector's own /metrics (scoring/exposition.py) exposes them per (orchestrator, workflow, slo), and
  the recording rules below record the same series, so one alert file serves both.
- `naap-slo-recording.yaml`: recording rules an orchestrator runs in its own Prometheus over its own exporter's
  series, giving `naap_slo_burn_rate{slo,window[,workflow]}`, `naap_slo_error_budget_remaining_ratio{slo}` and
  `naap_slo_objective_ratio{slo}` as scoring/slo.py defines them, with two differences PromQL imposes (docs/slo.md,
  "Recording rules"): FPS and jitter events are the exporter's 5 s gauges sampled every 5 s by a rule group instead
  of the windows the collector saw in its scrapes, and failure_rate's errors are capped at the starts of the whole
  window rather than of each 60 s base window. Availability is `up` of the exporter's scrape job, orchestrator-wide.

`scoring/rules/*.yaml` are these files for the packaged v1 config; tests/test_slo_rules.py fails when they are stale.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from scoring.slo import ALERTS, WINDOWS
from scoring.sla_v1 import ConfigV1

ALERT_FILE = "naap-slo-alerts.yaml"
RECORDING_FILE = "naap-slo-recording.yaml"
DEFAULT_JOB = "naap-exporter"
# SLIs the exporter's own series can express; p2ff and startup need per-workflow histogram bounds (not generated).
RECORDABLE = ("availability", "output_fps", "jitter", "failure_rate")
EVENTS_INTERVAL = "5s"  # the exporter's FPS window: one sample of each stream's gauge per window
BUDGET_INTERVAL = "5m"  # the SLO period's sums are long; recomputing them every 5 minutes is plenty
ALERT_NAMES = {"page": "NaapSloBudgetBurnPage", "ticket": "NaapSloBudgetBurnTicket"}
_WF = '"workflow", "/", "pipeline", "model_id"'  # label_join arguments: workflow = pipeline/model_id


def duration(seconds: int) -> str:
    """A Prometheus duration for `seconds`, in its largest whole unit (259200 -> '3d')."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _num(x: float) -> str:
    """`x` as PromQL reads it back exactly (20.0 -> '20', 0.1 -> '0.1')."""
    return f"{x:g}" if float(f"{x:g}") == x else repr(x)


# -- alerts ------------------------------------------------------------------------------------------------------


def _burning(window: str, factor: float) -> str:
    return f'max without (window) (naap_slo_burn_rate{{window="{window}"}} > {_num(factor)})'


def alert_rules() -> dict[str, Any]:
    """The alert rule file: one alert per severity, firing when either of its two window pairs burns faster than
    its factor (the short window guards against alerting long after a problem stopped). Its value is the short
    window's burn rate."""
    rules = []
    for severity, name in ALERT_NAMES.items():
        pairs = [a for a in ALERTS if a.severity == severity]
        expr = "\nor\n".join(
            f"(\n  {_burning(a.short, a.factor)}\n  and\n  {_burning(a.long, a.factor)}\n)" for a in pairs
        )
        spent = " or ".join(f"{a.factor:g}× over {a.long} (and {a.short})" for a in pairs)
        who = "{{ $labels.orchestrator }}{{ if $labels.workflow }} {{ $labels.workflow }}{{ end }}"
        rules.append({
            "alert": name,
            "expr": expr + "\n",
            "labels": {"severity": severity},
            "annotations": {
                "summary": f"SLO {{{{ $labels.slo }}}} of {who}: error budget burning {{{{ $value | printf \"%.1f\" }}}}× "
                           "the sustainable rate",
                "description": f"The {{{{ $labels.slo }}}} error budget burns at {spent} the rate that would spend it "
                               "exactly over the SLO period.",
                "runbook": "docs/slo.md, section Runbook (naap-sla)",
            },
        })  # fmt: skip
    return {"groups": [{"name": "naap-slo-alerts", "rules": rules}]}


# -- recording ---------------------------------------------------------------------------------------------------


def _both(inner: str) -> str:
    """Per workflow and for the orchestrator as a whole (no workflow label), as scoring/slo.py reports them."""
    return f"sum by (workflow) (label_join({inner}, {_WF}))\nor\nsum({inner})"


def _fps_bad(config: ConfigV1) -> str:
    # Each target as ConfigV1.targets() resolves it: `or` keeps the first branch that has a stream's series, so the
    # pipeline/model_id entries come first, then model_id alone, then the default for everything else.
    branches = []
    for key, t in sorted(config.spec.workflows.items(), key=lambda kv: (kv[0] == "default", "/" not in kv[0], kv[0])):
        if key == "default":
            sel = ""
        elif "/" in key:
            pipeline, _, model = key.rpartition("/")
            sel = f'{{pipeline="{pipeline}",model_id="{model}"}}'
        else:
            sel = f'{{model_id="{key}"}}'
        branches.append(f"(naap_stream_output_fps{sel} < bool {_num(t.output_fps)})")
    return "sum by (pipeline, model_id) (\n  " + "\n  or ".join(branches) + "\n)"


def _events_group(config: ConfigV1, slis: list[str]) -> dict[str, Any] | None:
    rules = []
    if "output_fps" in slis:
        rules += [
            {"record": "naap_slo:output_fps_windows:count", "expr": "count by (pipeline, model_id) (naap_stream_output_fps)"},
            {"record": "naap_slo:output_fps_windows_bad:count", "expr": _fps_bad(config) + "\n"},
        ]
    if "jitter" in slis:
        rules += [
            {"record": "naap_slo:jitter_windows:count", "expr": "count by (pipeline, model_id) (naap_stream_jitter_ratio)"},
            {"record": "naap_slo:jitter_windows_bad:count",
             "expr": f"sum by (pipeline, model_id) (naap_stream_jitter_ratio > bool {_num(config.spec.jitter_max)})"},
        ]  # fmt: skip
    return {"name": "naap-slo-events", "interval": EVENTS_INTERVAL, "rules": rules} if rules else None


def _events(sli: str, job: str, w: str) -> tuple[str, list[str]]:
    """(valid, bad) events of `sli` over the range `w`; bad is the expression, after the one failure_rate records
    first (each may refer to the series recorded before it)."""
    if sli == "availability":
        up = f'up{{job="{job}"}}'
        return f"sum(count_over_time({up}[{w}]))", [f"sum(count_over_time({up}[{w}])) - sum(sum_over_time({up}[{w}]))"]
    if sli in ("output_fps", "jitter"):
        n, bad = f"naap_slo:{sli}_windows:count", f"naap_slo:{sli}_windows_bad:count"
        return _both(f"sum_over_time({n}[{w}])"), [_both(f"sum_over_time({bad}[{w}])")]
    # failure_rate: per workflow, bad = min(errors, starts) (a workflow without an error series has 0 errors, not
    # none), recorded first; the orchestrator's is the sum of its workflows' capped figures, as scoring/slo.py sums.
    valid = f'naap_slo:valid_events:sum{w}{{slo="failure_rate",workflow!=""}}'
    errors = f'sum by (workflow) (label_join(increase(naap_stream_errors_total[{w}]), {_WF}))'
    capped = f"naap_slo:failure_capped_errors:sum{w}"
    return _both(f"increase(naap_streams_started_total[{w}])"), [
        f"sum by (workflow) (\n  (\n    {errors}\n    or on (workflow) 0 * {valid}\n  )\n"
        f"  <= on (workflow) {valid}\n  or on (workflow) {valid}\n)",
        f"{capped}\nor\nsum({capped})",
    ]


def _ratio_rules(sli: str, job: str, w: str) -> list[dict[str, Any]]:
    """Valid events, bad events and error ratio of `sli` over the range `w` (labels: slo, and workflow if any)."""
    valid, bad = _events(sli, job, w)
    sel = f'{{slo="{sli}"}}'
    return [
        {"record": f"naap_slo:valid_events:sum{w}", "labels": {"slo": sli}, "expr": valid + "\n"},
        *([{"record": f"naap_slo:failure_capped_errors:sum{w}", "expr": bad[0] + "\n"}] if len(bad) > 1 else []),
        {"record": f"naap_slo:bad_events:sum{w}", "labels": {"slo": sli}, "expr": bad[-1] + "\n"},
        {"record": f"naap_slo:sli_error:ratio_rate{w}", "labels": {"slo": sli},
         "expr": f"naap_slo:bad_events:sum{w}{sel} / (naap_slo:valid_events:sum{w}{sel} > 0)"},
    ]  # fmt: skip


def recording_rules(config: ConfigV1, job: str = DEFAULT_JOB) -> dict[str, Any]:
    """The recording rule file for `config`'s SLOs that RECORDABLE covers; `job` is the scrape job of the
    orchestrator's exporter (availability is its `up`). Burn rate = error ratio / (1 − objective); budget remaining
    = 1 − that over the SLO period — the same operations, in the same order, as scoring/slo.py."""
    slis = [s for s in sorted(config.spec.slos) if s in RECORDABLE]
    groups = [g for g in [_events_group(config, slis)] if g]
    budget: list[dict[str, Any]] = []
    period = duration(config.spec.slo_period_s)
    for sli in slis:
        objective = config.spec.slos[sli]
        sel = f'{{slo="{sli}"}}'
        rules: list[dict[str, Any]] = []
        for name, secs in WINDOWS:
            w = duration(secs)
            rules += _ratio_rules(sli, job, w)
            rules.append({"record": "naap_slo_burn_rate", "labels": {"slo": sli, "window": name},
                          "expr": f"naap_slo:sli_error:ratio_rate{w}{sel} / (1 - {_num(objective)})"})  # fmt: skip
        groups.append({"name": f"naap-slo-{sli}", "rules": rules})
        budget.append({"record": "naap_slo_objective_ratio", "labels": {"slo": sli}, "expr": f"vector({_num(objective)})"})
        budget += _ratio_rules(sli, job, period)
        budget.append({"record": "naap_slo_error_budget_remaining_ratio", "labels": {"slo": sli},
                       "expr": f"1 - naap_slo:sli_error:ratio_rate{period}{sel} / (1 - {_num(objective)})"})  # fmt: skip
    if budget:
        groups.append({"name": "naap-slo-budget", "interval": BUDGET_INTERVAL, "rules": budget})
    return {"groups": groups}


# -- files -------------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, so the files read like hand-written ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _dump(header: str, data: dict[str, Any]) -> str:
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)


def render_rules(config: ConfigV1, job: str = DEFAULT_JOB) -> dict[str, str]:
    """File name -> YAML text of both rule files for `config` (deterministic: same config, same bytes)."""
    made = "# Generated by `naap slo rules`"
    left = sorted(set(config.spec.slos) - set(RECORDABLE))
    note = f"# Not recorded here (no exporter series expresses them): {', '.join(left)}.\n" if left else ""
    return {  # the alerts do not depend on the config (burn-rate factors only), so their file does not name it
        ALERT_FILE: _dump(made + ". Do not edit.\n# Alerts over naap_slo_burn_rate: the collector's /metrics, or "
                          "naap-slo-recording.yaml.\n", alert_rules()),
        RECORDING_FILE: _dump(made + f" from SLA config {config.version} (sha256 {config.hash[:12]}). Do not edit.\n"
                              f"# Over one orchestrator's exporter, scraped by job {job!r}. docs/slo.md explains.\n" + note,
                              recording_rules(config, job)),
    }  # fmt: skip


def write_rules(config: ConfigV1, directory: Path, job: str = DEFAULT_JOB) -> list[Path]:
    """Write both rule files into `directory` (created if missing); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in render_rules(config, job).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def packaged_rules() -> dict[str, str]:
    """File name -> text of the rule files shipped in scoring/rules/ (generated from the packaged v1 config)."""
    base = resources.files("scoring").joinpath("rules")
    return {name: base.joinpath(name).read_text(encoding="utf-8") for name in (ALERT_FILE, RECORDING_FILE)}
