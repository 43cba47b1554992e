"""One typed settings object for the collector, composed of the components' own configuration models.

Sections and who owns them: `warehouse` (warehouse/config.py), `scraper` (scraper/config.py), `discovery`
(discovery/config.py), `scoring` (scoring/config.py), `api` (api/config.py), `prober` (prober/config.py). Sources, lowest to highest
precedence: defaults, a YAML file (``--config`` or ``NAAP_CONFIG``), environment variables
(``NAAP_<SECTION>__<FIELD>``, e.g. ``NAAP_SCRAPER__INTERVAL_S=5``), then explicit overrides from CLI flags.
Everything is validated at start-up; a bad value stops the process with a message that names the field,
before anything is started.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from api.config import ApiSettings
from discovery.config import DiscoverySettings
from prober.config import ProberSettings
from exporter.common.configfile import ConfigFileError, deep_update, read_yaml_mapping, validation_message
from scoring.config import ScoringSettings
from scraper.config import ScraperSettings
from warehouse.config import WarehouseSettings, default_data_dir

__all__ = ["Settings", "SettingsError", "default_data_dir", "load_settings", "with_overrides"]

# The YAML file's contents while load_settings builds a Settings: a source below the environment.
_FILE_DATA: ContextVar[dict[str, Any]] = ContextVar("naap_settings_file", default={})


class SettingsError(ConfigFileError):
    """Configuration that cannot be used; the message is meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NAAP_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    scraper: ScraperSettings = Field(default_factory=ScraperSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    prober: ProberSettings = Field(default_factory=ProberSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: CLI overrides, then the environment, then the YAML file, then defaults.
        return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=_FILE_DATA.get()))


def load_settings(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                  flags: dict[str, str] | None = None) -> Settings:  # fmt: skip
    """Build the settings from file, environment and overrides; raise SettingsError on any problem.

    `flags` maps dotted fields to the command-line flag that set them (``{"api.port": "--port"}``), so that a
    bad value is reported under the flag it came from."""
    path = config_file or os.environ.get("NAAP_CONFIG")
    data: dict[str, Any] = {}
    sources = ["defaults", "environment"]
    if path:
        try:
            data = read_yaml_mapping(path)
        except ConfigFileError as e:
            raise SettingsError(str(e)) from None
        sources = [str(path), "environment"]
    if overrides:
        sources.append("flags")
    origin = ", ".join(sources[:-1]) + " and " + sources[-1]
    token = _FILE_DATA.set(data)
    try:
        return Settings(**(overrides or {}))
    except ValidationError as e:
        given = {k: f for k, f in (flags or {}).items() if _has_path(overrides or {}, k.split("."))}
        raise SettingsError(_validation_message(e, origin, given)) from None
    except PydanticSettingsError as e:  # a value in the environment that pydantic-settings cannot even parse
        raise SettingsError(environment_message(str(e))) from None
    finally:
        _FILE_DATA.reset(token)


def _has_path(data: dict[str, Any], path: list[str]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _validation_message(err: ValidationError, origin: str, flags: dict[str, str]) -> str:
    """validation_message, with each problem in a field a flag set named by that flag and its value."""
    if not flags:
        return validation_message(err, origin)
    lines = [f"invalid configuration ({origin}):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        flag = next((f for k, f in flags.items() if loc == k or loc.startswith(k + ".")), None)
        shown = f"{loc} (from {flag} {str(e.get('input'))[:60]})" if flag else loc
        lines.append(f"  {shown}: {e['msg']}")
    return "\n".join(lines)


_FIELD_IN_MESSAGE = re.compile(r'field "([^"]+)"')


def _field_kind(path: list[str]) -> str:
    """"section", "list", "mapping" or "" for a settings field given by its lowercase path."""
    model: Any = Settings
    kind = ""
    for i, name in enumerate(path):
        fields = getattr(model, "model_fields", {})
        if name not in fields:
            return ""
        ann = fields[name].annotation
        union = typing.get_origin(ann) in (typing.Union, types.UnionType)
        args = [a for a in typing.get_args(ann) if a is not type(None)] if union else [ann]
        sub = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        origin = typing.get_origin(args[0]) if args else None
        if sub is not None:
            model, kind = sub, "section"
        elif origin in (list, tuple, set):
            kind = "list"
        elif origin is dict:
            kind = "mapping"
        else:
            kind = ""
        if i < len(path) - 1 and sub is None:
            return kind
    return kind


def environment_message(raw: str) -> str:
    """One line for an environment variable pydantic-settings could not parse (it expects JSON for lists,
    mappings and whole sections), naming the variable and showing the JSON form."""
    m = _FIELD_IN_MESSAGE.search(raw)
    section = m.group(1).upper() if m else ""
    prefix = f"NAAP_{section}"
    problems = []
    for name, value in sorted(os.environ.items()):
        upper = name.upper()
        if not (upper == prefix or upper.startswith(prefix + "__")):
            continue
        try:
            json.loads(value)
            continue  # valid JSON: not the one that failed
        except ValueError:
            pass
        kind = _field_kind(upper[len("NAAP_"):].lower().split("__"))
        if kind == "section":
            problems.append(f"{name} is a whole section: set its fields instead (e.g. {name}__<FIELD>=…), or give "
                            "the section as a JSON object")  # fmt: skip
        elif kind == "list":
            problems.append(f"{name}={value[:60]!r} is a list, and list values in the environment are JSON: "
                            f"{name}='{json.dumps([value])[:120]}'")  # fmt: skip
        elif kind == "mapping":
            problems.append(f"{name}={value[:60]!r} is a mapping, and mapping values in the environment are JSON, "
                            f"e.g. {name}='{{\"key\": \"value\"}}'")  # fmt: skip
    if not problems:
        problems.append(f"a {prefix}… variable is not valid JSON: list, mapping and section values in the environment "
                        "are JSON, e.g. NAAP_API__CORS_ORIGINS='[\"*\"]'")  # fmt: skip
    return "invalid environment: " + "; ".join(problems)


def with_overrides(settings: Settings, *overrides: dict[str, Any]) -> Settings:
    """A copy of `settings` with `overrides` merged in section by section (later ones win), validated as a
    whole: the demo and tests change a few fields of the operator's settings this way."""
    data = settings.model_dump()
    for over in overrides:
        deep_update(data, over)
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise SettingsError(validation_message(e, "overrides")) from None
    except PydanticSettingsError as e:
        raise SettingsError(environment_message(str(e))) from None
