"""Train one model of a model package per scope and publish them as one version.

Usage:
    spark-submit apps/training/train.py --model sales_forecast --scopes 1-200 \
        --start 2024-01-01 --end 2024-12-31 --source synthetic \
        --store-dsn postgresql://user:password@host:5432/modelstore

Prints one line ``TRAINING_RESULT {json}`` on stdout; see README.md for the arguments
and exit codes.
"""

import sys
from pathlib import Path

# Run from a checkout: the packages sit beside this file, in ../modelstore and the
# example models in ../../models. When they are installed (the cluster image), the
# installed ones are used.
_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent / "modelstore", _HERE.parent.parent / "models"):
    if (_path / "training").is_dir() or (_path / "modelstore").is_dir() or _path.name == "models":
        if _path.is_dir() and str(_path) not in sys.path:
            sys.path.append(str(_path))

from training.job import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
