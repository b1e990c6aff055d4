#!/usr/bin/python3
"""analytics-train: train the platform's models on the Spark cluster, one after the other.

Installed by the train role (tasks/schedule.yml) on the spark_master host and run by
analytics-train.service, which analytics-train.timer starts on train_schedule's calendar.
Run it now with `systemctl start analytics-train` (or `analytics-train --config FILE
[MODEL ...]` as root). For each model it runs the training job in the spark-driver
container (`docker exec`), logs one outcome line (to the journal under systemd:
`journalctl -u analytics-train`) and writes STATE_DIR/MODEL.json, the model's last run:
when, outcome, exit code and, when it published, the version, and when it last
published one. From those records it rewrites METRICS_DIR/analytics_train.prom, which the
node exporter publishes (Prometheus's TrainingOverdue alert reads it). Exit 0 when every
model published a version, else 1.

The config file (root only, 0600) holds no secret: the container's own environment names
the model store, whose password libpq reads from a file mounted into the container.
"""

import argparse
import calendar
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time

TAIL_LINES = 20


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def replace_file(path: str, text: str) -> None:
    """Replace a file atomically (a reader never sees half of it)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_state(state_dir: str, model: str) -> dict:
    """STATE_DIR/MODEL.json, or {} when the model never ran here."""
    try:
        with open(os.path.join(state_dir, f"{model}.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def write_state(state_dir: str, model: str, state: dict) -> None:
    replace_file(
        os.path.join(state_dir, f"{model}.json"), json.dumps(state, indent=2, sort_keys=True) + "\n"
    )


def epoch(stamp: str | None) -> int:
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) if stamp else 0


METRICS = (
    (
        "analytics_train_last_success_timestamp_seconds",
        "When the scheduled training last published a version of the model (0: never).",
        lambda s: epoch(s.get("last_success")),
    ),
    (
        "analytics_train_last_run_timestamp_seconds",
        "When the model's last scheduled training finished.",
        lambda s: epoch(s.get("finished")),
    ),
    (
        "analytics_train_last_run_success",
        "1 when the model's last scheduled training published a version, else 0.",
        lambda s: int(s.get("outcome") == "ok"),
    ),
)


def write_metrics(config: dict) -> None:
    """METRICS_DIR/analytics_train.prom from every scheduled model's record (the node
    exporter's text format)."""
    if not config.get("metrics_dir"):
        return
    states = [(m, read_state(config["state_dir"], m)) for m in config["models"]]
    lines = []
    for name, help_text, value in METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [f'{name}{{model="{m}"}} {value(s)}' for m, s in states if s]
    os.makedirs(config["metrics_dir"], exist_ok=True)
    replace_file(
        os.path.join(config["metrics_dir"], "analytics_train.prom"), "\n".join(lines) + "\n"
    )


def train(config: dict, model: str) -> dict:
    """Run the job for one model; return its state record."""
    started, clock = now(), time.monotonic()
    # The alias moves of a scheduled run are recorded as the schedule's.
    argv = ["docker", "exec", config["container"], *config["command"], "--model", model,
            "--moved-by", "schedule"]  # fmt: skip
    try:
        run = subprocess.run(argv, capture_output=True, text=True, check=False)
        code, lines = run.returncode, (run.stdout + run.stderr).splitlines()
    except OSError as err:  # no docker CLI
        code, lines = 127, [f"cannot run docker: {err}"]
    prefix = config["result_prefix"]  # the job's result line (the role's _train_result_prefix)
    results = [json.loads(line[len(prefix) :]) for line in lines if line.startswith(prefix)]
    result = results[-1] if results else {}
    ok = code == 0 and result.get("status") == "ok"
    state = {
        "model": model,
        "started": started,
        "finished": now(),
        "seconds": round(time.monotonic() - clock, 1),
        "outcome": "ok" if ok else "failed",
        "exit": code,
        "last_success": now() if ok else read_state(config["state_dir"], model).get("last_success"),
    }
    if ok:
        state.update(
            {k: result.get(k) for k in ("version_id", "scope_count", "rows", "invalid_rows")}
        )
        gate = result.get("gate") or {}
        state.update({"alias": result.get("alias"), "gate": gate.get("reason")})
    else:
        meaning = config["exit_meanings"].get(
            str(code), "unexpected error, see the job's last lines"
        )
        state["reason"] = f"exit {code}: {meaning}"
        state["tail"] = [line for line in lines if not line.startswith("\tat ")][-TAIL_LINES:]
    return state


def describe(state: dict) -> str:
    if state["outcome"] == "ok":
        return (
            f"{state['model']} ok: version {state['version_id']}, {state['scope_count']} scopes, "
            f"{state['rows']} rows ({state['invalid_rows']} broke the schema) "
            f"in {state['seconds']} s; {state.get('alias') or 'published'}"
            + (f" ({state['gate']})" if state.get("gate") else "")
        )
    return f"{state['model']} failed ({state['reason']}) after {state['seconds']} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the JSON file the train role wrote")
    parser.add_argument("models", nargs="*", help="models to train (default: the config's list)")
    args = parser.parse_args()
    with open(args.config) as handle:
        config = json.load(handle)
    models = args.models or config["models"]
    unknown = sorted(set(models) - set(config["models"]))
    if unknown:
        scheduled = ", ".join(config["models"])
        print(f"analytics-train: unknown model {', '.join(unknown)}; scheduled: {scheduled}")
        return 2
    os.makedirs(config["state_dir"], exist_ok=True)
    with open(os.path.join(config["state_dir"], ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("analytics-train: another run is in progress; this one trains nothing")
            return 1
        failed = 0
        for model in models:
            print(f"analytics-train: training {model}", flush=True)
            state = train(config, model)
            write_state(config["state_dir"], model, state)
            write_metrics(config)
            for line in state.get("tail", []):
                print(f"  {line}")
            print(f"analytics-train: {describe(state)}", flush=True)
            failed += state["outcome"] != "ok"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
