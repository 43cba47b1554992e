"""The exporter an orchestrator runs beside go-livepeer: GPU, stream FPS/jitter, bandwidth and CUE gauges
served over HTTP at /metrics in the Prometheus text format (and OpenMetrics by content negotiation).

Install only this part with ``pip install '.[exporter]'``; nothing here imports the collector's packages.
"""
