"""A real local EVM chain for discovery tests: py-evm with the Livepeer stand-in contracts, served over
HTTP JSON-RPC on 127.0.0.1. Import the fixtures into a test module: `from chain_fixtures import chain, rpc`.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from discovery.chain import ChainReader, ChainSource
from discovery.localchain.chain import LocalChain, PoolEntry
from discovery.localchain.rpc import RpcServer
from discovery.metrics_url import Convention, Override
from discovery.rpc import FailoverRpc


def addr(i: int) -> str:
    return "0x" + f"{0xA000 + i:040x}"


def lpt(n: float) -> int:
    return int(n * 10**18)


def entries(n: int, host: str = "127.0.1.{i}", active: bool = True) -> list[PoolEntry]:
    """n orchestrators with decreasing stake and service URIs on loopback literals (no DNS in tests)."""
    return [PoolEntry(addr(i), lpt(1000 - i), active, f"https://{host.format(i=i)}:8935") for i in range(n)]


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain()


@pytest.fixture
def rpc(chain: LocalChain) -> Iterator[RpcServer]:
    with RpcServer(chain) as server:
        yield server


def make_reader(urls: list[str], controller: str, concurrency: int = 4, **rpc_kw: Any) -> ChainReader:
    kw = {"timeout_s": 2.0, "retries": 1, "backoff_s": 0.01, "max_requests_per_s": 0.0, **rpc_kw}
    return ChainReader(FailoverRpc(urls, **kw), controller, concurrency=concurrency)


def make_source(urls: list[str], controller: str, overrides: dict[str, Override] | None = None,
                convention: Convention = Convention(), active_only: bool = True, **rpc_kw: Any) -> ChainSource:  # fmt: skip
    return ChainSource(make_reader(urls, controller, **rpc_kw), convention, overrides, active_only)
