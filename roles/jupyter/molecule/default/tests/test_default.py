"""What a notebook user and the operator see of JupyterLab on the master host (testinfra
over Molecule's SSH inventory; the browser is this controller)."""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[5]

NOTEBOOK = "log_analytics.ipynb"
SCIENCE_NOTEBOOK = "bike_rentals_xgboost.ipynb"
OUT = "/tmp/test-notebooks"
# The seed's JupyterLab libraries (images/jupyter_libs and base): import name -> the
# distribution whose version the image pins.
SEED_LIBRARIES = {
    "xgboost": "xgboost-cpu",
    "seaborn": "seaborn",
    "folium": "folium",
    "ipyleaflet": "ipyleaflet",
    "imblearn": "imbalanced-learn",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "joblib": "joblib",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
}


@pytest.fixture
def container(values, inspect):
    """container(): what docker inspect shows of JupyterLab's container now."""
    return lambda: inspect(values["jupyter_container_name"])


def contents(values, with_token: str | None) -> tuple[int, dict]:
    url = f"http://{values['ansible_host']}:{values['jupyter_port']}/api/contents"
    request = urllib.request.Request(url)
    if with_token:
        request.add_header("Authorization", f"token {with_token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, {}


def test_one_healthy_container_whose_label_holds_its_url(values, container):
    c = container()
    url = f"http://{values['ansible_host']}:{values['jupyter_port']}/lab"
    assert c["State"]["Health"]["Status"] == "healthy"
    assert url in c["Config"]["Labels"].values()
    assert c["HostConfig"]["Memory"] == values["jupyter_memory_limit_mb"] * 1024 * 1024


def test_the_token_is_required_and_in_no_docker_inspect(values, secret, container):
    assert contents(values, None)[0] == 403
    assert contents(values, "not-the-token-at-all")[0] == 403
    status, listing = contents(values, secret("jupyter_token"))
    assert status == 200
    assert {NOTEBOOK, SCIENCE_NOTEBOOK} <= {item["name"] for item in listing["content"]}
    assert secret("jupyter_token") not in json.dumps(container())


def executed(host, values, notebook: str) -> list[dict]:
    """Run a notebook headless in the JupyterLab container; its cells' outputs."""
    name = values["jupyter_container_name"]
    run = host.run(
        "docker exec %s jupyter nbconvert --execute --to=notebook --output-dir=%s"
        " --ExecutePreprocessor.timeout=600 %s",
        name,
        OUT,
        f"{values['jupyter_notebooks_dir']}/{notebook}",
    )
    assert run.rc == 0, run.stderr[-3000:]
    nb = json.loads(host.check_output("docker exec %s cat %s", name, f"{OUT}/{notebook}"))
    return [o for cell in nb["cells"] for o in cell.get("outputs", [])]


def test_the_example_notebook_runs_on_the_cluster_and_draws_a_plot(host, values):
    outputs = executed(host, values, NOTEBOOK)
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    executors = {
        line.split(" on ")[1].rsplit(":", 1)[0]
        for line in text.splitlines()
        if line.startswith("executor ")
    }
    assert [o.get("ename") for o in outputs if o["output_type"] == "error"] == []
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    assert executors == {values["ansible_host"]}


def test_the_seed_libraries_import_at_their_pinned_versions(host, values):
    probe = (
        "import importlib, importlib.metadata as m, json, sys; "
        f"libs = {SEED_LIBRARIES!r}; "
        "[importlib.import_module(k) for k in libs]; "
        "print(json.dumps({k: m.version(d) for k, d in libs.items()}))"
    )
    run = host.run("docker exec %s python3 -c %s", values["jupyter_container_name"], probe)
    assert run.rc == 0, run.stderr[-3000:]
    versions = json.loads(run.stdout)
    pins = dict(
        re.fullmatch(r"([\w.-]+)==(\S+)", line).groups()
        for image in ("base", "jupyter_runtime", "jupyter_libs")
        for line in (ROOT / f"images/{image}/requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {module: pins[dist] for module, dist in SEED_LIBRARIES.items()} == versions
    # TensorFlow is off by default (jupyter_tensorflow)
    assert (
        host.run(
            "docker exec %s python3 -c 'import tensorflow'", values["jupyter_container_name"]
        ).rc
        == 1
    )


def test_the_science_notebook_trains_xgboost_and_draws_a_plot_and_a_map(host, values):
    outputs = executed(host, values, SCIENCE_NOTEBOOK)
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert [o.get("ename") for o in outputs if o["output_type"] == "error"] == []
    assert "350,400 hourly rows on the cluster" in text
    mae = float(text.split("MAE on 2024: ")[1].split()[0])
    assert 0 < mae < 3, text  # the stations' mean is about 5 rentals an hour
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    maps = [o for o in outputs if "leaflet" in "".join(o.get("data", {}).get("text/html", ""))]
    assert len(maps) == 1
    assert "".join(maps[0]["data"]["text/html"]).count("Station ") >= 20


def test_an_allocation_over_the_limit_is_killed_and_jupyterlab_keeps_running(
    host, values, container
):
    before = container()
    hog = host.run(
        "docker exec %s python3 -c %s",
        values["jupyter_container_name"],
        f"b = bytearray({before['HostConfig']['Memory'] + 512 * 1024 * 1024})",
    )
    assert hog.rc == 137
    after = container()
    assert after["State"]["Running"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]


def test_a_short_token_is_refused_with_the_fix(values, secret, playbook):
    run = playbook("converge.yml", "-e", "jupyter_token=short")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "jupyter_token is" in out and "too short or a placeholder" in out
    assert "Fix: set jupyter_token" in out
    assert contents(values, secret("jupyter_token"))[0] == 200


def test_a_new_token_takes_over_in_the_same_container(values, secret, container, playbook):
    before = container()["Id"]
    new = "a-new-token-for-this-test-0123456789"
    run = playbook("converge.yml", "-e", f"jupyter_token={new}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert new not in run.stdout + run.stderr
    assert container()["Id"] == before
    assert contents(values, new)[0] == 200
    assert contents(values, secret("jupyter_token"))[0] == 403


def test_disabled_the_container_goes_and_the_notebooks_stay(host, values, playbook):
    run = playbook("converge.yml", "-e", "jupyter_enabled=false")
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.run("docker inspect %s", values["jupyter_container_name"]).rc != 0
    assert host.run("docker volume inspect %s", values["jupyter_notebooks_volume"]).rc == 0
