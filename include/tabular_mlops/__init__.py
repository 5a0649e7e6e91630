"""Tabular MLOps pipeline: the domain package (no Airflow import anywhere in here)."""

__version__ = "0.1.0"
