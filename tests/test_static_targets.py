"""Static target files: Prometheus file_sd (JSON/YAML) and plain URL lists; bad entries reported, rest kept."""

from __future__ import annotations

import json
from pathlib import Path

from discovery.static import load_target_file, parse_targets

ORCH = "0x" + "ab" * 20


def test_file_sd_json_with_labels_and_special_labels() -> None:
    text = json.dumps(
        [
            {"targets": ["10.9.9.9:9935", "orch.example:9935"], "labels": {"orchestrator": ORCH.upper().replace("0X", "0x"), "region": "eu"}},
            {"targets": ["o2.example:443"], "labels": {"__scheme__": "https", "__metrics_path__": "/m"}},
        ]
    )
    r = parse_targets(text)
    assert r.errors == []
    urls = [t.url for t in r.targets]
    assert urls == ["http://10.9.9.9:9935/metrics", "http://orch.example:9935/metrics", "https://o2.example:443/m"]
    assert r.targets[0].orchestrator == ORCH  # lowercased
    assert r.targets[0].label_dict() == {"region": "eu"}
    assert r.targets[0].instance == "10.9.9.9:9935"


def test_yaml_and_plain_lists(tmp_path: Path) -> None:
    y = tmp_path / "t.yaml"
    y.write_text(f"- targets: ['a.example:1']\n  labels: {{orchestrator: '{ORCH}'}}\n")
    assert [t.url for t in load_target_file(y).targets] == ["http://a.example:1/metrics"]
    plain = tmp_path / "t.txt"
    plain.write_text("# fleet\nhttp://a.example:1/metrics\n\nb.example:2  # second\n")
    assert [t.url for t in load_target_file(plain).targets] == ["http://a.example:1/metrics", "http://b.example:2/metrics"]
    lst = tmp_path / "t.json"
    lst.write_text(json.dumps(["http://c.example:3/x"]))
    assert [t.url for t in load_target_file(lst).targets] == ["http://c.example:3/x"]


def test_bad_entries_are_reported_and_skipped() -> None:
    text = json.dumps(
        [
            {"targets": ["ok.example:1"]},
            {"targets": ["ftp://x.example/"]},
            {"targets": ["h.example:notaport"]},
            {"targets": [42]},
            {"targets": ["x.example:1"], "labels": {"orchestrator": "0x123"}},
            {"targets": ["x.example:1"], "labels": {"bad-name": "v"}},
            {"labels": {}},
            "not a url at all://",
        ]
    )
    r = parse_targets(text, "f.json")
    assert [t.url for t in r.targets] == ["http://ok.example:1/metrics"]
    assert len(r.errors) == 7
    assert all(e.startswith("f.json") for e in r.errors)


def test_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    r = load_target_file(tmp_path / "nope.json")
    assert r.targets == [] and "cannot read" in r.errors[0]
