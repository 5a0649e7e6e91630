"""Every Asset the DAGs exchange, in one place."""

from airflow.sdk import Asset

VALIDATED_SNAPSHOTS = Asset("file://tabular-mlops/data/validated-snapshots", group="tabular_mlops")
CHAMPION_MODEL = Asset("mlflow://tabular-mlops/registered-model/champion", group="tabular_mlops")
