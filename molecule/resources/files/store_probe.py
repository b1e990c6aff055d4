"""Run one statement on the model store as a serving back-end would, print the outcome.

Usage (inside a back-end container): python3 - USER SQL < store_probe.py
USER empty: the back-end's own role and password file; else that user, with the
password a line put before this script sets (os.environ["PGPASSWORD"] = ...), so that
it is in no command line or environment outside the process. Prints "ok <first row>"
or "<error class>: <first line>".
"""

import os
import sys

import psycopg

user, sql = sys.argv[1], sys.argv[2]
options = {"user": user} if user else {}
try:
    with psycopg.connect(os.environ["MODEL_STORE_DSN"], connect_timeout=5, **options) as conn:
        row = conn.execute(sql).fetchone()
        print("ok", row)
except psycopg.Error as exc:
    print(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
