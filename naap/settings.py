"""One typed settings object for the collector, composed of the components' own configuration models.

Sections and who owns them: `warehouse` (warehouse/config.py), `scraper` (scraper/config.py), `discovery`
(discovery/config.py), `scoring` (scoring/config.py), `api` (api/config.py). Sources, lowest to highest
precedence: defaults, a YAML file (``--config`` or ``NAAP_CONFIG``), environment variables
(``NAAP_<SECTION>__<FIELD>``, e.g. ``NAAP_SCRAPER__INTERVAL_S=5``), then explicit overrides from CLI flags.
Everything is validated at start-up; a bad value stops the process with a message that names the field,
before anything is started.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from api.config import ApiSettings
from discovery.config import DiscoverySettings
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


def load_settings(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings from file, environment and overrides; raise SettingsError on any problem."""
    path = config_file or os.environ.get("NAAP_CONFIG")
    data: dict[str, Any] = {}
    origin = "defaults and environment"
    if path:
        try:
            data = read_yaml_mapping(path)
        except ConfigFileError as e:
            raise SettingsError(str(e)) from None
        origin = f"{path}, environment and flags"
    token = _FILE_DATA.set(data)
    try:
        return Settings(**(overrides or {}))
    except ValidationError as e:
        raise SettingsError(validation_message(e, origin)) from None
    finally:
        _FILE_DATA.reset(token)


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
