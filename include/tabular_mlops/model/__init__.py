"""The ground floor for models: trusted loading, the one scoring function and decision rule, model tests, tracking."""
