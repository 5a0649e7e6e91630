"""Data in: the source table, the simulator that feeds it, per-interval extraction into daily snapshots, the
Great Expectations gate, and DVC versioning of the validated snapshots (`data/` + `data.dvc` + the remote)."""
