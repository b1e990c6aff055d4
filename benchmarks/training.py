#!/usr/bin/env python3
"""Measure training per model: the cluster against a single-process pandas loop.

For each model (every one of platform_models by default), in one run on this machine:
- the cluster: `playbooks/train.yml -e train_model=NAME` on the inventory's Spark
  cluster (a version is published); figures from the job's TRAINING_RESULT: scopes,
  rows, the job's seconds (read, validate, fit per scope on the executors, publish), and
  the playbook's wall time;
- the baseline a user would otherwise write: one Python process on the controller that
  reads the same rows with pandas and loops over the scopes, validating each scope's
  rows with the model's schema and calling its fit (training.model.train_scope, the
  executors' own per-scope function). It publishes nothing; the synthetic data are made
  beforehand (a local Spark session, not timed) since a user would have them as a file.

Prints scopes, rows and seconds side by side and the ratio (baseline s / cluster s: above
1 means the cluster is faster). Figures only, never pass/fail.

With --crypto it measures instead what Spark's RPC encryption (spark_network_crypto, on
by default) costs: for each model, the cluster with encryption off (the Spark stage
re-run with -e spark_network_crypto=false) and then on, same rows, and the ratio on/off.
It ends by re-running the Spark stage as the inventory says.

Needs a running platform: `make demo` (inventory/lab, the default) or any inventory whose
cluster and model store are up. Scopes and span are the model's TRAINING defaults unless
given, e.g. --scopes sales_forecast=1-500.

    .venv/bin/python benchmarks/training.py [-i inventory/lab] [--model NAME ...]
        [--scopes NAME=SPEC ...] [--crypto]
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLATFORM = yaml.safe_load((ROOT / "roles/platform/defaults/main.yml").read_text())
DATA_SOURCE = ROOT / "data/sample"  # what the data stage ships by default (spark_data_source_dir)
for path in ("apps/modelstore", "apps/training", "models"):
    sys.path.insert(0, str(ROOT / path))

# The line train.yml prints for each published version (roles/train/tasks/run-one.yml).
RESULT = re.compile(
    r"Model (?P<model>\w+) version (?P<version>\d+): (?P<scopes>\d+) scopes,\s+"
    r"(?P<rows>\d+) rows \((?P<invalid>\d+) broke the schema\) in (?P<seconds>[\d.]+) s"
)


def tool(name: str) -> str:
    local = BIN / name
    return str(local) if local.exists() else name


def on_cluster(inventory: str, model: str, scopes: str | None) -> dict:
    argv = [
        tool("ansible-playbook"),
        "playbooks/train.yml",
        "-i",
        inventory,
        "-e",
        f"train_model={model}",
    ]
    if scopes:
        argv += ["-e", f"train_scopes={scopes}"]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    started = time.perf_counter()
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    match = RESULT.search(" ".join(run.stdout.split()))
    if run.returncode != 0 or not match:
        tail = run.stdout[-3000:] + run.stderr[-2000:]
        sys.exit(f"train.yml failed for {model} (exit {run.returncode}):\n{tail}")
    return {
        "scopes": int(match["scopes"]),
        "rows": int(match["rows"]),
        "seconds": float(match["seconds"]),
        "wall": wall,
        "version": int(match["version"]),
    }


def spark_stage(inventory: str, *extra: str) -> None:
    """Re-run the Spark stage (playbooks/spark.yml), e.g. with -e spark_network_crypto=false."""
    argv = [tool("ansible-playbook"), "playbooks/spark.yml", "-i", inventory, *extra]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed (exit {run.returncode}):\n{run.stdout[-3000:]}")


def crypto_cost(inventory: str, models: list[str], scopes: dict) -> int:
    """The cluster with RPC encryption off, then on, per model; the ratio on/off."""
    header = f"{'model':<16}{'encryption':<12}{'scopes':>7}{'rows':>10}{'seconds':>9}  notes"
    print(header)
    print("-" * len(header))
    try:
        for name in models:
            runs = {}
            for crypto in ("off", "on"):
                spark_stage(inventory, "-e", f"spark_network_crypto={crypto == 'on'}")
                runs[crypto] = on_cluster(inventory, name, scopes.get(name))
            for crypto, f in runs.items():
                label = name if crypto == "off" else ""
                print(
                    f"{label:<16}{crypto:<12}{f['scopes']:>7}{f['rows']:>10}{f['seconds']:>9.1f}"
                    f"  job (publish v{f['version']}); train.yml wall {f['wall']:.1f} s"
                )
            same = (runs["on"]["scopes"], runs["on"]["rows"]) == (
                runs["off"]["scopes"],
                runs["off"]["rows"],
            )
            ratio = runs["on"]["seconds"] / runs["off"]["seconds"]
            rows = "same rows" if same else "ROWS DIFFER"
            print(f"{'':<16}{'ratio':<12}{'':>17}{ratio:>9.2f}x  on/off ({rows})")
    finally:
        spark_stage(inventory)
    return 0


def baseline_rows(name: str, scopes: str | None):
    """(The job's Config, its training rows as one pandas DataFrame, seconds spent reading).

    The run is resolved by the job's own argument parser (model TRAINING defaults, scopes,
    span, {data_dir}), so the baseline trains what the cluster trains. Synthetic rows are
    made by the job's own load_input on a local Spark session, untimed; a file is read
    with pandas, timed."""
    import pandas as pd
    from training.args import parse_args

    argv = ["--model", name, "--data-dir", str(DATA_SOURCE), "--store-dsn", "unused://baseline"]
    config = parse_args(argv + (["--scopes", scopes] if scopes else []))
    if config.source.kind == "synthetic":
        from pyspark.sql import SparkSession
        from training.job import load_input

        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("baseline-data")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        frame = load_input(spark, config)[0].toPandas()
        spark.stop()
        return config, frame, 0.0
    model = config.model
    started = time.perf_counter()
    read = pd.read_parquet if config.source.kind == "parquet" else pd.read_csv
    frame = read(config.source.location).rename(columns={model.scope_column: "scope"})
    frame["scope"] = frame["scope"].astype(str)
    if config.scopes is not None:
        frame = frame[frame["scope"].isin(config.scopes)]
    dates = [f.name for f in model.schema.fields if f.type == "date"]
    if dates and (config.start or config.end):
        day = pd.to_datetime(frame[dates[0]]).dt.date
        frame = frame[(day >= (config.start or day.min())) & (day <= (config.end or day.max()))]
    return config, frame, time.perf_counter() - started


def on_controller(name: str, scopes: str | None) -> dict:
    from training.model import train_scope

    config, frame, read_seconds = baseline_rows(name, scopes)
    model, params = config.model, config.params
    started = time.perf_counter()
    rows = 0
    groups = frame.groupby("scope", sort=True)
    for _, pdf in groups:
        rows += train_scope(model, pdf, params)["rows"]
    fit = time.perf_counter() - started
    return {
        "scopes": groups.ngroups,
        "rows": rows,
        "seconds": fit + read_seconds,
        "fit": fit,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--inventory", default="inventory/lab")
    parser.add_argument(
        "--model", action="append", help="a model to measure (repeat); default: platform_models"
    )
    parser.add_argument(
        "--scopes", action="append", default=[], metavar="NAME=SPEC", help="scopes for one model"
    )
    parser.add_argument(
        "--crypto", action="store_true", help="the cost of Spark's RPC encryption instead"
    )
    args = parser.parse_args()
    models = args.model or PLATFORM["platform_models"]
    scopes = dict(item.split("=", 1) for item in args.scopes)
    print(f"controller: {os.cpu_count()} CPUs; inventory {args.inventory}")
    if args.crypto:
        return crypto_cost(args.inventory, models, scopes)
    header = f"{'model':<16}{'where':<12}{'scopes':>7}{'rows':>10}{'seconds':>9}  notes"
    print(header)
    print("-" * len(header))
    for name in models:
        cluster = on_cluster(args.inventory, name, scopes.get(name))
        local = on_controller(name, scopes.get(name))
        same = (local["scopes"], local["rows"]) == (cluster["scopes"], cluster["rows"])
        ratio = local["seconds"] / cluster["seconds"]
        job = f"job (read, validate, fit, publish v{cluster['version']})"
        lines = [
            (name, "cluster", cluster, f"{job}; train.yml wall {cluster['wall']:.1f} s"),
            ("", "pandas loop", local, f"one process here (fit loop {local['fit']:.1f} s)"),
        ]
        for model, where, f, note in lines:
            print(
                f"{model:<16}{where:<12}{f['scopes']:>7}{f['rows']:>10}{f['seconds']:>9.1f}  {note}"
            )
        rows = "same rows" if same else "ROWS DIFFER"
        print(f"{'':<16}{'ratio':<12}{'':>17}{ratio:>9.2f}x  baseline/cluster ({rows})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
