"""The one Ethereum address check: a 0x-prefixed 20-byte hex string, stored lowercase.

Orchestrators are identified by their address everywhere (targets, rows, API parameters, the exporter's
declared identity). Checksum casing (EIP-55) is accepted but not required, and never stored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

ETH_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MESSAGE = "must be a 0x-prefixed 20-byte hex address"


def is_eth_address(value: object) -> bool:
    return isinstance(value, str) and ETH_ADDRESS.match(value) is not None


def eth_address(value: str) -> str:
    """`value` lowercased; ValueError with a readable message when it is not an address."""
    if not is_eth_address(value):
        shown = value[:60] if isinstance(value, str) else type(value).__name__
        raise ValueError(f"{MESSAGE}; got {shown!r}")
    return value.lower()


def _optional(value: str) -> str:
    return eth_address(value) if value else ""


YAML_NUMBER_HINT = "YAML reads an unquoted 0x… address as a hex number: quote it, e.g. orchestrator: '0x52cf…'"


def _not_a_number(value: object) -> object:
    """A number where an address belongs is almost always an unquoted 0x… in YAML (a hex integer to YAML 1.1)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"{MESSAGE}, got a number: {YAML_NUMBER_HINT}")
    return value


# pydantic field types: an address (lowercased), or an address or "" (unknown).
EthAddress = Annotated[str, BeforeValidator(_not_a_number), AfterValidator(eth_address)]
OptionalEthAddress = Annotated[str, BeforeValidator(_not_a_number), AfterValidator(_optional)]
