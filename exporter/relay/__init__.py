"""Relays of co-located services' metrics (go-livepeer) under the exporter's labels."""
