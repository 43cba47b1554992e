"""The load-test gateway ("prober", floor 3): measures live-video-to-video orchestrators the way a gateway uses
them, with public versioned datasets, and signs what it measured. See prober/README.md for the modules and the
protocol facts (with their sources in go-livepeer and ai-runner).

Imports only `exporter.common`, `discovery` and `warehouse` (tests/test_floors.py).
"""
