"""GPU sources (NVML, simulated) and the collector that turns their readings into metric families."""
