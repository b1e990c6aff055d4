"""Where DateFeatures lived before the model contract.

Versions published then pickled their pipeline as ``modelstore.features.DateFeatures``;
the class now lives in the sales_forecast example (``sales_forecast.features``). This
alias keeps those versions loadable after an upgrade, until they are retrained.
"""

from sales_forecast.features import DateFeatures

__all__ = ["DateFeatures"]
