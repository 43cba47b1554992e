"""Generated protobuf messages for go-livepeer's `net` package (a subset; see README.md beside this file)."""
