"""Versions a request can ask for, rollback, the canary's share and the shadow (against a
real PostgreSQL model store, through the app as clients see it)."""

import collections
import time

import modelstore
import pytest
from modelstore import versions
from serving import create_app
from serving.routing import Routing
from test_serving_app import expected, publish

DAY = "2024-03-02"  # a Saturday: the weekend term counts
V1 = {"1": (100.0, 1.0, 20.0), "2": (50.0, -0.5, 5.0)}
V2 = {"1": (130.0, 1.0, 20.0), "2": (80.0, -0.5, 5.0)}  # every forecast 30 higher


def make_app(dsn: str, **config):
    return create_app({"TESTING": True, "MODEL_STORE_DSN": dsn, "START_RELOADER": False,
                       "MODELS": ["sales_forecast"], **config})  # fmt: skip


def predict(client, scope="1", query="", **headers):
    return client.post(f"/predict{query}", json={"scope": scope, "date": DAY}, headers=headers)


@pytest.fixture
def two_versions(store_dsn):
    """v1 in production, v2 its candidate (refused by the gate, say)."""
    v1 = publish(store_dsn, V1)
    versions.set_alias(store_dsn, "sales_forecast", "production", v1, by="gate", why="first")
    v2 = publish(store_dsn, V2)
    versions.set_alias(store_dsn, "sales_forecast", "candidate", v2, by="gate", why="worse")
    return v1, v2


def test_a_request_asks_for_a_version_or_an_alias(store_dsn, two_versions):
    v1, v2 = two_versions
    app = make_app(store_dsn)
    assert app.extensions["model_registry"].refresh()
    client = app.test_client()
    plain = predict(client)
    assert (plain.json["model_version"], plain.json["alias"]) == (v1, "production")
    assert plain.json["prediction"] == pytest.approx(expected(*V1["1"], DAY))
    for answer in (
        predict(client, query="?alias=candidate"),
        predict(client, **{"X-Model-Alias": "candidate"}),
    ):
        assert (answer.json["model_version"], answer.json["alias"]) == (v2, "candidate")
        assert answer.json["prediction"] == pytest.approx(expected(*V2["1"], DAY))
    for answer in (predict(client, query=f"?version={v1}"),
                   predict(client, **{"X-Model-Version": str(v2)})):  # fmt: skip
        assert answer.status_code == 200 and answer.json["alias"] is None
    assert predict(client, query=f"?version={v2}").json["model_version"] == v2
    # a batch asking for the candidate: every instance from it
    batch = client.post("/predict?alias=candidate", json={"instances": [
        {"scope": "1", "date": DAY}, {"scope": "2", "date": DAY}]})  # fmt: skip
    assert batch.json["model_version"] == v2
    assert batch.json["predictions"] == pytest.approx(
        [expected(*V2["1"], DAY), expected(*V2["2"], DAY)]
    )


@pytest.mark.parametrize(
    "query, status, message",
    [
        ("?version=999", 404, "has no published version 999"),
        ("?alias=staging", 404, "no alias 'staging'; its aliases: production, candidate"),
        ("?version=abc", 400, "give a version number"),
        ("?version=0", 400, "give a version number"),
        ("?version=1&alias=candidate", 400, "not both"),
    ],
)
def test_asking_for_what_is_not_there_names_it(store_dsn, two_versions, query, status, message):
    app = make_app(store_dsn)
    app.extensions["model_registry"].refresh()
    answer = predict(app.test_client(), query=query)
    assert answer.status_code == status and answer.is_json
    assert message in answer.json["error"], answer.json


def test_rollback_moves_every_back_end_and_a_second_one_rolls_forward(store_dsn, two_versions):
    """Production moves by command; each back-end follows at its next poll, without a
    restart; rolling back twice returns to where it was."""
    v1, v2 = two_versions
    backends = [make_app(store_dsn) for _ in range(2)]
    for app in backends:
        app.extensions["model_registry"].refresh()
    versions.set_alias(store_dsn, "sales_forecast", "production", v2, by="command", why="ok")
    served = []
    for step in ("promoted", "rolled back", "rolled forward"):
        if step != "promoted":
            assert versions.rollback(store_dsn, "sales_forecast")[1] == (
                v1 if step == "rolled back" else v2
            )
        for app in backends:
            app.extensions["model_registry"].refresh()
        served.append({predict(app.test_client()).json["model_version"] for app in backends})
    assert served == [{v2}, {v1}, {v2}]
    moves = versions.moves(store_dsn, "sales_forecast")
    assert [(m["alias"], m["from"], m["to"], m["by"]) for m in moves][-3:] == [
        ("production", v1, v2, "command"),
        ("production", v2, v1, "command"),
        ("production", v1, v2, "command"),
    ]


def test_the_canary_takes_its_share_by_request(store_dsn, two_versions):
    """10 % by request, counted from the answers' versions over 2,000 requests: within
    2.5 points (the binomial standard deviation is 0.67)."""
    v1, v2 = two_versions
    app = make_app(store_dsn, ROUTING=Routing(canary_percent=10, canary_by="request"))
    app.extensions["model_registry"].refresh()
    client = app.test_client()
    seen = collections.Counter(predict(client).json["model_version"] for _ in range(2000))
    assert set(seen) == {v1, v2}
    assert abs(100 * seen[v2] / 2000 - 10) < 2.5, seen
    # asked for explicitly, the canary does not apply
    assert {predict(client, query="?alias=production").json["model_version"]
            for _ in range(50)} == {v1}  # fmt: skip


def test_the_canary_by_scope_keeps_each_scope_on_one_version(store_dsn):
    """10 % of 400 scopes: each scope always gets the same version, and the share of
    scopes on the candidate is within 4 points (standard deviation 1.5)."""
    scopes = {f"s{i}": (float(i), 0.1, 0.0) for i in range(400)}
    v1 = publish(store_dsn, scopes)
    versions.set_alias(store_dsn, "sales_forecast", "production", v1, by="gate")
    v2 = publish(store_dsn, scopes)
    versions.set_alias(store_dsn, "sales_forecast", "candidate", v2, by="gate")
    app = make_app(store_dsn, ROUTING=Routing(canary_percent=10, canary_by="scope"))
    app.extensions["model_registry"].refresh()
    client = app.test_client()
    first = {s: predict(client, s).json["model_version"] for s in scopes}
    again = {s: predict(client, s).json["model_version"] for s in list(scopes)[:100]}
    assert all(first[s] == v for s, v in again.items())
    share = 100 * sum(v == v2 for v in first.values()) / len(first)
    assert abs(share - 10) < 4, share


def scrape(client) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_the_shadow_never_changes_an_answer_and_measures_the_difference(store_dsn, two_versions):
    v1, v2 = two_versions
    app = make_app(store_dsn, ROUTING=Routing(shadow=True))
    app.extensions["model_registry"].refresh()
    client = app.test_client()
    before = scrape(client)  # the counters are the process's: count what this test adds
    for i in range(40):
        answer = predict(client, scope=str(1 + i % 2))
        assert (answer.json["model_version"], answer.json["alias"]) == (v1, "production")
        assert answer.json["prediction"] == pytest.approx(expected(*V1[str(1 + i % 2)], DAY))
    labels = (("model", "sales_forecast"), ("version", str(v2)))

    def added(name, key=labels):
        return scrape(client).get((name, key), 0) - before.get((name, key), 0)

    deadline = time.monotonic() + 15
    while added("serving_shadow_instances_total") < 40:
        assert time.monotonic() < deadline, "the shadow did not compute 40 instances"
        time.sleep(0.1)
    compared = added("serving_shadow_numeric_total")
    mean = added("serving_shadow_abs_difference_total") / compared
    assert compared == 40 and mean == pytest.approx(30.0)
    assert added("serving_shadow_mismatches_total") == 0
    by_version = (("alias", "production"), ("model", "sales_forecast"), ("status", "200"),
                  ("version", str(v1)))  # fmt: skip
    assert added("serving_version_requests_total", by_version) == 40


def test_routing_settings_are_checked(monkeypatch):
    monkeypatch.setenv("SERVING_CANARY_PERCENT", "150")
    with pytest.raises(ValueError, match="from 0 to 100"):
        Routing.from_env()
    monkeypatch.setenv("SERVING_CANARY_PERCENT", "10")
    monkeypatch.setenv("SERVING_CANARY_BY", "user")
    with pytest.raises(ValueError, match="one of scope, request"):
        Routing.from_env()
    monkeypatch.setenv("SERVING_CANARY_BY", "request")
    monkeypatch.setenv("SERVING_SHADOW", "1")
    assert Routing.from_env() == Routing(10.0, "request", True)


def test_a_store_from_before_aliases_serves_its_newest_version(store_dsn):
    v1 = publish(store_dsn, V1)
    v2 = publish(store_dsn, V2)
    assert v2 > v1
    with modelstore.connect(store_dsn) as conn:
        conn.execute("DROP TABLE alias_moves, model_aliases")
    app = make_app(store_dsn)
    assert app.extensions["model_registry"].refresh()
    assert predict(app.test_client()).json["model_version"] == v2


def test_the_canary_share_under_load_counted_from_the_answers(store_dsn, two_versions, tmp_path,
                                                              unused_port):  # fmt: skip
    """A real back-end (Gunicorn, 2 workers) with a 10 % canary by request, loaded by wrk
    (keep-alive, no retries) for 6 s: no failed request, and the answers' versions give the
    candidate 10 % within 2 points (thousands of requests: the standard deviation is
    below 0.5)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from modelstore import contract

    v1, v2 = two_versions
    root = Path(__file__).resolve().parents[3]
    manifest = tmp_path / "manifest"
    manifest.mkdir()
    contract.write_manifest(manifest, ["sales_forecast"])
    env = dict(os.environ, MODEL_STORE_DSN=store_dsn, SERVING_BIND=f"127.0.0.1:{unused_port}",
               SERVING_WORKERS="2", SERVING_ACCESS_LOG="0", ANALYTICS_MODELS_PATH=str(manifest),
               SERVING_CANARY_PERCENT="10", SERVING_CANARY_BY="request")  # fmt: skip
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=root / "apps/serving", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{unused_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "the back-end never became healthy"
                time.sleep(0.3)
        load = subprocess.run(
            [sys.executable, str(root / "benchmarks/wrkload.py"), f"{url}/predict",
             "--seconds", "6", "--connections", "4",
             "--body", json.dumps({"scope": "1", "date": DAY})],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    figures = json.loads(load.stdout)
    assert figures["failed"] == 0 and figures["requests"] > 1000, figures
    seen = {int(k): n for k, n in figures["versions"].items()}
    assert set(seen) == {v1, v2} and sum(seen.values()) == figures["requests"], seen
    share = 100 * seen[v2] / figures["requests"]
    print(f"canary: {share:.2f} % of {figures['requests']} requests ({figures['rps']} req/s)")
    assert abs(share - 10) < 2, (share, figures)


def test_the_prediction_log_records_a_sample_a_notebook_reads_back(store_dsn, two_versions):
    """Off by default; on (every request here), each answered instance is a row of the
    store's prediction log, written in the background, read back as a DataFrame."""
    v1, v2 = two_versions
    off = make_app(store_dsn)
    off.extensions["model_registry"].refresh()
    predict(off.test_client())
    app = make_app(store_dsn, PREDICTION_LOG_RATE=1.0, PREDICTION_LOG_ROWS=1000)
    app.extensions["model_registry"].refresh()
    client = app.test_client()
    predict(client, "2")
    predict(client, "1", query="?alias=candidate")
    client.post("/predict", json={"instances": [{"scope": "1", "date": DAY}] * 3})
    predict(client, "99")  # a 404: not logged
    deadline = time.monotonic() + 15
    while len(log := modelstore.read_prediction_log(store_dsn, "sales_forecast")) < 5:
        assert time.monotonic() < deadline, f"the log holds {len(log)} rows"
        time.sleep(0.2)
    time.sleep(2.5)  # one more flush: nothing else arrives
    log = modelstore.read_prediction_log(store_dsn, "sales_forecast")
    assert len(log) == 5
    first = log.iloc[0]
    assert (first.version_id, first.alias, first.scope, first.input) == (
        v1,
        "production",
        "2",
        {"date": DAY},
    )
    assert first.output == pytest.approx(expected(*V1["2"], DAY))
    assert log.iloc[1].version_id == v2 and log.iloc[1].alias == "candidate"
    assert list(log.scope[2:]) == ["1", "1", "1"] and set(log.backend) == {app.config["BACKEND_ID"]}


def test_the_prediction_log_keeps_its_newest_rows(store_dsn):
    publish(store_dsn, V1)  # the schema, with the log and its function
    with modelstore.connect(store_dsn) as conn:
        for start in range(0, 1500, 500):
            entries = [{"model": "m", "version": 1, "scope": str(i), "input": {"i": i},
                        "output": i} for i in range(start, start + 500)]  # fmt: skip
            assert modelstore.log_predictions(conn, entries, keep_rows=1000) == 500
    log = modelstore.read_prediction_log(store_dsn, "m")
    assert len(log) == 1000 and list(log.output.iloc[[0, -1]]) == [500, 1499]
