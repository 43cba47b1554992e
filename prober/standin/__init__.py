"""A stand-in orchestrator on loopback that speaks go-livepeer's live-video-to-video protocol (TLS gRPC info,
HTTPS start call, trickle channels) with a fake runner whose quality is set by a profile. The prober's tests
and the demo fleet probe it through the prober's real code path. See `prober.standin.orchestrator.StandIn`."""
