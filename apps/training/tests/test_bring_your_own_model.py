"""A team's own model, end to end, with no platform file edited: a third package written
to a folder outside the repository (beside copies of the examples) passes the contract
check that preflight runs, trains per scope on local Spark, publishes to a real
PostgreSQL and is served by the app. Broken packages are refused, naming the fix."""

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import modelstore
import numpy as np
import pandas as pd
import pytest
from training.job import EXIT_OK, RESULT_PREFIX, main

ROOT = Path(__file__).resolve().parents[3]
PLATFORM_PINS = ["--platform-requirements", str(ROOT / "images/base/requirements.txt")]

THIRD = '''
"""Electricity use of a building per hour, from the weather and the building."""
import numpy as np
from sklearn.linear_model import Ridge

SCHEMA = {
    "temperature": {"type": "number", "min": -40, "max": 50},
    "kind": {"type": "category", "values": ["office", "shop", "home"]},
    "floor_area": {"type": "integer", "min": 10, "max": 100000},
}
TARGET = "kwh"
SCOPE_COLUMN = "building_group"
PARAMS = {"alpha": 0.001}
EXAMPLE = {"scope": "north", "temperature": 5.0, "kind": "shop", "floor_area": 800}
KINDS = SCHEMA["kind"]["values"]


def _x(rows):
    kind = np.array([[k == v for v in KINDS] for k in rows["kind"]], dtype=float)
    cold = np.clip(18.0 - rows["temperature"].to_numpy(dtype=float), 0, None)
    area = rows["floor_area"].to_numpy(dtype=float) / 1000.0
    return np.column_stack([cold * area, area, kind * area[:, None]])


def fit(rows, params):
    model = Ridge(alpha=params["alpha"]).fit(_x(rows), rows["kwh"].to_numpy())
    err = model.predict(_x(rows)) - rows["kwh"].to_numpy()
    return model, {"mae": float(np.mean(np.abs(err))), "rows": len(rows)}


def predict(fitted, rows):
    return fitted.predict(_x(rows))
'''


def truth(temperature, kind, floor_area, group):
    base = {"office": 30.0, "shop": 50.0, "home": 10.0}[kind]
    factor = 1.0 if group == "north" else 1.5
    area = floor_area / 1000.0
    return factor * (2.0 * max(18.0 - temperature, 0.0) * area + base * area)


@pytest.fixture(scope="module")
def team_models(tmp_path_factory) -> Path:
    """The team's own models folder: the examples plus energy_use."""
    folder = tmp_path_factory.mktemp("team-repo") / "models"
    for example in ("sales_forecast", "bike_rentals"):
        shutil.copytree(ROOT / "models" / example, folder / example)
    (folder / "energy_use").mkdir()
    (folder / "energy_use" / "__init__.py").write_text(textwrap.dedent(THIRD))
    (folder / "energy_use" / "requirements.txt").write_text("scikit-learn==1.7.2\n")
    assert ROOT not in folder.parents
    return folder


def check(models_dir: Path, *names: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelstore.contract", "check", "--models-dir", str(models_dir),
         *PLATFORM_PINS, *(["--cache", str(cache)] if cache else []), *names],
        cwd=ROOT / "apps" / "modelstore", capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_the_contract_check_accepts_the_team_folder(team_models):
    proc = check(team_models, "sales_forecast", "bike_rentals", "energy_use")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["energy_use"] == {
        "fields": ["temperature", "kind", "floor_area"],
        "target": "kwh",
    }


BROKEN = {
    "no_predict": (
        "SCHEMA = {'x': {'type': 'number'}}\nTARGET = 'y'\nEXAMPLE = {'scope': 'a', 'x': 1}\n"
        "def fit(rows, params): return None, {}\n",
        "",
        "model 'no_predict': no function predict. Fix: define predict(fitted, rows)",
    ),
    "bad_schema": (
        "SCHEMA = {'x': {'type': 'float'}}\nTARGET = 'y'\nEXAMPLE = {'scope': 'a', 'x': 1}\n"
        "def fit(rows, params): pass\ndef predict(fitted, rows): pass\n",
        "",
        "model 'bad_schema': SCHEMA field 'x': type 'float' is unknown. Fix: use one of number,",
    ),
    "bad_example": (
        "SCHEMA = {'x': {'type': 'integer', 'max': 3}}\nTARGET = 'y'\n"
        "EXAMPLE = {'scope': 'a', 'x': 9}\n"
        "def fit(rows, params): pass\ndef predict(fitted, rows): pass\n",
        "",
        "model 'bad_example': EXAMPLE breaks SCHEMA: field 'x' 9 is out of range",
    ),
    "unpinned": (
        "SCHEMA = {'x': {'type': 'number'}}\nTARGET = 'y'\nEXAMPLE = {'scope': 'a', 'x': 1}\n"
        "def fit(rows, params): pass\ndef predict(fitted, rows): pass\n",
        "lightgbm>=4\n",
        "model 'unpinned': requirements.txt line 1 'lightgbm>=4' is not pinned. Fix: pin it",
    ),
    "clashing_pin": (
        "SCHEMA = {'x': {'type': 'number'}}\nTARGET = 'y'\nEXAMPLE = {'scope': 'a', 'x': 1}\n"
        "def fit(rows, params): pass\ndef predict(fitted, rows): pass\n",
        "pandas==1.5.3\n",
        "pins pandas==1.5.3 but the platform pins pandas==2.3.3. Fix: use pandas==2.3.3",
    ),
    "import_fails": (
        "import not_a_package_anywhere\n",
        "",
        "model 'import_fails' imports 'not_a_package_anywhere', which is not installed. Fix: "
        "pin it in import_fails/requirements.txt",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_package_that_breaks_the_contract_is_refused(tmp_path, name):
    code, requirements, message = BROKEN[name]
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(code)
    if requirements:
        (tmp_path / name / "requirements.txt").write_text(requirements)
    proc = check(tmp_path, name)
    assert proc.returncode == 2
    assert message in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_a_missing_package_is_refused(team_models):
    proc = check(team_models, "sales_forecast", "nowhere")
    assert proc.returncode == 2
    assert "model 'nowhere': no package at" in proc.stderr
    assert "Fix: create" in proc.stderr


def test_a_passed_check_is_not_run_again_until_a_model_changes(team_models, tmp_path):
    """Preflight's cache (preflight_models_cache): the models are imported again only when
    something the answer depends on changed; a broken model is never let through."""
    models, cache, imported = tmp_path / "models", tmp_path / "contract.json", tmp_path / "imported"
    shutil.copytree(team_models, models)
    init = models / "energy_use" / "__init__.py"
    # the package leaves a mark each time it is imported
    init.write_text(f"open({str(imported)!r}, 'a').write('x')\n" + init.read_text())
    first = check(models, "sales_forecast", "energy_use", cache=cache)
    assert first.returncode == 0, first.stderr
    assert imported.read_text() == "x"

    again = check(models, "sales_forecast", "energy_use", cache=cache)
    assert (again.returncode, again.stdout) == (0, first.stdout)
    assert imported.read_text() == "x", "the unchanged models were imported again"

    # a change in a model's file: checked again, and refused
    init.write_text(init.read_text().replace("def predict(", "def predicted("))
    broken = check(models, "sales_forecast", "energy_use", cache=cache)
    assert broken.returncode == 2
    assert "model 'energy_use': no function predict" in broken.stderr
    assert imported.read_text() == "xx"

    # another model list is another question
    other = check(models, "sales_forecast", cache=cache)
    assert other.returncode == 0, other.stderr


def _ship(spark, folder: Path, tmp_path: Path) -> None:
    """The package to the executors, as train.py does for the model it trains."""
    target = tmp_path / f"{folder.name}.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for path in folder.rglob("*.py"):
            zf.write(path, Path(folder.name) / path.relative_to(folder))
    spark.sparkContext.addPyFile(str(target))


def test_the_third_model_trains_publishes_and_serves(
    spark, store_dsn, team_models, tmp_path, capsys, monkeypatch
):
    monkeypatch.syspath_prepend(str(team_models))
    _ship(spark, team_models / "energy_use", tmp_path)
    rng = np.random.default_rng(3)
    rows = []
    for group in ("north", "south"):
        for _ in range(400):
            temp, kind = rng.uniform(-10, 30), rng.choice(["office", "shop", "home"])
            area = int(rng.integers(100, 5000))
            rows.append((group, temp, kind, area, truth(temp, kind, area, group)))
    rows.append(("north", 12.0, "castle", 900, 1.0))  # breaks the schema: counted, ignored
    data = tmp_path / "energy.csv"
    pd.DataFrame(
        rows, columns=["building_group", "temperature", "kind", "floor_area", "kwh"]
    ).to_csv(data, index=False)
    rc = main(["--model", "energy_use", "--source", f"csv:{data}", "--store-dsn", store_dsn],
              spark=spark)  # fmt: skip
    out = capsys.readouterr().out
    assert rc == EXIT_OK
    result = json.loads(next(x for x in out.splitlines() if x.startswith(RESULT_PREFIX))[16:])
    assert (result["model"], result["scope_count"], result["invalid_rows"]) == ("energy_use", 2, 1)
    info = modelstore.latest_version(store_dsn, "energy_use")
    assert info.id == result["version_id"]
    assert info.params["input_schema"]["kind"]["values"] == ["office", "shop", "home"]

    from serving import create_app

    app = create_app({"TESTING": True, "MODEL_STORE_DSN": store_dsn, "START_RELOADER": False,
                      "MODELS": ["sales_forecast", "bike_rentals", "energy_use"]})  # fmt: skip
    assert app.extensions["model_registry"].refresh()
    client = app.test_client()
    body = {"scope": "south", "temperature": 2.0, "kind": "office", "floor_area": 1200}
    answer = client.post("/models/energy_use/predict", json=body)
    assert answer.status_code == 200, answer.json
    assert answer.json["prediction"] == pytest.approx(truth(2.0, "office", 1200, "south"), rel=0.02)
    assert answer.json["model_version"] == info.id
    bad = client.post("/models/energy_use/predict", json={**body, "floor_area": 5})
    assert bad.status_code == 422
    assert (bad.json["field"], bad.json["value"]) == ("floor_area", 5)
    assert bad.json["expected"] == "an integer between 10 and 100000"
    listed = {m["name"]: m["version"] for m in client.get("/models").json["models"]}
    assert listed == {"sales_forecast": None, "bike_rentals": None, "energy_use": info.id}


def test_bike_rentals_trains_from_the_sample_file_and_serves(spark, store_dsn, capsys):
    """The second example on its real data: four stations of the committed parquet."""
    data = ROOT / "data" / "sample"
    rc = main(["--model", "bike_rentals", "--data-dir", str(data), "--scopes", "1-4",
               "--store-dsn", store_dsn], spark=spark)  # fmt: skip
    out = capsys.readouterr().out
    assert rc == EXIT_OK
    result = json.loads(next(x for x in out.splitlines() if x.startswith(RESULT_PREFIX))[16:])
    assert result["scope_count"] == 4 and result["rows"] == 4 * 730 * 24
    assert set(result["metrics"]) == {"mae_mean", "mae_max", "rmse_mean", "rmse_max"}

    from bike_rentals.sample_data import expected_rentals
    from serving import create_app

    app = create_app({"TESTING": True, "MODEL_STORE_DSN": store_dsn, "START_RELOADER": False,
                      "MODELS": ["sales_forecast", "bike_rentals"]})  # fmt: skip
    assert app.extensions["model_registry"].refresh()
    client = app.test_client()
    busy = {"scope": "3", "hour": 8, "weekday": "tue", "temperature": 18.5, "humidity": 55,
            "weather": "clear", "holiday": "no"}  # fmt: skip
    quiet = {**busy, "hour": 3, "weather": "rain", "humidity": None}
    answer = client.post("/models/bike_rentals/predict", json={"instances": [busy, quiet]})
    assert answer.status_code == 200, answer.json
    want = [
        float(expected_rentals(3, r["hour"], r["weekday"], r["temperature"],
                               np.nan if r["humidity"] is None else r["humidity"], r["weather"],
                               r["holiday"]))
        for r in (busy, quiet)
    ]  # fmt: skip
    got = answer.json["predictions"]
    assert got[0] == pytest.approx(want[0], rel=0.15), (got, want)
    assert got[1] == pytest.approx(want[1], abs=1.0), (got, want)
    bad = client.post("/models/bike_rentals/predict", json={**busy, "weather": "fog"})
    assert bad.status_code == 422 and bad.json["field"] == "weather"
    assert "one of 'clear', 'cloudy', 'rain', 'snow'" in bad.json["error"]
