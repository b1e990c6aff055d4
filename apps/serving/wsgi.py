"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app`` (from apps/serving)."""

import sys
from pathlib import Path

# From a checkout the packages sit beside this file, in ../modelstore and the example
# models in ../../models; in the image they are installed and these paths are not needed.
_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent / "modelstore", _HERE.parent.parent / "models"):
    if _path.is_dir() and str(_path) not in sys.path:
        sys.path.append(str(_path))

from serving import create_app  # noqa: E402

app = create_app()
