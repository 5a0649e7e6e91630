"""Every Asset the DAGs exchange, in one place.

The Assets are lineage only: they record which task produced a new data version or a new champion (the Assets
view and each asset event link the runs), and no DAG is scheduled on them. train_model is scheduled by time
(params.yaml `dags.schedules`) and triggered by monitor_nightly's retrain decision, never by a published night:
- retraining is a decision with reasons (drift, quality hold, cooldown, single-flight through
  `retraining_in_flight`); an Asset schedule would start a training for every published night, around it;
- a backfill publishes one data version per night, so an Asset (or Asset-or-time) schedule would queue one
  training per backfilled night, each on a partly filled window;
- a scheduled training already reads the newest published data (data.dvc), and `dvc repro` reuses its cached
  results when nothing changed, so nothing is gained by starting it on the event.
"""

from airflow.sdk import Asset

VALIDATED_SNAPSHOTS = Asset("file://tabular-mlops/data/validated-snapshots", group="tabular_mlops")
CHAMPION_MODEL = Asset("mlflow://tabular-mlops/registered-model/champion", group="tabular_mlops")
