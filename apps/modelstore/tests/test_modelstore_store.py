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
    vid = modelstore.publish_version(store_dsn, {"scope_type": "store"}, models)
    info = modelstore.latest_version(store_dsn)
    assert info.id == vid
    vid2, created, params, metrics = info
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
    vid = modelstore.publish_version(None, {}, {"a": (_model(), {})})
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
        modelstore.publish_version(store_dsn, {"run": i}, {"s": (_model(i), {})}, keep=3)
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
    "models, keep, match",
    [({}, 5, "at least one scope"), ({"a": (b"x", {})}, 0, "keep must be at least 1")],
)
def test_publish_rejects_bad_arguments(store_dsn, models, keep, match):
    with pytest.raises(ValueError, match=match):
        modelstore.publish_version(store_dsn, {}, models, keep=keep)
    assert modelstore.list_versions(store_dsn) == []
