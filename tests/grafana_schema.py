"""JSON Schema of a Grafana dashboard, by the `schemaVersion` a dashboard declares.

Grafana publishes no JSON Schema file for its classic dashboard JSON; its definition is the CUE kind
`kinds/dashboard/dashboard_kind.cue` of github:grafana/grafana (schema 0.0, "Dashboard", which the schemaVersion 36-39
dashboards of Grafana 9.4-11 follow). This is a transcription of that CUE into JSON Schema: the same fields, types,
enumerations and bounds (`uint16`, `uint32`, gridPos `w` 1-24, `x` 0-23, `graphTooltip` 0|1|2, variable types and
`hide` 0|1|2, threshold modes, link types); a field with a CUE default is optional here, as Grafana fills it in.
Open structs (`{...}`: panel `options`, `fieldConfig.defaults.custom`, targets) stay open, as in the CUE.
"""

from __future__ import annotations

from typing import Any

_U16 = {"type": "integer", "minimum": 0, "maximum": 65535}
_U32 = {"type": "integer", "minimum": 0, "maximum": 4294967295}
_DS_REF = {"type": "object", "properties": {"type": {"type": "string"}, "uid": {"type": "string"}}}
_GRID = {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
    "h": {"type": "integer", "minimum": 1}, "w": {"type": "integer", "minimum": 1, "maximum": 24},
    "x": {"type": "integer", "minimum": 0, "maximum": 23}, "y": {"type": "integer", "minimum": 0}, "static": {"type": "boolean"}}}
_LINK = {"type": "object", "required": ["title", "type", "icon", "tooltip", "url", "tags"], "properties": {
    "title": {"type": "string"}, "type": {"enum": ["link", "dashboards"]}, "icon": {"type": "string"},
    "tooltip": {"type": "string"}, "url": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
    "asDropdown": {"type": "boolean"}, "targetBlank": {"type": "boolean"}, "includeVars": {"type": "boolean"},
    "keepTime": {"type": "boolean"}}}
_THRESHOLDS = {"type": "object", "required": ["mode", "steps"], "properties": {
    "mode": {"enum": ["absolute", "percentage"]},
    "steps": {"type": "array", "items": {"type": "object", "required": ["color"], "properties": {
        "value": {"type": ["number", "null"]}, "color": {"type": "string"}, "index": {"type": "integer"}, "state": {"type": "string"}}}}}}
_FIELD_CONFIG = {"type": "object", "properties": {
    "displayName": {"type": "string"}, "displayNameFromDS": {"type": "string"}, "description": {"type": "string"},
    "path": {"type": "string"}, "writeable": {"type": "boolean"}, "filterable": {"type": "boolean"}, "unit": {"type": "string"},
    "decimals": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"}, "mappings": {"type": "array"},
    "thresholds": _THRESHOLDS,
    "color": {"type": "object", "required": ["mode"], "properties": {"mode": {"type": "string"}, "fixedColor": {"type": "string"},
                                                                    "seriesBy": {"enum": ["min", "max", "last"]}}},
    "links": {"type": "array"}, "noValue": {"type": "string"}, "custom": {"type": "object"}}}
_FIELD_CONFIG_SOURCE = {"type": "object", "required": ["defaults", "overrides"], "properties": {
    "defaults": _FIELD_CONFIG,
    "overrides": {"type": "array", "items": {"type": "object", "required": ["matcher", "properties"], "properties": {
        "matcher": {"type": "object", "properties": {"id": {"type": "string"}}},
        "properties": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}}}}}}}
_PANEL = {"type": "object", "required": ["type", "options", "fieldConfig"], "properties": {
    "type": {"type": "string", "minLength": 1, "not": {"enum": ["row"]}}, "id": _U32, "pluginVersion": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}}, "targets": {"type": "array", "items": {"type": "object"}},
    "title": {"type": "string"}, "description": {"type": "string"}, "transparent": {"type": "boolean"}, "datasource": _DS_REF,
    "gridPos": _GRID, "links": {"type": "array", "items": _LINK}, "repeat": {"type": "string"},
    "repeatDirection": {"enum": ["h", "v"]}, "repeatPanelId": {"type": "integer"}, "maxDataPoints": {"type": "number"},
    "thresholds": {"type": "array"}, "timeRegions": {"type": "array"},
    "transformations": {"type": "array", "items": {"type": "object", "required": ["id", "options"], "properties": {
        "id": {"type": "string"}, "disabled": {"type": "boolean"}}}},
    "interval": {"type": "string"}, "timeFrom": {"type": "string"}, "timeShift": {"type": "string"},
    "libraryPanel": {"type": "object", "required": ["name", "uid"]}, "options": {"type": "object"},
    "fieldConfig": _FIELD_CONFIG_SOURCE}}
_ROW = {"type": "object", "required": ["type", "id", "panels"], "properties": {
    "type": {"const": "row"}, "collapsed": {"type": "boolean"}, "title": {"type": "string"}, "datasource": _DS_REF,
    "gridPos": _GRID, "id": _U32, "panels": {"type": "array", "items": _PANEL}, "repeat": {"type": "string"}}}
_VARIABLE = {"type": "object", "required": ["type", "name"], "properties": {
    "id": {"type": "string"}, "type": {"enum": ["query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "system"]},
    "name": {"type": "string"}, "label": {"type": "string"}, "rootStateKey": {"type": "string"}, "global": {"type": "boolean"},
    "hide": {"enum": [0, 1, 2]}, "skipUrlSync": {"type": "boolean"}, "index": {"type": "integer"},
    "state": {"enum": ["NotStarted", "Loading", "Streaming", "Done", "Error"]}, "error": {"type": "object"},
    "description": {"type": "string"}, "query": {"type": ["string", "object"]}, "datasource": _DS_REF}}
_ANNOTATION = {"type": "object", "required": ["name", "datasource", "iconColor"], "properties": {
    "name": {"type": "string"}, "datasource": _DS_REF, "enable": {"type": "boolean"}, "hide": {"type": "boolean"},
    "iconColor": {"type": "string"}, "type": {"type": "string"}}}

DASHBOARD_V39: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Grafana dashboard, schemaVersion 36-39 (kinds/dashboard/dashboard_kind.cue, schema 0.0)",
    "type": "object",
    "required": ["schemaVersion"],
    "properties": {
        "id": {"type": ["integer", "null"]}, "uid": {"type": "string", "minLength": 1, "maxLength": 40},
        "title": {"type": "string"}, "description": {"type": "string"}, "revision": {"type": "integer"},
        "gnetId": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}},
        "style": {"enum": ["light", "dark"]}, "timezone": {"type": "string"}, "editable": {"type": "boolean"},
        "graphTooltip": {"enum": [0, 1, 2]},
        "time": {"type": "object", "required": ["from", "to"], "properties": {"from": {"type": "string"}, "to": {"type": "string"}}},
        "timepicker": {"type": "object", "properties": {
            "hidden": {"type": "boolean"}, "refresh_intervals": {"type": "array", "items": {"type": "string"}},
            "collapse": {"type": "boolean"}, "enable": {"type": "boolean"}, "time_options": {"type": "array", "items": {"type": "string"}}}},
        "fiscalYearStartMonth": {"type": "integer", "minimum": 0, "maximum": 11}, "liveNow": {"type": "boolean"},
        "weekStart": {"type": "string"}, "refresh": {"oneOf": [{"type": "string"}, {"const": False}]},
        "schemaVersion": _U16, "version": _U32,
        "panels": {"type": "array", "items": {"oneOf": [_PANEL, _ROW]}},
        "templating": {"type": "object", "properties": {"list": {"type": "array", "items": _VARIABLE}}},
        "annotations": {"type": "object", "properties": {"list": {"type": "array", "items": _ANNOTATION}}},
        "links": {"type": "array", "items": _LINK},
        "snapshot": {"type": "object"},
    },
}

SCHEMAS: dict[int, dict[str, Any]] = {v: DASHBOARD_V39 for v in (36, 37, 38, 39)}
