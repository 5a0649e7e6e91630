"""Airflow adapters for the tabular_mlops package: connection -> URL, notifiers, shared DAG settings."""
