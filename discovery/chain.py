"""On-chain discovery: the Livepeer transcoder pool, read from the contracts at one pinned block.

Controller (on Arbitrum One 0xD8E8…06ee4) → getContract(keccak256("BondingManager")) and
getContract(keccak256("ServiceRegistry")); then the pool from getFirstTranscoderInPool /
getNextTranscoderInPool, and per orchestrator transcoderTotalStake, isActiveTranscoder and getServiceURI.
Every read names the same block number, so one walk is one consistent snapshot even while the pool changes.

A walk that cannot finish (every RPC endpoint down) or that reads an impossible pool (a cycle, more members
than getTranscoderPoolSize says, a missing contract, a block older than the last walk's) raises WalkError;
Discovery then keeps the last good snapshot. One orchestrator's bad service URI never fails the walk: it is
recorded as a refused target with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import AsyncWeb3

from discovery.config import ARBITRUM_CONTROLLER, ChainSettings
from discovery.metrics_url import Convention, Override, UriProblem, decode_service_uri, metrics_url
from discovery.rpc import ChainDataError, FailoverRpc, RpcUnavailable
from discovery.service import Refused, SourceResult
from discovery.target import Target, make_target

log = logging.getLogger(__name__)

ZERO = "0x" + "00" * 20
WEI_PER_LPT = 10**18


def _fn(name: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "type": "function", "name": name, "stateMutability": "view",
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs)],
        "outputs": [{"name": "", "type": t} for t in outputs],
    }  # fmt: skip


# The read interface of Livepeer's contracts (livepeer/protocol: Controller.sol, bonding/BondingManager.sol,
# ServiceRegistry.sol). Selectors depend on name and input types only. getServiceURI returns `string`; it is
# declared `bytes` here (the same ABI encoding) so that a URI which is not UTF-8 is ours to judge and record,
# not a decoding error inside web3.
CONTROLLER_ABI = [_fn("getContract", ["bytes32"], ["address"])]
BONDING_MANAGER_ABI = [
    _fn("getTranscoderPoolSize", [], ["uint256"]),
    _fn("getFirstTranscoderInPool", [], ["address"]),
    _fn("getNextTranscoderInPool", ["address"], ["address"]),
    _fn("transcoderTotalStake", ["address"], ["uint256"]),
    _fn("isActiveTranscoder", ["address"], ["bool"]),
]
SERVICE_REGISTRY_ABI = [_fn("getServiceURI", ["address"], ["bytes"])]


def _first_error(group: BaseExceptionGroup) -> BaseException:
    for e in group.exceptions:
        if isinstance(e, BaseExceptionGroup):
            return _first_error(e)
        if not isinstance(e, asyncio.CancelledError):
            return e
    return group


class WalkError(Exception):
    """The walk did not produce a usable snapshot; the last good one stays in use."""


class InconsistentPool(WalkError):
    pass


@dataclass(frozen=True)
class OrchestratorRecord:
    address: str  # lowercase
    stake_wei: int
    active: bool
    service_uri: str | None  # None when unset or unusable; then uri_problem says why
    uri_problem: str | None = None

    @property
    def stake_lpt(self) -> float:
        return self.stake_wei / WEI_PER_LPT


@dataclass
class ChainWalk:
    block_number: int
    controller: str
    bonding_manager: str
    service_registry: str
    orchestrators: list[OrchestratorRecord]
    duration_s: float
    requests: int
    rpc_url: str


class ChainReader:
    def __init__(self, rpc: FailoverRpc, controller: str = ARBITRUM_CONTROLLER, max_pool_size: int = 1000,
                 concurrency: int = 4) -> None:  # fmt: skip
        self.rpc = rpc
        self.controller = to_checksum_address(controller)
        self.max_pool_size = max_pool_size
        self.concurrency = max(1, concurrency)
        self._contracts: dict[tuple[int, str, str], Any] = {}

    def _contract(self, w3: AsyncWeb3, address: str, kind: str) -> Any:
        key = (id(w3), address, kind)
        c = self._contracts.get(key)
        if c is None:
            abi = {"controller": CONTROLLER_ABI, "bonding": BONDING_MANAGER_ABI, "registry": SERVICE_REGISTRY_ABI}[kind]
            c = self._contracts[key] = w3.eth.contract(address=address, abi=abi)
        return c

    async def _call(self, address: str, kind: str, fn: str, *args: Any, block: int) -> Any:
        async def run(w3: AsyncWeb3) -> Any:
            return await getattr(self._contract(w3, address, kind).functions, fn)(*args).call(block_identifier=block)

        return await self.rpc.request(f"{fn}{args!r}@{block}", run)

    async def walk(self) -> ChainWalk:
        t0 = time.perf_counter()
        requests0 = self.rpc.stats.requests
        try:
            return await self._walk(t0, requests0)
        except (RpcUnavailable, ChainDataError) as e:
            raise WalkError(str(e)) from None

    async def _walk(self, t0: float, requests0: int) -> ChainWalk:
        block = int(await self.rpc.request("eth_blockNumber", lambda w3: w3.eth.block_number))
        bm = await self._call(self.controller, "controller", "getContract", keccak(text="BondingManager"), block=block)
        sr = await self._call(self.controller, "controller", "getContract", keccak(text="ServiceRegistry"), block=block)
        for name, addr in (("BondingManager", bm), ("ServiceRegistry", sr)):
            if int(addr, 16) == 0:
                raise InconsistentPool(f"the controller {self.controller} has no {name} at block {block}")
        size = int(await self._call(bm, "bonding", "getTranscoderPoolSize", block=block))
        if size > self.max_pool_size:
            raise InconsistentPool(f"pool size {size} exceeds the configured maximum {self.max_pool_size}")

        sem = asyncio.Semaphore(self.concurrency)
        records: dict[str, OrchestratorRecord] = {}

        async def details(addr: str) -> None:
            async with sem:
                stake = await self._call(bm, "bonding", "transcoderTotalStake", addr, block=block)
                active = await self._call(bm, "bonding", "isActiveTranscoder", addr, block=block)
                raw = await self._call(sr, "registry", "getServiceURI", addr, block=block)
            uri: str | None = None
            problem: str | None = None
            try:
                uri = decode_service_uri(bytes(raw))
            except UriProblem as e:
                problem = e.reason
            records[addr] = OrchestratorRecord(addr.lower(), int(stake), bool(active), uri, problem)

        order: list[str] = []
        try:
            async with asyncio.TaskGroup() as tg:
                seen: set[str] = set()
                addr = await self._call(bm, "bonding", "getFirstTranscoderInPool", block=block)
                while int(addr, 16) != 0:
                    if addr in seen:
                        raise InconsistentPool(f"the pool links back to {addr.lower()} at block {block}")
                    if len(order) >= size:
                        raise InconsistentPool(f"the pool has more members than its size {size} at block {block}")
                    seen.add(addr)
                    order.append(addr)
                    tg.create_task(details(addr))  # details while the walk goes on
                    addr = await self._call(bm, "bonding", "getNextTranscoderInPool", addr, block=block)
        except BaseExceptionGroup as group:  # the TaskGroup wraps the first failure (ours or a task's)
            raise _first_error(group) from None
        if len(order) != size:
            raise InconsistentPool(f"walked {len(order)} pool members but the pool size is {size} at block {block}")
        return ChainWalk(
            block_number=block,
            controller=self.controller.lower(),
            bonding_manager=bm.lower(),
            service_registry=sr.lower(),
            orchestrators=[records[a] for a in order],
            duration_s=time.perf_counter() - t0,
            requests=self.rpc.stats.requests - requests0,
            rpc_url=self.rpc.url,
        )

    async def close(self) -> None:
        await self.rpc.close()


@dataclass
class ChainTargets:
    accepted: list[Target] = field(default_factory=list)
    refused: list[tuple[Target, str]] = field(default_factory=list)
    facts: dict[Target, dict[str, Any]] = field(default_factory=dict)


def targets_from_walk(
    walk: ChainWalk, convention: Convention = Convention(), overrides: dict[str, Override] | None = None,
    active_only: bool = True,
) -> ChainTargets:  # fmt: skip
    """Metrics targets for the orchestrators of a walk; the ones without a usable URL come back with a reason."""
    out = ChainTargets()
    overrides = overrides or {}
    for o in walk.orchestrators:
        reason: str | None = None
        url = ""
        if active_only and not o.active:
            reason = "inactive"
        else:
            try:
                url = metrics_url(o.service_uri, convention, overrides.get(o.address))
            except UriProblem as e:
                reason = o.uri_problem or e.reason
        t = make_target(url, o.address, source="chain")
        out.facts[t] = {"service_uri": o.service_uri or "", "stake": o.stake_lpt, "active": o.active}
        if reason is None:
            out.accepted.append(t)
        else:
            out.refused.append((t, reason))
    return out


class ChainSource:
    """The on-chain registry as a discovery Source."""

    name = "chain"

    def __init__(
        self,
        reader: ChainReader,
        convention: Convention = Convention(),
        overrides: dict[str, Override] | None = None,
        active_only: bool = True,
    ) -> None:
        self.reader = reader
        self.convention = convention
        self.overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        self.active_only = active_only
        self.last_walk: ChainWalk | None = None

    async def discover(self) -> SourceResult:
        walk = await self.reader.walk()
        if self.last_walk is not None and walk.block_number < self.last_walk.block_number:
            # A lagging endpoint after a failover: its view is older than the one in use.
            raise InconsistentPool(
                f"block {walk.block_number} from {walk.rpc_url} is older than the last walk's block {self.last_walk.block_number}"
            )
        self.last_walk = walk
        t = targets_from_walk(walk, self.convention, self.overrides, self.active_only)
        log.info(
            "chain walk: %d orchestrators at block %d in %.2fs (%d requests via %s): %d targets, %d without one",
            len(walk.orchestrators), walk.block_number, walk.duration_s, walk.requests, walk.rpc_url, len(t.accepted), len(t.refused),
        )  # fmt: skip
        return SourceResult(
            targets=t.accepted,
            block_number=walk.block_number,
            facts=t.facts,
            refused=[Refused(target, reason) for target, reason in t.refused],
        )

    async def close(self) -> None:
        await self.reader.close()


def chain_source_from_settings(chain: ChainSettings) -> ChainSource:
    """A ChainSource from the `discovery.chain` settings."""
    rpc = FailoverRpc(
        chain.rpc_urls, timeout_s=chain.timeout_s, retries=chain.retries, backoff_s=chain.backoff_s,
        max_requests_per_s=chain.max_requests_per_s,
    )  # fmt: skip
    reader = ChainReader(rpc, chain.controller, max_pool_size=chain.max_pool_size, concurrency=chain.concurrency)
    convention = Convention(chain.metrics_scheme, chain.metrics_port, chain.metrics_path)
    overrides = {addr: Override(o.url, o.scheme, o.port, o.path) for addr, o in chain.overrides.items()}
    return ChainSource(reader, convention, overrides, chain.active_only)
