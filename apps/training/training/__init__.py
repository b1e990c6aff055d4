"""Offline training: one forecasting model per scope with PySpark, published to the
model store. Entry point: ``spark-submit apps/training/train.py`` (see README.md)."""
