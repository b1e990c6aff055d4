"""Train one sales-forecasting model per scope and publish them as one model version.

Usage:
    spark-submit apps/training/train.py --scope-type store --scopes 1-200 \
        --start 2024-01-01 --end 2024-12-31 --source synthetic \
        --store-dsn postgresql://user:password@host:5432/modelstore

Prints one line ``TRAINING_RESULT {json}`` on stdout; see README.md for the arguments
and exit codes.
"""

import sys
from pathlib import Path

# Run from a checkout: the packages sit beside this file and in ../modelstore. When they
# are installed (the cluster image), the installed ones are used.
_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent / "modelstore"):
    if (_path / "training").is_dir() or (_path / "modelstore").is_dir():
        if str(_path) not in sys.path:
            sys.path.append(str(_path))

from training.job import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
