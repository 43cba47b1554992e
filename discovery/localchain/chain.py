"""The in-process chain: deploys the stand-in contracts and sets up the transcoder pool for a test.

Every change is a real transaction mined into a block, so reads pinned to an older block see the older pool.
All access goes through one lock: the JSON-RPC server answers from several threads.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any, Iterable

from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import BlockNotFound
from web3 import EthereumTesterProvider, Web3

BUILD = "build.json"
ZERO_ADDRESS = "0x" + "00" * 20
# Plenty for one batch of 100+ pool changes; eth-tester's blocks allow 30M.
BATCH_GAS = 25_000_000


def load_build() -> dict[str, Any]:
    return json.loads(resources.files("discovery.localchain").joinpath(BUILD).read_text())


def contract_id(name: str) -> bytes:
    """The Controller's registry key: keccak256 of the contract's name, as Livepeer's deploy scripts use."""
    return bytes(Web3.keccak(text=name))


@dataclass(frozen=True)
class PoolEntry:
    address: str
    stake_wei: int
    active: bool = True
    # str is stored as UTF-8; bytes as they are (tests store invalid UTF-8); None leaves the URI unset.
    service_uri: str | bytes | None = None


class LocalChain:
    """eth-tester + py-evm with the Controller, BondingManager and ServiceRegistry stand-ins deployed."""

    def __init__(self, register: Iterable[str] = ("BondingManager", "ServiceRegistry")) -> None:
        self._lock = threading.RLock()
        self.tester = EthereumTester(PyEVMBackend())
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.owner = self.w3.eth.accounts[0]
        self._build = load_build()
        self.controller = self._deploy("Controller")
        self.bonding_manager = self._deploy("BondingManager")
        self.service_registry = self._deploy("ServiceRegistry")
        for name in register:
            self.register_contract(name, {"BondingManager": self.bonding_manager, "ServiceRegistry": self.service_registry}[name].address)

    def _deploy(self, name: str):  # noqa: ANN202 - a web3 contract object
        c = self._build["contracts"][name]
        factory = self.w3.eth.contract(abi=c["abi"], bytecode=c["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": self.owner}))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=c["abi"])

    def _transact(self, fn) -> int:  # noqa: ANN001
        with self._lock:
            tx = fn.transact({"from": self.owner, "gas": BATCH_GAS})
            receipt = self.w3.eth.wait_for_transaction_receipt(tx)
            if receipt["status"] != 1:
                raise RuntimeError(f"transaction failed: {fn.fn_name}")
            return int(receipt["blockNumber"])

    # ---- setup -----------------------------------------------------------------------------------------------

    def register_contract(self, name: str, address: str) -> int:
        return self._transact(self.controller.functions.setContractInfo(contract_id(name), address, b"\0" * 20))

    def set_pool(self, entries: Iterable[PoolEntry]) -> int:
        """Adds or updates pool members (one transaction for the pool, one for the URIs); returns the block."""
        entries = sorted(entries, key=lambda e: -e.stake_wei)  # descending: O(1) inserts in the stand-in
        if not entries:
            return self.block_number
        addrs = [Web3.to_checksum_address(e.address) for e in entries]
        block = self._transact(
            self.bonding_manager.functions.setTranscoders(addrs, [e.stake_wei for e in entries], [e.active for e in entries])
        )
        uris = {e.address: e.service_uri for e in entries if e.service_uri is not None}
        if uris:
            block = self.set_service_uris(uris)
        return block

    def set_service_uris(self, uris: dict[str, str | bytes]) -> int:
        addrs = [Web3.to_checksum_address(a) for a in uris]
        raw = [u.encode() if isinstance(u, str) else bytes(u) for u in uris.values()]
        return self._transact(self.service_registry.functions.setServiceURIsFor(addrs, raw))

    def remove(self, address: str) -> int:
        return self._transact(self.bonding_manager.functions.removeTranscoder(Web3.to_checksum_address(address)))

    def set_next_unchecked(self, address: str, next_address: str) -> int:
        """Breaks the pool's linked list on purpose (a cycle or a dangling link) to test inconsistent walks."""
        fn = self.bonding_manager.functions.setNextUnchecked(
            Web3.to_checksum_address(address), Web3.to_checksum_address(next_address)
        )
        return self._transact(fn)

    # ---- reads for the JSON-RPC server -----------------------------------------------------------------------

    @property
    def block_number(self) -> int:
        with self._lock:
            return int(self.tester.get_block_by_number("latest")["number"])

    @cached_property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def call(self, to: str, data: str, block: int | str = "latest") -> str:
        """eth_call; raises BlockNotFound for a block the chain does not have yet."""
        with self._lock:
            if isinstance(block, int) and block > self.block_number:
                raise BlockNotFound(f"block {block} not found")
            return self.tester.call({"from": self.owner, "to": Web3.to_checksum_address(to), "data": data}, block)

    def get_code(self, address: str, block: int | str = "latest") -> str:
        with self._lock:
            return self.tester.get_code(Web3.to_checksum_address(address), block)

    def get_block(self, block: int | str = "latest") -> dict[str, Any]:
        with self._lock:
            return dict(self.tester.get_block_by_number(block))
