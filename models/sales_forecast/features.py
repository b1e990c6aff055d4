"""Features derived from a date (the sales forecaster's first pipeline step).

A stored model is a scikit-learn pipeline whose first step is ``DateFeatures``: it takes
dates (strings ``YYYY-MM-DD``, ``datetime.date``, numpy ``datetime64`` or pandas
timestamps, as a 1-D array or an ``(n, 1)`` column) and produces

* ``t``: days since the origin (the first training date), for the trend, and
* ``dow_1`` .. ``dow_6``: one-hot day of week (Tuesday .. Sunday; Monday is the baseline).

Because the feature step travels inside the pickled pipeline, a server only needs
``model.predict([[date]])``; the origin the model was fitted with is stored in it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

FEATURE_NAMES = ("t", "dow_1", "dow_2", "dow_3", "dow_4", "dow_5", "dow_6")


def to_days(values) -> np.ndarray:
    """Dates (any of the accepted forms) to int64 days since 1970-01-01."""
    arr = np.asarray(values, dtype=object if not hasattr(values, "dtype") else None)
    arr = arr.reshape(-1)
    if arr.dtype.kind == "M":  # already datetime64 (what serving and training pass): no parsing
        return arr.astype("datetime64[D]").astype(np.int64)
    days = pd.to_datetime(arr, format="ISO8601").values.astype("datetime64[D]")
    return days.astype(np.int64)


class DateFeatures(TransformerMixin, BaseEstimator):
    """Trend (days since origin) plus day-of-week one-hot, from a date column."""

    def __init__(self, origin: str | None = None):
        self.origin = origin

    def fit(self, X, y=None):
        days = to_days(X)
        if self.origin is not None:
            self.origin_ = int(to_days([self.origin])[0])
        else:
            self.origin_ = int(days.min())
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        days = to_days(X)
        out = np.zeros((days.shape[0], len(FEATURE_NAMES)), dtype=float)
        out[:, 0] = days - self.origin_
        dow = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        for d in range(1, 7):
            out[:, d] = dow == d
        return out

    def get_feature_names_out(self, input_features=None):
        return np.asarray(FEATURE_NAMES, dtype=object)
