"""Per-stream metrics: the SDK runners call (in-process or pushing to a local exporter) and its adapters."""
