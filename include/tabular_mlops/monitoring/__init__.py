"""After promotion: nightly batch scoring into the prediction log, delayed labels, drift of features, score and
label against the champion's training data, the retrain/keep decision and its record, the night's alerts,
Evidently reports and workspace, and the audit that answers "why did the model change that night?". What a night
produces travels as the typed records of `results.py`."""
