"""The host source: this machine's CPU, load, memory, disk and network, read from Linux's /proc (and one
statvfs), exposed as `naap_host_*` beside the GPUs. `proc.py` parses (pure: text in, values out),
`collector.py` reads in the background (`HostPoller`) and renders (`HostCollector`)."""
