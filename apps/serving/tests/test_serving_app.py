"""The serving app (Flask test client) against a real PostgreSQL model store."""

import json
import time

import modelstore
import numpy as np
import pandas as pd
import pytest
from sales_forecast.features import DateFeatures
from serving import create_app
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

ORIGIN = "2024-01-01"  # a Monday


def fitted_model(level: float, slope: float, weekend: float) -> Pipeline:
    """sales = level + slope * days_since_origin (+ weekend uplift), fitted exactly."""
    days = pd.date_range(ORIGIN, periods=56, freq="D")
    t = np.arange(56)
    sales = level + slope * t + np.where(days.dayofweek >= 5, weekend, 0.0)
    model = Pipeline([("features", DateFeatures()), ("regression", LinearRegression())])
    return model.fit(days.strftime("%Y-%m-%d").to_numpy().reshape(-1, 1), sales)


def expected(level: float, slope: float, weekend: float, day: str) -> float:
    ts = pd.Timestamp(day)
    t = (ts - pd.Timestamp(ORIGIN)).days
    return level + slope * t + (weekend if ts.dayofweek >= 5 else 0.0)


SCOPES_V1 = {"1": (100.0, 1.0, 20.0), "2": (50.0, -0.5, 5.0), "north": (10.0, 0.1, 0.0)}


def publish(dsn: str, scopes: dict, **params) -> int:
    models = {
        scope: (modelstore.dumps_model(fitted_model(*coefs)), {"mae": 0.0, "rmse": 0.0})
        for scope, coefs in scopes.items()
    }
    return modelstore.publish_version(
        dsn, {"scope_type": "store", **params}, models, keep=3, model="sales_forecast"
    )


def make_app(dsn: str, **config):
    app = create_app(
        {
            "TESTING": True,
            "MODEL_STORE_DSN": dsn,
            "BACKEND_ID": "test-backend:8000",
            "START_RELOADER": False,
            "MODELS": ["sales_forecast", "bike_rentals"],
            **config,
        }
    )
    return app


def refresh(app) -> bool:
    return app.extensions["model_registry"].refresh()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def app(store_dsn):
    publish(store_dsn, SCOPES_V1)
    app = make_app(store_dsn)
    assert refresh(app)
    yield app
    app.extensions["model_registry"].stop()


@pytest.fixture
def client(app):
    return app.test_client()


def test_health_503_before_a_version_then_200(store_dsn):
    app = make_app(store_dsn)
    client = app.test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "model store not checked yet" in response.json["reason"]
    assert response.json["backend"] == "test-backend:8000"

    assert not refresh(app)  # the store answers, but has nothing published
    response = client.get("/health")
    assert response.status_code == 503
    assert "no published model version" in response.json["reason"]
    # The store answers and has no version: a valid request is a 404 naming the fix.
    none = client.post("/predict", json={"scope": "1", "date": "2024-03-01"})
    assert none.status_code == 404 and "train_model=sales_forecast" in none.json["error"]
    bad = client.post("/predict", json={"scope": "1"})  # a bad request is 4xx even now
    assert bad.status_code == 422 and "field 'date' is missing" in bad.json["error"]

    vid = publish(store_dsn, SCOPES_V1)
    assert refresh(app)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "model_version": vid,
        "models": {"sales_forecast": vid},
        "backend": "test-backend:8000",
    }


def test_models(client, store_dsn):
    body = client.get("/models").json
    info = modelstore.latest_version(store_dsn)
    assert body["default"] == "sales_forecast"
    forecaster, rentals = body["models"]
    assert forecaster["name"] == "sales_forecast" and forecaster["version"] == info.id
    assert forecaster["scope_count"] == 3 and forecaster["url"] == "/models/sales_forecast"
    assert rentals == {
        "name": "bike_rentals", "version": None, "created": None, "scope_count": 0,
        "metrics": {}, "url": "/models/bike_rentals",
    }  # fmt: skip
    one = client.get("/models/sales_forecast").json
    assert one["version"] == info.id
    assert one["created"] == info.created.isoformat()
    assert one["scopes"] == ["1", "2", "north"]
    assert one["metrics"] == info.metrics
    assert one["scope_metrics"]["north"] == {"mae": 0.0, "rmse": 0.0}
    assert one["input"] == {
        "date": {"type": "date", "required": True, "min": "2000-01-01", "max": "2099-12-31",
                 "description": "the day to forecast"},
    }  # fmt: skip
    # The example request works as shown.
    example = one["example_request"]
    answer = client.post(example["url"], json=example["body"])
    assert answer.status_code == 200 and answer.json["model"] == "sales_forecast"
    assert one["backend"] == "test-backend:8000"
    assert client.get("/models/bike_rentals").json["input"]["weather"]["values"] == [
        "clear", "cloudy", "rain", "snow",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "scope, day",
    [("1", "2024-03-01"), (1, "2024-03-02"), ("2", "2024-06-30"), ("north", "2025-01-01")],
)
def test_single_prediction(client, scope, day):
    response = client.post("/predict", json={"scope": scope, "date": day})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["prediction"] == pytest.approx(expected(*SCOPES_V1[str(scope)], day), abs=1e-6)
    assert body["scope"] == str(scope) and body["input"] == {"date": day}
    assert body["model_version"] == client.get("/models/sales_forecast").json["version"]
    assert body["backend"] == "test-backend:8000"


def test_batch_prediction_keeps_order(client):
    instances = [
        {"scope": "2", "date": "2024-02-10"},
        {"scope": "1", "date": "2024-02-10"},
        {"scope": 1, "date": "2024-02-12"},
        {"scope": "north", "date": "2024-02-10"},
    ]
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200, response.json
    body = response.json
    want = [expected(*SCOPES_V1[str(i["scope"])], i["date"]) for i in instances]
    assert body["predictions"] == pytest.approx(want, abs=1e-6)
    assert set(body) == {"predictions", "model", "model_version", "alias", "backend"}


def test_request_without_content_type(client):
    response = client.post("/predict", data='{"scope": "1", "date": "2024-03-01"}')
    assert response.status_code == 200


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("POST", "/predict", b'{"scope": "1", "date": ', 400, "malformed JSON"),
        ("POST", "/predict", b"", 400, "empty request body"),
        ("POST", "/predict", b"\xff\xfe", 400, "malformed JSON"),
        ("POST", "/predict", [1, 2], 400, "must be an object"),
        ("POST", "/predict", {"date": "2024-03-01"}, 422, "missing field 'scope'"),
        ("POST", "/predict", {"scope": "1"}, 422, "field 'date' is missing"),
        ("POST", "/predict", {"scope": "1", "date": 20240301}, 422, "is a int, not a string"),
        ("POST", "/predict", {"scope": "1", "date": "9999-12-31"}, 422, "is out of range"),
        ("POST", "/predict", {"scope": "1", "date": "1000-01-01"}, 422, "is out of range"),
        ("POST", "/predict", {"scope": "1", "date": "2262-04-12"}, 422, "is out of range"),
        ("POST", "/predict", {"scope": "1", "date": "1677-09-20"}, 422, "is out of range"),
        (
            "POST",
            "/predict",
            {
                "instances": [
                    {"scope": "1", "date": "2024-03-01"},
                    {"scope": "1", "date": "9999-12-31"},
                ]
            },
            422,
            "instances[1]: ",
        ),
        ("POST", "/predict", b"null", 400, "must be an object"),
        ("POST", "/predict", b'"text"', 400, "must be an object"),
        ("POST", "/predict", {"scope": None, "date": "2024-03-01"}, 422, "missing field 'scope'"),
        ("POST", "/predict", {"scope": "1", "date": None}, 422, "field 'date'"),
        ("POST", "/predict", b'{"scope": 1e400, "date": "2024-03-01"}', 422, "'scope' must be"),
        ("POST", "/predict", {"scope": 10**400, "date": "2024-03-01"}, 404, "unknown scope"),
        ("POST", "/predict", {"scope": "1" * 100_000, "date": "2024-03-01"}, 404, "unknown scope"),
        ("POST", "/predict", {"scope": "1", "date": "2024-01-01", "x": 1}, 422, "not a field"),
        ("POST", "/predict", b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),
        ("POST", "/models/nope/predict", {"scope": "1"}, 404, "unknown model 'nope'"),
        ("GET", "/models/nope", None, 404, "unknown model 'nope'"),
        (
            "POST",
            "/models/bike_rentals/predict",
            {
                "scope": "1",
                "hour": 3,
                "weekday": "mon",
                "temperature": 9,
                "weather": "clear",
                "holiday": "no",
            },
            404,
            "no published version",
        ),
        (
            "POST",
            "/models/bike_rentals/predict",
            {
                "scope": "1",
                "hour": 3,
                "weekday": "funday",
                "temperature": 9,
                "weather": "clear",
                "holiday": "no",
            },
            422,
            "field 'weekday'",
        ),
        ("POST", "/predict", {"scope": "1", "date": "03/01/2024"}, 422, "not a valid date"),
        ("POST", "/predict", {"scope": "1", "date": "2024-02-30"}, 422, "not a valid date"),
        ("POST", "/predict", {"scope": ["1"], "date": "2024-03-01"}, 422, "'scope' must be"),
        ("POST", "/predict", {"scope": True, "date": "2024-03-01"}, 422, "'scope' must be"),
        ("POST", "/predict", {"scope": "99", "date": "2024-03-01"}, 404, "unknown scope '99'"),
        ("POST", "/predict", {"instances": {"scope": "1"}}, 422, "'instances' must be a list"),
        ("POST", "/predict", {"instances": []}, 422, "'instances' is empty"),
        (
            "POST",
            "/predict",
            {"instances": [{"scope": "1", "date": "2024-03-01"}, {"scope": "1"}]},
            422,
            "instances[1]: field 'date' is missing",
        ),
        (
            "POST",
            "/predict",
            {"instances": [{"scope": "1", "date": "2024-03-01"}, "x"]},
            422,
            "instances[1]: an instance must be an object",
        ),
        (
            "POST",
            "/predict",
            {"instances": [{"scope": "7", "date": "2024-03-01"}]},
            404,
            "instances[0]: unknown scope '7'",
        ),
        ("GET", "/predict", None, 405, "method GET is not allowed on /predict; use POST"),
        ("POST", "/health", None, 405, "use GET"),
        ("DELETE", "/models", None, 405, "use GET"),
        ("GET", "/nope", None, 404, "no such endpoint: GET /nope"),
    ],
)
def test_bad_requests_get_json_4xx(client, method, path, body, status, message):
    kwargs = {}
    if isinstance(body, bytes):
        kwargs = {"data": body, "content_type": "application/json"}
    elif body is not None:
        kwargs = {"json": body}
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status
    assert response.is_json
    assert message in response.json["error"], response.json
    assert response.json["backend"] == "test-backend:8000"
    if status == 405:
        assert "Allow" in response.headers


@pytest.mark.parametrize(
    "path, body",
    [
        ("/predict", {"scope": "1", "date": "2024-03-02"}),
        ("/models/sales_forecast/predict", {"scope": "north", "date": "2024-03-01"}),
        ("/predict", {"instances": [{"scope": "2", "date": "2024-03-01"}, {"scope": "1"}]}),
        ("/predict", {"instances": [{"scope": "2", "date": "2024-03-01"}] * 3}),
        ("/predict", {"scope": "99", "date": "2024-03-01"}),
        ("/predict", {"scope": "1", "date": "2024-02-30"}),
        ("/predict", b'{"scope": '),
        ("/models/bike_rentals/predict", {"scope": "1"}),
        ("/models/nope/predict", {"scope": "1"}),
    ],
)
def test_the_fast_path_answers_as_flask_would(app, path, body):
    """POST /predict skips Flask's request machinery (serving/fastpath.py): whatever it
    answers, the Flask views answer the same (status, headers, JSON)."""
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, bytes) \
        else {"json": body}  # fmt: skip
    fastpath, flask_calls = app.wsgi_app, []
    flask = fastpath.inner
    fastpath.inner = lambda environ, start: flask_calls.append(path) or flask(environ, start)
    fast = app.test_client().post(path, **kwargs)
    fastpath.inner = flask
    # Flask answers only for a model this back-end does not have (its 404 and metrics label)
    assert flask_calls == ([path] if "nope" in path else [])
    app.wsgi_app = flask
    try:
        slow = app.test_client().post(path, **kwargs)
    finally:
        app.wsgi_app = fastpath
    assert (fast.status, fast.content_type) == (slow.status, slow.content_type)
    assert fast.data == slow.data, fast.json


def test_batch_limit(store_dsn):
    publish(store_dsn, SCOPES_V1)
    app = make_app(store_dsn, MAX_BATCH=2)
    refresh(app)
    instances = [{"scope": "1", "date": "2024-03-01"}] * 3
    response = app.test_client().post("/predict", json={"instances": instances})
    assert response.status_code == 413
    assert "limit of 2" in response.json["error"]


def test_body_too_large(client):
    response = client.post(
        "/predict", data=b"[" + b"1," * 600_000 + b"1]", content_type="application/json"
    )
    assert response.status_code == 413 and response.is_json


def test_app_has_loaded_the_newest_version_before_its_first_request(store_dsn):
    vid = publish(store_dsn, SCOPES_V1)
    app = make_app(store_dsn, START_RELOADER=True, RELOAD_SECONDS=60)
    try:
        response = app.test_client().get("/health")  # no waiting: a gunicorn worker
        assert response.status_code == 200  # must not answer 503 while its sibling serves
        assert response.json["model_version"] == vid
    finally:
        app.extensions["model_registry"].stop()


def test_newer_version_is_picked_up_without_restart(store_dsn):
    v1 = publish(store_dsn, SCOPES_V1)
    app = make_app(store_dsn, START_RELOADER=True, RELOAD_SECONDS=0.2)
    client = app.test_client()
    try:
        wait_for(lambda: client.get("/health").status_code == 200)
        assert client.get("/models/sales_forecast").json["version"] == v1
        request = {"scope": "1", "date": "2024-03-01"}
        before = client.post("/predict", json=request).json
        assert before["model_version"] == v1

        v2 = publish(store_dsn, {"1": (200.0, 2.0, 0.0), "3": (1.0, 0.0, 0.0)})
        wait_for(lambda: client.get("/models/sales_forecast").json["version"] == v2)
        after = client.post("/predict", json=request).json
        assert after["model_version"] == v2
        assert after["prediction"] == pytest.approx(expected(200.0, 2.0, 0.0, "2024-03-01"))
        assert client.get("/models/sales_forecast").json["scopes"] == ["1", "3"]
        unknown = client.post("/predict", json={"scope": "2", "date": "2024-03-01"})
        assert unknown.status_code == 404  # scope 2 is not in the new version
    finally:
        app.extensions["model_registry"].stop()


def test_requests_during_reloads_never_fail(store_dsn):
    publish(store_dsn, SCOPES_V1)
    app = make_app(store_dsn, START_RELOADER=True, RELOAD_SECONDS=0.05)
    client = app.test_client()
    try:
        wait_for(lambda: client.get("/health").status_code == 200)
        versions = set()
        deadline = time.monotonic() + 3
        n = 0
        while time.monotonic() < deadline:
            if n % 20 == 0:
                publish(store_dsn, {s: (c[0] + n, c[1], c[2]) for s, c in SCOPES_V1.items()})
            body = client.post(
                "/predict",
                json={"instances": [{"scope": s, "date": "2024-03-01"} for s in SCOPES_V1]},
            )
            assert body.status_code == 200, body.json
            versions.add(body.json["model_version"])
            n += 1
        assert len(versions) >= 2
    finally:
        app.extensions["model_registry"].stop()


def test_unreachable_store_is_503_with_reason(closed_port_dsn):
    app = make_app(closed_port_dsn)
    assert not refresh(app)
    client = app.test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["reason"].startswith("model store unreachable")
    assert client.get("/models").status_code == 503
    response = client.post("/predict", json={"scope": "1", "date": "2024-03-01"})
    assert response.status_code == 503 and "no version of model" in response.json["error"]
    assert "unreachable" in response.json["error"]


def test_missing_dsn_is_503(monkeypatch):
    monkeypatch.delenv("MODEL_STORE_DSN", raising=False)
    app = make_app("")
    refresh(app)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert "MODEL_STORE_DSN is not set" in response.json["reason"]


def test_store_stopped_cached_scopes_answer_uncached_503(stoppable_pg):
    """The store down: a scope this back-end loaded keeps answering; one it never loaded
    gets a JSON 503 with Retry-After (counted); once the store is back it answers, with no
    restart."""
    dsn = stoppable_pg.create_database()
    vid = publish(dsn, SCOPES_V1)
    app = make_app(dsn)
    client = app.test_client()
    assert refresh(app)
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json={"scope": "2", "date": "2024-03-01"}).status_code == 200

    stoppable_pg.stop()
    assert not refresh(app)
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json["reason"].startswith("model store unreachable")
    assert health.json["model_version"] == vid
    response = client.post("/predict", json={"scope": "2", "date": "2024-03-01"})
    assert response.status_code == 200
    assert response.json["model_version"] == vid
    assert response.json["prediction"] == pytest.approx(expected(50.0, -0.5, 5.0, "2024-03-01"))
    assert client.get("/models").status_code == 200
    cold = client.post("/predict", json={"scope": "north", "date": "2024-03-01"})
    assert cold.status_code == 503 and cold.is_json
    assert cold.headers["Retry-After"] == "5"
    assert "not cached on this host" in cold.json["error"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'serving_scope_loads_total{model="sales_forecast",source="unavailable"} 1.0' in metrics

    stoppable_pg.start()
    refresh(app)
    assert client.get("/health").status_code == 200
    warm = client.post("/predict", json={"scope": "north", "date": "2024-03-01"})
    assert warm.status_code == 200, warm.json


def test_store_down_at_start_keeps_retrying(stoppable_pg):
    dsn = stoppable_pg.create_database()
    vid = publish(dsn, SCOPES_V1)
    stoppable_pg.stop()
    app = make_app(dsn, START_RELOADER=True, RELOAD_SECONDS=0.2)
    client = app.test_client()
    try:
        time.sleep(0.5)
        response = client.get("/health")
        assert response.status_code == 503
        assert "unreachable" in response.json["reason"]
        stoppable_pg.start()
        wait_for(lambda: client.get("/health").status_code == 200)
        assert client.get("/health").json["model_version"] == vid
    finally:
        app.extensions["model_registry"].stop()


def test_env_configuration(monkeypatch, store_dsn):
    monkeypatch.setenv("MODEL_STORE_DSN", store_dsn)
    monkeypatch.setenv("SERVING_BACKEND_ID", "host1:8001")
    monkeypatch.setenv("SERVING_RELOAD_SECONDS", "2.5")
    models = {"START_RELOADER": False, "MODELS": ["sales_forecast"]}
    app = create_app(models)
    assert app.config["MODEL_STORE_DSN"] == store_dsn
    assert app.config["BACKEND_ID"] == "host1:8001"
    assert app.extensions["model_registry"].reload_seconds == 2.5

    monkeypatch.delenv("SERVING_BACKEND_ID")
    monkeypatch.setenv("SERVING_BIND", "127.0.0.1:8123")
    assert create_app(models).config["BACKEND_ID"].endswith(":8123")

    monkeypatch.setenv("SERVING_RELOAD_SECONDS", "soon")
    with pytest.raises(ValueError, match="SERVING_RELOAD_SECONDS"):
        create_app(models)


def test_models_come_from_the_image_manifest(monkeypatch, tmp_path, store_dsn):
    from modelstore import contract

    monkeypatch.setenv("ANALYTICS_MODELS_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="no model package installed"):
        create_app({"START_RELOADER": False, "MODEL_STORE_DSN": store_dsn})
    contract.write_manifest(tmp_path, ["bike_rentals", "sales_forecast"])
    app = create_app({"START_RELOADER": False, "MODEL_STORE_DSN": store_dsn})
    assert list(app.extensions["models"]) == ["bike_rentals", "sales_forecast"]
    assert app.config["DEFAULT_MODEL"] == "bike_rentals"


def test_json_error_for_crashes(app, monkeypatch):
    registry = app.extensions["model_registry"]
    model = registry.fitted(registry.version("sales_forecast"), ["1"])["1"]
    monkeypatch.setattr(model, "predict", lambda x: 1 / 0)
    response = app.test_client().post("/predict", json={"scope": "1", "date": "2024-03-01"})
    assert response.status_code == 500
    assert json.loads(response.data)["backend"] == "test-backend:8000"


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", b"scope=1&date=2024-03-01"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="scope"\r\n\r\n1\r\n--x--\r\n',
        ),
        (
            "text/plain; charset=latin-1",
            '{"scope": "\xe9", "date": "2024-03-01"}'.encode("latin-1"),
        ),
    ],
)
def test_wrong_content_types_get_json_4xx(client, content_type, body):
    response = client.post("/predict", data=body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert response.is_json and response.json["error"], response.data


def scrape(client) -> dict[tuple, float]:
    """GET /metrics as {(name, (label, value), ...): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (s.name, *sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def test_metrics_count_requests_by_model_endpoint_and_status(client, store_dsn):
    def requests(model, endpoint, status):
        key = ("serving_requests_total", ("endpoint", endpoint), ("model", model),
               ("status", status))  # fmt: skip
        return scrape(client).get(key, 0.0)

    before = {
        "ok": requests("sales_forecast", "/predict", "200"),
        "named": requests("sales_forecast", "/models/<name>/predict", "422"),
        "unknown": requests("unknown", "/models/<name>/predict", "404"),
        "unmatched": requests("", "unmatched", "404"),
    }
    for _ in range(3):
        assert client.post("/predict", json={"scope": "1", "date": "2024-03-01"}).status_code == 200
    assert client.post("/models/sales_forecast/predict", json={"scope": "1"}).status_code == 422
    # a name no model has counts as "unknown": a client cannot create series at will
    for name in ("nope", "other"):
        assert client.post(f"/models/{name}/predict", json={}).status_code == 404
    assert client.get("/nowhere").status_code == 404

    assert requests("sales_forecast", "/predict", "200") == before["ok"] + 3
    assert requests("sales_forecast", "/models/<name>/predict", "422") == before["named"] + 1
    assert requests("unknown", "/models/<name>/predict", "404") == before["unknown"] + 2
    assert requests("", "unmatched", "404") == before["unmatched"] + 1
    metrics = scrape(client)
    assert not any(("model", "nope") in key for key in metrics)
    latency = ("serving_request_duration_seconds_count", ("endpoint", "/predict"),
               ("model", "sales_forecast"))  # fmt: skip
    assert metrics[latency] >= 3
    # the version loaded per model, 0 for one with none published; the store answers
    loaded = modelstore.latest_version(store_dsn).id
    assert metrics[("serving_model_version", ("model", "sales_forecast"))] == loaded
    assert metrics[("serving_model_version", ("model", "bike_rentals"))] == 0
    # the newest version in the store, per model: loaded is not behind it
    assert metrics[("serving_model_published_version", ("model", "sales_forecast"))] == loaded
    assert metrics[("serving_model_published_version", ("model", "bike_rentals"))] == 0
    assert metrics[("serving_model_store_up",)] == 1


def test_metrics_show_a_published_version_it_could_not_load(store_dsn):
    v1 = publish(store_dsn, SCOPES_V1)
    app = make_app(store_dsn)
    refresh(app)
    broken = {"1": (b"not a pickle", {"mae": 0.0, "rmse": 0.0})}
    v2 = modelstore.publish_version(
        store_dsn, {"scope_type": "store"}, broken, keep=3, model="sales_forecast"
    )
    refresh(app)
    metrics = scrape(app.test_client())
    # it keeps serving v1, and shows that the store has a newer one (the alert's input)
    assert metrics[("serving_model_version", ("model", "sales_forecast"))] == v1
    assert metrics[("serving_model_published_version", ("model", "sales_forecast"))] == v2


def test_metrics_show_the_store_down_and_no_model_loaded(closed_port_dsn):
    app = make_app(closed_port_dsn)
    client = app.test_client()
    refresh(app)
    metrics = scrape(client)
    assert metrics[("serving_model_store_up",)] == 0
    assert metrics[("serving_model_version", ("model", "sales_forecast"))] == 0
