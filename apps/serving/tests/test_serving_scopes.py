"""Scopes loaded on demand within a memory budget, a host disk cache shared by the
back-ends, warm version switches, and pages of scopes (against a real PostgreSQL)."""

import modelstore
import numpy as np
import pytest
from serving import create_app
from serving.cache import ScopeCache, object_size
from test_serving_app import SCOPES_V1, expected, fitted_model, publish

MB = 1024 * 1024


def many_scopes(n: int) -> dict:
    return {f"s{i:03d}": (float(10 + i), 0.1 * (i % 7), float(i % 5)) for i in range(n)}


def make_app(dsn: str, **config):
    return create_app({"TESTING": True, "MODEL_STORE_DSN": dsn, "START_RELOADER": False,
                       "MODELS": ["sales_forecast"], **config})  # fmt: skip


def predict(client, scope: str, day: str = "2024-03-02"):
    return client.post("/models/sales_forecast/predict", json={"scope": scope, "date": day})


def test_more_scopes_than_the_budget_all_answer_right(store_dsn):
    """60 scopes, a budget of about 10: each answer is that scope's own fitted object's,
    the cache stays within its budget and evicts the least recently used."""
    scopes = many_scopes(60)
    publish(store_dsn, scopes)
    one = object_size(fitted_model(*scopes["s000"]))
    app = make_app(store_dsn, CACHE_MB=10.5 * one / MB)
    assert app.extensions["model_registry"].refresh()
    client = app.test_client()
    cache = app.extensions["model_registry"].cache
    for _ in range(2):
        for scope, coefs in scopes.items():
            answer = predict(client, scope)
            assert answer.status_code == 200, answer.json
            assert answer.json["prediction"] == pytest.approx(expected(*coefs, "2024-03-02"))
            assert cache.bytes <= cache.budget
    assert 8 <= len(cache) <= 10 and cache.evictions >= 100
    text = client.get("/metrics").get_data(as_text=True)
    assert 'serving_scope_loads_total{model="sales_forecast",source="store"}' in text
    assert 'serving_scope_evictions_total{model="sales_forecast"}' in text


def test_a_batch_reads_one_version_and_one_query(store_dsn):
    scopes = many_scopes(5)
    vid = publish(store_dsn, scopes)
    app = make_app(store_dsn)
    assert app.extensions["model_registry"].refresh()
    body = {"instances": [{"scope": s, "date": "2024-03-02"} for s in ["s004", "s001", "s004"]]}
    answer = app.test_client().post("/models/sales_forecast/predict", json=body)
    assert answer.status_code == 200 and answer.json["model_version"] == vid
    assert answer.json["predictions"] == pytest.approx(
        [expected(*scopes[s], "2024-03-02") for s in ["s004", "s001", "s004"]]
    )
    missing = {"instances": [{"scope": "s001", "date": "2024-03-02"},
                             {"scope": "nope", "date": "2024-03-02"}]}  # fmt: skip
    answer = app.test_client().post("/models/sales_forecast/predict", json=missing)
    assert answer.status_code == 404
    assert answer.json["error"].startswith("instances[1]: unknown scope 'nope'")
    assert "has 5 scopes" in answer.json["error"]


def serving_v1_with_hot_scopes(dsn: str):
    """(registry, client) of a back-end serving SCOPES_V1, scopes 2 and north asked for."""
    publish(dsn, SCOPES_V1)
    app = make_app(dsn)
    registry = app.extensions["model_registry"]
    assert registry.refresh()
    client = app.test_client()
    for scope in ("2", "north"):
        assert predict(client, scope).status_code == 200
    return registry, client


def test_a_new_version_is_warm_before_it_serves(store_dsn):
    registry, client = serving_v1_with_hot_scopes(store_dsn)
    v2 = publish(store_dsn, {s: (c[0] * 2, c[1], c[2]) for s, c in SCOPES_V1.items()})
    assert registry.refresh()
    assert registry.version("sales_forecast").id == v2
    # The scopes hot in v1 are in memory for v2 before the first request asks.
    for scope in ("2", "north"):
        assert registry.cache.get("sales_forecast", v2, scope) is not None
    assert registry.cache.get("sales_forecast", v2 - 1, "2") is None  # v1 dropped
    answer = predict(client, "north")
    assert answer.json["model_version"] == v2
    assert answer.json["prediction"] == pytest.approx(expected(20.0, 0.1, 0.0, "2024-03-02"))


@pytest.mark.parametrize("kept", [["north"], []], ids=["some hot scopes", "none of them"])
def test_a_new_version_without_the_hot_scopes_still_loads(store_dsn, kept):
    """Warming asks the new version for the old one's hot scopes; one that lacks some of
    them, or all, still loads (and answers its own scopes)."""
    registry, client = serving_v1_with_hot_scopes(store_dsn)
    v2 = publish(store_dsn, {s: SCOPES_V1[s] for s in kept} | {"new": (5.0, 0.0, 0.0)})
    assert registry.refresh()
    assert registry.version("sales_forecast").id == v2
    assert predict(client, "new").json["model_version"] == v2
    assert predict(client, "2").status_code == 404


def test_the_host_disk_cache_survives_a_restart_with_the_store_down(stoppable_pg, tmp_path):
    """A back-end loads scopes into the host's disk cache; the store goes down; a
    restarted back-end (a new app on the same directory) answers those scopes."""
    dsn = stoppable_pg.create_database()
    vid = publish(dsn, SCOPES_V1)
    first = make_app(dsn, CACHE_DIR=str(tmp_path / "cache"))
    assert first.extensions["model_registry"].refresh()
    assert predict(first.test_client(), "2").status_code == 200
    stoppable_pg.stop()

    restarted = make_app(dsn, CACHE_DIR=str(tmp_path / "cache"))
    registry = restarted.extensions["model_registry"]
    registry.refresh()
    assert not registry.store_ok
    client = restarted.test_client()
    answer = predict(client, "2")
    assert answer.status_code == 200, answer.json
    assert answer.json["model_version"] == vid
    assert answer.json["prediction"] == pytest.approx(expected(*SCOPES_V1["2"], "2024-03-02"))
    cold = predict(client, "north")
    assert cold.status_code == 503 and "Retry-After" in cold.headers
    stoppable_pg.start()
    assert predict(client, "north").status_code == 200  # no restart needed


def test_scopes_come_a_page_at_a_time(store_dsn):
    publish(store_dsn, many_scopes(25))
    app = make_app(store_dsn)
    assert app.extensions["model_registry"].refresh()
    client = app.test_client()
    first = client.get("/models/sales_forecast?limit=10").json
    assert first["scope_count"] == 25 and len(first["scopes"]) == 10
    assert first["scopes"][0] == "s000" and set(first["scope_metrics"]) == set(first["scopes"])
    seen = list(first["scopes"])
    url = first["next"]
    while url:
        page = client.get(url).json
        seen += page["scopes"]
        url = page["next"]
    assert seen == sorted(many_scopes(25))
    bad = client.get("/models/sales_forecast?limit=0")
    assert bad.status_code == 400 and "limit=" in bad.json["error"]


def test_the_cache_keeps_within_budget_and_skips_an_object_too_big():
    cache = ScopeCache(1000)
    for i in range(10):
        cache.put("m", 1, str(i), object(), 300)
        assert cache.bytes <= 1000
    assert cache.hot("m", 1, 5) == ["9", "8", "7"]
    assert cache.put("m", 1, "huge", object(), 5000) == 0 and cache.get("m", 1, "huge") is None
    assert object_size(np.zeros(10_000)) >= 80_000
    assert modelstore.loads_model(modelstore.dumps_model({"a": 1})) == {"a": 1}


def test_the_disk_cache_stays_within_its_budget(tmp_path):
    from serving.cache import DiskCache

    disk = DiskCache(tmp_path, budget_bytes=100_000)
    for i in range(200):  # 200 x 1 kB = twice the budget; pruned every 64 writes
        disk.write("m", 1, f"s{i}", b"x" * 1000)
    disk.prune()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 100_000
    assert disk.read("m", 1, "s199") == b"x" * 1000  # the newest stay
    disk.write("m", 2, "s0", b"y")
    assert disk.prune(keep_versions={"m": 2}) > 0  # another version of m: removed
    assert disk.read("m", 1, "s199") is None and disk.read("m", 2, "s0") == b"y"
    disk.save_versions({"m": {"id": 2}})
    assert DiskCache(tmp_path, 1).load_versions() == {"m": {"id": 2}}
