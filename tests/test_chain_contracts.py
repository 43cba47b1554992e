"""The stand-in contracts and the reader speak Livepeer's ABI; the committed artifact matches its source."""

from __future__ import annotations

import hashlib
from importlib import resources

from eth_utils import function_signature_to_4byte_selector

from discovery.chain import BONDING_MANAGER_ABI, CONTROLLER_ABI, SERVICE_REGISTRY_ABI
from discovery.http_sd import http_sd_groups
from discovery.localchain.chain import load_build
from discovery.metrics_url import Convention, Override, UriProblem, decode_service_uri, metrics_url
from discovery.target import make_target

# From livepeer/protocol: Controller.sol, bonding/BondingManager.sol, ServiceRegistry.sol (name(inputs) -> outputs).
LIVEPEER = {
    "Controller": {"getContract(bytes32)": ["address"], "getContractInfo(bytes32)": ["address", "bytes20"],
                   "setContractInfo(bytes32,address,bytes20)": []},
    "BondingManager": {"getTranscoderPoolSize()": ["uint256"], "getFirstTranscoderInPool()": ["address"],
                       "getNextTranscoderInPool(address)": ["address"], "transcoderTotalStake(address)": ["uint256"],
                       "isActiveTranscoder(address)": ["bool"], "isRegisteredTranscoder(address)": ["bool"]},
    "ServiceRegistry": {"getServiceURI(address)": ["string"], "setServiceURI(string)": []},
}  # fmt: skip


def _signatures(abi: list[dict]) -> dict[str, list[str]]:
    return {
        f"{f['name']}({','.join(i['type'] for i in f['inputs'])})": [o["type"] for o in f["outputs"]]
        for f in abi
        if f.get("type") == "function"
    }


def test_artifact_is_built_from_the_committed_source() -> None:
    build = load_build()
    pkg = resources.files("discovery.localchain")
    for name, meta in build["sources"].items():
        text = pkg.joinpath("contracts", name).read_text(encoding="utf-8")
        assert hashlib.sha256(text.encode()).hexdigest() == meta["sha256"], f"{name} changed: run `make contracts`"
    assert build["compiler"].startswith("solc-js 0.8.28")


def test_stand_ins_have_livepeers_signatures() -> None:
    build = load_build()
    for contract, functions in LIVEPEER.items():
        ours = _signatures(build["contracts"][contract]["abi"])
        for sig, outputs in functions.items():
            assert ours.get(sig) == outputs, f"{contract}.{sig}"


# The 4-byte selectors as go-livepeer's generated contract bindings state them ("binding the contract method 0x…").
GO_LIVEPEER_SELECTORS = {
    "getContract": "e16c7d98", "getTranscoderPoolSize": "2a4e0d55", "getFirstTranscoderInPool": "88a6c749",
    "getNextTranscoderInPool": "235c9603", "transcoderTotalStake": "9ef9df94", "isActiveTranscoder": "08802374",
    "getServiceURI": "214c2a4b",
}  # fmt: skip


def test_reader_calls_use_livepeers_selectors() -> None:
    from web3 import Web3

    w3 = Web3()
    arg = {"bytes32": [b"\0" * 32], "address": ["0x" + "00" * 19 + "01"], "": []}
    reader = {**_signatures(CONTROLLER_ABI), **_signatures(BONDING_MANAGER_ABI), **_signatures(SERVICE_REGISTRY_ABI)}
    livepeer = {sig: out for fns in LIVEPEER.values() for sig, out in fns.items()}
    build = load_build()
    seen = set()
    for abi in (CONTROLLER_ABI, BONDING_MANAGER_ABI, SERVICE_REGISTRY_ABI):
        for f in abi:
            name, inputs = f["name"], [i["type"] for i in f["inputs"]]
            calldata = w3.eth.contract(abi=abi).encode_abi(name, arg["".join(inputs)])
            assert calldata[2:10] == GO_LIVEPEER_SELECTORS[name], name
            seen.add(name)
    assert seen == set(GO_LIVEPEER_SELECTORS)
    for sig, outputs in reader.items():
        # Same outputs as Livepeer's, except getServiceURI read as bytes (the same encoding as string).
        assert outputs == (["bytes"] if sig == "getServiceURI(address)" else livepeer[sig]), sig
    # And the stand-ins answer the same selectors.
    for contract in LIVEPEER:
        ours = {function_signature_to_4byte_selector(s).hex() for s in _signatures(build["contracts"][contract]["abi"])}
        wanted = {v for k, v in GO_LIVEPEER_SELECTORS.items() if any(s.startswith(k + "(") for s in LIVEPEER[contract])}
        assert wanted <= ours, contract


def test_service_uri_decoding() -> None:
    assert decode_service_uri(b"https://orch.example:8935") == "https://orch.example:8935"
    for raw, reason in [(b"", "no_service_uri"), (b"\xc3\x28", "malformed_service_uri"), (b"x" * 5000, "service_uri_too_long"),
                        (b"https://a.example/\n", "malformed_service_uri"), (b"https://a.example\\@b/", "malformed_service_uri")]:  # fmt: skip
        try:
            decode_service_uri(raw)
        except UriProblem as e:
            assert e.reason == reason, raw
        else:
            raise AssertionError(raw)


def test_metrics_url_convention() -> None:
    assert metrics_url("https://orch.example.com:8935") == "http://orch.example.com:9935/metrics"
    assert metrics_url("https://ORCH.example.com") == "http://orch.example.com:9935/metrics"
    assert metrics_url("https://[2606:4700::1]:8935") == "http://[2606:4700::1]:9935/metrics"
    assert metrics_url("https://o.example:8935/path?q=1", Convention("https", 443, "/x")) == "https://o.example:443/x"
    assert metrics_url("https://o.example", override=Override(path="/m", port=1)) == "http://o.example:1/m"
    assert metrics_url(None, override=Override(url="o.example:5")) == "http://o.example:5/metrics"


def test_http_sd_groups() -> None:
    targets = [
        make_target("https://o2.example/custom?module=x", "0x" + "BB" * 20, {"region": "eu", "bad-name": "v", "__x": "y"}, "file:/etc/t.json"),
        make_target("http://[2606:4700::1]:9935/metrics", "0x" + "aa" * 20, source="chain"),
    ]
    assert http_sd_groups(targets) == [
        {"targets": ["[2606:4700::1]:9935"],
         "labels": {"__scheme__": "http", "__metrics_path__": "/metrics", "orchestrator": "0x" + "aa" * 20, "naap_source": "chain"}},
        {"targets": ["o2.example:443"],
         "labels": {"region": "eu", "__scheme__": "https", "__metrics_path__": "/custom", "__param_module": "x",
                    "orchestrator": "0x" + "bb" * 20, "naap_source": "file"}},
    ]  # fmt: skip
