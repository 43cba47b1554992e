"""One typed settings object: file, environment, overrides; bad values fail fast with the field's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from naap.settings import SettingsError, load_settings


def test_defaults_are_valid_and_embedded(tmp_path: Path) -> None:
    s = load_settings(overrides={"warehouse": {"data_dir": str(tmp_path)}})
    assert s.warehouse.resolved_dsn() == f"chdb://{(tmp_path / 'warehouse').resolve()}"
    assert s.scraper.allow_loopback is False
    assert s.scraper.interval_s == 15.0


def test_file_then_environment_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "naap.yaml"
    cfg.write_text("scraper:\n  interval_s: 30\n  timeout_s: 5\napi:\n  port: 9000\n")
    monkeypatch.setenv("NAAP_API__PORT", "9100")
    monkeypatch.setenv("NAAP_SCRAPER__SAMPLE_LIMIT", "1234")
    s = load_settings(cfg, overrides={"scraper": {"timeout_s": 7}})
    assert s.scraper.interval_s == 30  # file
    assert s.scraper.sample_limit == 1234  # environment
    assert s.scraper.timeout_s == 7  # override beats file
    assert s.api.port == 9100  # environment beats file


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("scraper:\n  interval_s: -1\n", "scraper.interval_s"),
        ("scraper:\n  shard: 2/2\n", "scraper.shard"),
        ("scraper:\n  interval_s: 5\n  timeout_s: 6\n", "timeout_s"),
        ("warehouse:\n  dsn: mysql://x\n", "warehouse.dsn"),
        ("warehouse:\n  database: 'x; DROP'\n", "warehouse.database"),
        ("discovery:\n  chain:\n    controller: '0x12'\n", "discovery.chain.controller"),
        ("nonsense: 1\n", "nonsense"),
        ("api:\n  port: 70000\n", "api.port"),
    ],
)
def test_bad_values_name_their_field(tmp_path: Path, yaml_text: str, field: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(SettingsError) as info:
        load_settings(cfg)
    assert field in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scraper: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)
    bad.write_text("- a list\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(bad)


def test_environment_errors_are_reported_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAAP_SCRAPER__MAX_CONCURRENCY", "lots")
    with pytest.raises(SettingsError, match="max_concurrency"):
        load_settings()


def test_every_setting_is_documented() -> None:
    """docs/configuration.md lists every leaf setting, so the docs stay true as settings are added."""
    import typing

    from pydantic import BaseModel

    from naap.settings import Settings

    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()

    def leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
        out = []
        for name, f in model.model_fields.items():
            subs = [a for a in (typing.get_args(f.annotation) or (f.annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
            if subs and name != "targets":
                out += leaves(subs[0], f"{prefix}{name}.")
            else:
                out.append(f"{prefix}{name}")
        return out

    missing = [k for k in leaves(Settings) if f"`{k}`" not in doc]
    assert not missing, f"undocumented settings: {missing}"


def _fields(model: type, prefix: str = "") -> list[str]:
    from pydantic import BaseModel

    out = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        sub = [a for a in (field.annotation, *getattr(field.annotation, "__args__", ())) if isinstance(a, type) and issubclass(a, BaseModel)]
        if sub:
            out += _fields(sub[0], dotted + ".")
        else:
            out.append(dotted)
    return out


def test_every_setting_is_documented() -> None:
    """docs/configuration.md lists every field of every section (the composed Settings), so it cannot go stale."""
    from naap.settings import Settings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    missing = [f for f in _fields(Settings) if f"| `{f}` |" not in doc]
    assert not missing, missing


def test_the_documented_example_file_loads(tmp_path: Path) -> None:
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", doc, re.S).group(1)  # type: ignore[union-attr]
    (tmp_path / "naap.yaml").write_text(example)
    s = load_settings(tmp_path / "naap.yaml")
    assert s.discovery.targets[0].orchestrator == "0x52cf2968b3dc6016778742d3539449a6597d5954"
    assert s.warehouse.sample_ttl_days == 90
