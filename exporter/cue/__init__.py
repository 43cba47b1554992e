"""CUE (CUDA Utilization Efficiency = achieved / peak FLOP/s) per GPU, by the `dcgm` or `proxy` method."""
