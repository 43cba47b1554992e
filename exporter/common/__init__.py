"""The ground under every floor: small helpers the exporter needs, so every room above may import them too.

Nothing here imports another room of this project, and nothing needs more than the exporter extra
(pydantic, PyYAML, aiohttp): an orchestrator's exporter-only install has all of it. One place per concept:
the clock (`clock`), the Ethereum address (`eth`), YAML file → validated model (`configfile`), the bounded
HTTP fetch (`httpfetch`), ports and free ports (`net`), the package's version (`meta`).
"""
