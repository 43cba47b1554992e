"""A real local EVM chain for tests, benchmarks and `naap demo --chain`.

py-evm (through eth-tester) runs small stand-ins of Livepeer's Controller, BondingManager and ServiceRegistry,
compiled from `contracts/` into the committed `build.json` (`make contracts` rebuilds it). `rpc.RpcServer`
serves the chain as HTTP JSON-RPC on loopback, so discovery reads it exactly as it reads Arbitrum One.

Needs the `localchain` extra (eth-tester, py-evm); discovery itself does not.
"""
