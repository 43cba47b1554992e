"""YAML file → validated pydantic model → a readable error: the one loader every component's config uses.

Errors are `ConfigFileError` (a ValueError) whose message names the file and, per problem, the dotted field
path and what is wrong — meant for the operator, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration that cannot be used; the message is meant for the operator."""


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, and so are bad assignments later."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML file holds ({} for an empty file); ConfigFileError when unreadable or not a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigFileError(f"cannot read config file {p}: {getattr(e, 'strerror', None) or e}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigFileError(f"config file {p} is not valid YAML: {e}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigFileError(f"config file {p} must hold a mapping, got {type(loaded).__name__}")
    return loaded


def validation_message(err: ValidationError, origin: str) -> str:
    """One line per problem: `  field.path: message`, under a heading naming where the values came from."""
    lines = [f"invalid configuration ({origin}):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def build_model(model: type[M], data: dict[str, Any], origin: str) -> M:
    """`model(**data)`, with a validation failure turned into ConfigFileError."""
    try:
        return model(**data)
    except ValidationError as e:
        raise ConfigFileError(validation_message(e, origin)) from None


def deep_update(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge `over` into `base` key by key (nested mappings merge, other values replace); returns `base`."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = v
    return base
