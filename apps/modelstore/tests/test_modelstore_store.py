"""The model store against a real PostgreSQL: schema, publish, read, prune."""

import modelstore
import psycopg
import pytest
from sklearn.linear_model import LinearRegression


def _model(slope: float = 1.0):
    return LinearRegression().fit([[0.0], [1.0]], [0.0, slope])


def test_schema_is_idempotent(store_dsn):
    with modelstore.connect(store_dsn) as conn:
        modelstore.ensure_schema(conn)
        modelstore.ensure_schema(conn)
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {"model_versions", "scope_models"} <= tables


def test_schema_sql_runs_as_a_script(store_dsn):
    # The same file can be applied by psql / Ansible, twice.
    with psycopg.connect(store_dsn, autocommit=True) as conn:
        conn.execute(modelstore.schema_sql())
        conn.execute(modelstore.schema_sql())


def test_empty_store_has_no_version(store_dsn):
    assert modelstore.latest_version(store_dsn) is None  # no schema yet
    with modelstore.connect(store_dsn) as conn:
        modelstore.ensure_schema(conn)
    assert modelstore.latest_version(store_dsn) is None
    assert modelstore.list_versions(store_dsn) == []
    with pytest.raises(modelstore.VersionNotFound):
        modelstore.load_version(store_dsn, 1)


def test_publish_and_read_back(store_dsn):
    models = {
        "1": (modelstore.dumps_model(_model(2.0)), {"mae": 1.0, "rmse": 2.0}),
        2: (_model(3.0), {"mae": 3.0, "rmse": float("nan")}),  # objects are serialised too
    }
    vid = modelstore.publish_version(store_dsn, {"scope_type": "store"}, models, model="m")
    info = modelstore.latest_version(store_dsn)
    assert info.id == vid and info.model == "m"
    vid2, created, params, metrics, name, count = info
    assert count == 2
    assert params == {"scope_type": "store"}
    assert created.tzinfo is not None
    assert metrics == {"mae_max": 3.0, "mae_mean": 2.0, "rmse_max": 2.0, "rmse_mean": 2.0}
    loaded = modelstore.load_version(store_dsn, vid)
    assert set(loaded) == {"1", "2"}
    assert loaded["2"].predict([[1.0]])[0] == pytest.approx(3.0)
    assert modelstore.load_scope_metrics(store_dsn, vid)["2"] == {"mae": 3.0, "rmse": None}
    assert modelstore.list_versions(store_dsn)[0]["scope_count"] == 2


def test_dsn_from_environment(store_dsn, monkeypatch):
    monkeypatch.setenv("MODEL_STORE_DSN", store_dsn)
    vid = modelstore.publish_version(None, {}, {"a": (_model(), {})}, model="m")
    assert modelstore.latest_version().id == vid


def test_missing_dsn_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("MODEL_STORE_DSN", raising=False)
    with pytest.raises(modelstore.StoreConfigError, match="MODEL_STORE_DSN"):
        modelstore.latest_version()


def test_unreachable_store(closed_port_dsn):
    with pytest.raises(modelstore.StoreUnavailable, match="cannot connect"):
        modelstore.latest_version(closed_port_dsn)


def test_keep_prunes_oldest(store_dsn):
    ids = [
        modelstore.publish_version(store_dsn, {"run": i}, {"s": (_model(i), {})}, keep=3, model="m")
        for i in range(5)
    ]
    listed = [v["id"] for v in modelstore.list_versions(store_dsn)]
    assert listed == ids[-3:][::-1]
    with pytest.raises(modelstore.VersionNotFound):
        modelstore.load_version(store_dsn, ids[0])
    with psycopg.connect(store_dsn) as conn:  # the pruned versions' models are gone too
        (orphans,) = conn.execute(
            "SELECT count(*) FROM scope_models WHERE version_id = ANY(%s)", (ids[:2],)
        ).fetchone()
    assert orphans == 0


@pytest.mark.parametrize(
    "models, keep, match, name",
    [
        ({}, 5, "at least one scope", "m"),
        ({"a": (b"x", {})}, 0, "keep must be at least 1", "m"),
        ({"a": (b"x", {})}, 5, "needs the name of its model", ""),
    ],
)
def test_publish_rejects_bad_arguments(store_dsn, models, keep, match, name):
    with pytest.raises(ValueError, match=match):
        modelstore.publish_version(store_dsn, {}, models, keep=keep, model=name)
    assert modelstore.list_versions(store_dsn) == []


def test_versions_and_keep_are_per_model(store_dsn):
    """Each model keeps its own newest versions; publishing one never prunes another."""

    def publish(name, run):
        return modelstore.publish_version(
            store_dsn, {"run": run}, {"s": (_model(run), {"mae": run})}, keep=2, model=name
        )

    a = [publish("a", i) for i in range(3)]
    b = [publish("b", i) for i in range(4)]
    a.append(publish("a", 9))
    assert [v["id"] for v in modelstore.list_versions(store_dsn, "a")] == [a[3], a[2]]
    assert [v["id"] for v in modelstore.list_versions(store_dsn, "b")] == [b[3], b[2]]
    latest = modelstore.latest_versions(store_dsn)
    assert {name: info.id for name, info in latest.items()} == {"a": a[3], "b": b[3]}
    assert latest["a"].params == {"run": 9} and latest["a"].model == "a"
    assert modelstore.latest_version(store_dsn, "b").id == b[3]
    assert modelstore.latest_version(store_dsn).id == a[3]  # the newest of any model
    assert modelstore.latest_version(store_dsn, "nope") is None


def test_a_store_from_before_model_names_is_migrated(store_dsn):
    """A store created by the previous schema (no model column) keeps its versions, as
    the sales forecaster's, and takes new ones of any model."""
    with psycopg.connect(store_dsn) as conn:
        conn.execute(
            "CREATE TABLE model_versions (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " created timestamptz NOT NULL DEFAULT now(), params jsonb NOT NULL DEFAULT '{}',"
            " metrics jsonb NOT NULL DEFAULT '{}', scope_count integer NOT NULL DEFAULT 0,"
            " published boolean NOT NULL DEFAULT false, published_at timestamptz)"
        )
        conn.execute("INSERT INTO model_versions (published, scope_count) VALUES (true, 1)")
    vid = modelstore.publish_version(store_dsn, {}, {"s": (_model(), {})}, model="other")
    latest = modelstore.latest_versions(store_dsn)
    assert latest["sales_forecast"].id == 1 and latest["other"].id == vid


def test_a_version_pickled_before_the_model_contract_still_loads():
    """Versions published before the contract name modelstore.features.DateFeatures; the
    class moved to the sales_forecast package, and the old name still unpickles to it."""
    import pandas as pd
    import sales_forecast
    from sales_forecast.features import DateFeatures

    days = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=28).strftime("%Y-%m-%d")})
    pipeline = sales_forecast.build_model().fit(days, [float(i % 7 + i / 10) for i in range(28)])
    DateFeatures.__module__ = "modelstore.features"  # as the class was named then
    try:
        blob = modelstore.dumps_model(pipeline, compress=0)  # as they were stored then
    finally:
        DateFeatures.__module__ = "sales_forecast.features"
    assert b"modelstore.features" in blob and b"sales_forecast.features" not in blob
    loaded = modelstore.loads_model(blob)
    assert isinstance(loaded.named_steps["features"], DateFeatures)
    ahead = pd.DataFrame({"date": ["2024-02-05", "2024-02-06"]})
    assert list(loaded.predict(ahead)) == list(pipeline.predict(ahead))


def _rows(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_staged_version_is_invisible_until_published(store_dsn):
    """Executors write scope rows into a staged version in batches (a retried batch
    rewrites its rows); readers see nothing until the publish makes all of it visible."""
    vid = modelstore.stage_version(store_dsn, {"run": 1}, model="m")
    blob = modelstore.dumps_model(_model(3.0))
    assert modelstore.write_scopes(store_dsn, vid, [("a", blob, {"mae": 1.0})]) == 1
    with modelstore.connect(store_dsn) as conn:  # a second task, one connection per batch
        modelstore.write_scopes(None, vid, [("b", blob, {"mae": 3.0})], conn=conn)
        modelstore.write_scopes(None, vid, [("b", blob, {"mae": 3.0})], conn=conn)  # retried
    assert modelstore.latest_version(store_dsn, "m") is None
    with pytest.raises(modelstore.VersionNotFound):
        modelstore.load_scopes(store_dsn, vid, ["a"])
    with pytest.raises(ValueError, match="holds 2 scope models, the run trained 3"):
        modelstore.publish_staged(store_dsn, vid, model="m", expected_scopes=3)
    assert modelstore.latest_version(store_dsn, "m") is None
    modelstore.publish_staged(store_dsn, vid, model="m", expected_scopes=2, params={"rows": 9})
    info = modelstore.latest_version(store_dsn, "m")
    assert (info.id, info.params, info.metrics) == (
        vid,
        {"rows": 9},
        {"mae_mean": 2.0, "mae_max": 3.0},
    )
    loaded = modelstore.load_scopes(store_dsn, vid, ["a", "b", "nope"])
    assert sorted(loaded) == ["a", "b"]
    assert modelstore.loads_model(loaded["a"]).predict([[1.0]])[0] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="published already"):
        modelstore.publish_staged(store_dsn, vid, model="m")


def test_a_discarded_version_leaves_no_row(store_dsn):
    vid = modelstore.stage_version(store_dsn, {}, model="m")
    modelstore.write_scopes(store_dsn, vid, [(str(i), b"x", {}) for i in range(50)])
    modelstore.discard_version(store_dsn, vid)
    assert (_rows(store_dsn, "model_versions"), _rows(store_dsn, "scope_models")) == (0, 0)
    with pytest.raises(modelstore.VersionNotFound):
        modelstore.publish_staged(store_dsn, vid, model="m")


def test_a_stale_staged_version_is_removed_by_the_next_publish(store_dsn):
    old = modelstore.stage_version(store_dsn, {}, model="m")
    modelstore.write_scopes(store_dsn, old, [("a", b"x", {})])
    fresh = modelstore.stage_version(store_dsn, {}, model="m")  # a run still going
    with psycopg.connect(store_dsn) as conn:
        conn.execute("UPDATE model_versions SET created = now() - interval '2 days' WHERE id = %s",
                     (old,))  # fmt: skip
    modelstore.publish_version(store_dsn, {}, {"a": (_model(), {})}, model="m")
    with psycopg.connect(store_dsn) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM model_versions WHERE NOT published")}
    assert ids == {fresh}


def test_scopes_page_through_a_version(store_dsn):
    models = {f"s{i:03d}": (b"x", {"i": i}) for i in range(250)}
    vid = modelstore.publish_version(store_dsn, {}, models, model="m")
    seen, after = [], None
    while True:
        page = modelstore.list_scopes(store_dsn, vid, after=after, limit=100)
        if not page:
            break
        assert len(page) <= 100
        seen += page
        after = page[-1][0]
    assert [s for s, _ in seen] == sorted(models)
    assert seen[7] == ("s007", {"i": 7})


def test_stored_models_are_compressed_and_old_plain_pickles_load():
    import numpy as np

    fitted = {"weights": np.zeros(100_000)}
    packed, plain = modelstore.dumps_model(fitted), modelstore.dumps_model(fitted, compress=0)
    assert len(packed) * 20 < len(plain)
    for blob in (packed, plain):
        assert modelstore.loads_model(blob)["weights"].shape == (100_000,)
