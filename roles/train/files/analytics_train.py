#!/usr/bin/python3
"""analytics-train: train the platform's models on the Spark cluster, one after the other.

Installed by the train role (tasks/schedule.yml) on the spark_master host and run by
analytics-train.service, which analytics-train.timer starts on train_schedule's calendar.
Run it now with `systemctl start analytics-train` (or `analytics-train --config FILE
[MODEL ...]` as root). For each model it runs the training job in the spark-master
container (`docker exec`), logs one outcome line (to the journal under systemd:
`journalctl -u analytics-train`) and writes STATE_DIR/MODEL.json, the model's last run:
when, outcome, exit code and, when it published, the version. Exit 0 when every model
published a version, else 1.

The config file (root only, 0600) holds no secret: the container's own environment names
the model store, whose password libpq reads from a file mounted into the container.
"""

import argparse
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


def write_state(state_dir: str, model: str, state: dict) -> None:
    """Replace STATE_DIR/MODEL.json atomically (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=f".{model}.")
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(state_dir, f"{model}.json"))


def train(config: dict, model: str) -> dict:
    """Run the job for one model; return its state record."""
    started, clock = now(), time.monotonic()
    argv = ["docker", "exec", config["container"], *config["command"], "--model", model]
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
    }
    if ok:
        state.update(
            {k: result.get(k) for k in ("version_id", "scope_count", "rows", "invalid_rows")}
        )
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
            f"in {state['seconds']} s"
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
            for line in state.get("tail", []):
                print(f"  {line}")
            print(f"analytics-train: {describe(state)}", flush=True)
            failed += state["outcome"] != "ok"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
