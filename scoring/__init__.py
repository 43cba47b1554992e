"""The metric catalog as SQL over the raw log, and the SLA score: a versioned config and a deterministic
computation whose every published result names its config version, hash, window and input counts."""
