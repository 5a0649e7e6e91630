"""From validated snapshots to a gated champion: the rolling-window split (DVC stage `preprocess`), the model
search tracked in MLflow (`train`), holdout evaluation (`evaluate`), and the registry gate that moves the
`champion` alias only when model tests, thresholds and the champion comparison all pass."""
