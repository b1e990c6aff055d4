"""The train role reads what the training job prints and returns: the two stay equal.

roles/train/vars/main.yml holds the result line's prefix and the meaning of each exit
code for its messages (on demand and in the timer's script); apps/training/training/job.py
defines them. A new exit code or a renamed prefix in one without the other fails here.
"""

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _job_constants() -> dict:
    tree = ast.parse((ROOT / "apps/training/training/job.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets[0]
            names = targets.elts if isinstance(targets, ast.Tuple) else [targets]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for name, value in zip(names, values, strict=True):
                if isinstance(name, ast.Name) and isinstance(value, ast.Constant):
                    found[name.id] = value.value
    return found


ROLE = yaml.safe_load((ROOT / "roles/train/vars/main.yml").read_text())
JOB = _job_constants()


def test_the_result_prefix_is_the_jobs():
    assert ROLE["_train_result_prefix"] == JOB["RESULT_PREFIX"]


def test_every_failure_exit_code_of_the_job_has_a_meaning():
    # 0 is success and 1 an unexpected error (the role's fallback meaning); 124 is timeout's.
    codes = {
        v for k, v in JOB.items() if k.startswith("EXIT_") and k not in ("EXIT_OK", "EXIT_ERROR")
    }
    assert codes == set(ROLE["_train_exit_meanings"]) - {124}
