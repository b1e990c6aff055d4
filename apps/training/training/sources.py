"""Inputs of the training job: ``scope`` plus a model's input fields and target.

``synthetic_sales`` builds the deterministic synthetic data set (``scope, date, sales``)
on the executors; the other functions are pure DataFrame -> DataFrame transforms over any
Spark input, driven by the model's schema.
"""

from __future__ import annotations

import math
import os
from datetime import date

from modelstore.contract import Model
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .args import Source

# Different generators for each scope type, so "store 7" and "product 7" differ.
_TYPE_SALT = {"store": 1, "product": 2}
_TYPE_LEVEL = {"store": (50.0, 150.0), "product": (5.0, 45.0)}  # base, spread
_ISIN_LIMIT = 5_000


class InputError(ValueError):
    """The input cannot be used; the message says what is wrong and how to fix it."""


def _unit(seed: int, salt: int, scope: Column, *keys) -> Column:
    """A deterministic uniform number in [0, 1) per (seed, salt, scope, keys)."""
    h = F.xxhash64(
        F.lit(seed), F.lit(salt), scope, *[F.lit(k) if isinstance(k, int) else k for k in keys]
    )
    return F.pmod(h, F.lit(1_000_003)).cast("double") / F.lit(1_000_003.0)


def synthetic_sales(
    spark: SparkSession,
    scope_type: str,
    scopes: list[str] | tuple[str, ...],
    start: date,
    end: date,
    seed: int = 42,
    noise: float = 0.05,
    partitions: int | None = None,
) -> DataFrame:
    """Daily sales of ``scopes`` between ``start`` and ``end`` (inclusive).

    Per scope (all drawn deterministically from ``seed``): a level, a linear trend per
    day and a weekly seasonality; plus Gaussian noise of ``noise`` x level per day. The
    rows are computed on the executors (scopes x days), so it scales with the cluster;
    the driver only holds the list of scope ids. ``noise=0`` gives the exact signal.
    """
    salt = _TYPE_SALT[scope_type]
    base, spread = _TYPE_LEVEL[scope_type]
    days = (end - start).days + 1
    ids = spark.createDataFrame([(int(s),) for s in scopes], "scope_id long")
    grid = spark.range(0, days, numPartitions=partitions or None).withColumnRenamed("id", "day")
    sid = F.col("scope_id")
    day = F.col("day")
    level = F.lit(base) + F.lit(spread) * _unit(seed, salt, sid, 1)
    trend = (_unit(seed, salt, sid, 2) - F.lit(0.2)) * F.lit(0.3) * level / F.lit(100.0)
    amplitude = (F.lit(0.1) + F.lit(0.25) * _unit(seed, salt, sid, 3)) * level
    phase = F.lit(7.0) * _unit(seed, salt, sid, 4)
    the_date = F.date_add(F.lit(start), day.cast("int"))
    dow = F.pmod(F.dayofweek(the_date) + F.lit(5), F.lit(7))  # 0 = Monday
    season = amplitude * F.sin(F.lit(2 * math.pi) * (dow.cast("double") + phase) / F.lit(7.0))
    u1 = F.lit(1.0) - _unit(seed, salt, sid, day, F.lit(5))  # (0, 1]
    u2 = _unit(seed, salt, sid, day, F.lit(6))
    gauss = F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)
    sales = level + trend * day.cast("double") + season + F.lit(float(noise)) * level * gauss
    return ids.crossJoin(grid).select(
        sid.cast("string").alias("scope"),
        the_date.alias("date"),
        F.greatest(sales, F.lit(0.0)).alias("sales"),
    )


def read_source(spark: SparkSession, source: Source) -> DataFrame:
    """The raw input DataFrame of a file or JDBC source (lazy; the schema is resolved)."""
    try:
        if source.kind == "parquet":
            return spark.read.parquet(source.location)
        if source.kind == "csv":
            return spark.read.option("header", "true").csv(source.location)
        if source.kind == "jdbc":
            reader = spark.read.format("jdbc").option("url", source.location)
            reader = reader.option("dbtable", source.table)
            for option, env in (
                ("user", "TRAINING_JDBC_USER"),
                ("password", "TRAINING_JDBC_PASSWORD"),
                ("driver", "TRAINING_JDBC_DRIVER"),
            ):
                if os.environ.get(env):
                    reader = reader.option(option, os.environ[env])
            return reader.load()
    except Exception as exc:  # AnalysisException, Py4JJavaError, ...
        raise InputError(
            f"cannot read input {source.describe()}: {_short(exc)}. Check that it exists, "
            "is readable by the job and is in the stated format"
            + (
                " (a JDBC source also needs its driver jar, e.g. spark-submit --jars)"
                if source.kind == "jdbc"
                else ""
            )
        ) from exc
    raise InputError(f"unknown source kind {source.kind!r}")


def model_columns(df: DataFrame, model: Model, describe: str = "input") -> DataFrame:
    """The model's columns (scope column, fields, target) matched case-insensitively and
    renamed to the model's spelling, the scope column to ``scope``; an optional field the
    input lacks is a null column. InputError naming what is missing and the fix."""
    by_lower = {c.strip().lower(): c for c in df.columns}
    needed = [(model.scope_column, "the scope")]
    needed += [(f.name, f.type) for f in model.schema.fields if f.required]
    needed += [(model.target, "the target")]
    missing = [name for name, _ in needed if name.lower() not in by_lower]
    if missing:
        wanted = ", ".join(f"{name} ({what})" for name, what in needed)
        raise InputError(
            f"{describe} lacks column(s) {', '.join(missing)} (it has: "
            f"{', '.join(df.columns) or 'none'}): model '{model.name}' trains from the "
            f"columns {wanted}"
        )
    picked = [F.col(f"`{by_lower[model.scope_column.lower()]}`").alias("scope")]
    for f in model.schema.fields:
        source = by_lower.get(f.name.lower())
        column = F.col(f"`{source}`") if source else F.lit(None).cast("string")
        picked.append(column.alias(f.name))
    picked.append(F.col(f"`{by_lower[model.target.lower()]}`").alias(model.target))
    return df.select(*picked)


def _as_date(df: DataFrame, name: str) -> Column:
    kind = df.schema[name].dataType
    if isinstance(kind, T.DateType):
        return F.col(name)
    if isinstance(kind, T.TimestampType | T.TimestampNTZType):
        return F.to_date(F.col(name))
    text = F.trim(F.col(name).cast("string"))
    return F.to_date(
        F.coalesce(F.try_to_timestamp(text, F.lit("yyyy-MM-dd")), F.try_to_timestamp(text))
    )


def normalize(df: DataFrame, model: Model) -> DataFrame:
    """``scope`` a string; numbers double, dates date, categories and strings trimmed
    strings; the target double. Unparseable values become null (the per-scope check of
    the schema then counts them)."""
    types = dict(df.dtypes)
    scope = F.col("scope")
    if types["scope"] in ("float", "double") or types["scope"].startswith("decimal"):
        scope = scope.cast("long")  # 7.0 -> "7"
    columns = [F.trim(scope.cast("string")).alias("scope")]
    for f in model.schema.fields:
        if f.type in ("number", "integer"):
            value = F.col(f.name).try_cast("double")
        elif f.type == "date":
            value = _as_date(df, f.name)
        else:
            value = F.trim(F.col(f.name).cast("string"))
        columns.append(value.alias(f.name))
    columns.append(F.col(model.target).try_cast("double").alias(model.target))
    return df.select(*columns)


def filter_span(df: DataFrame, start: date | None, end: date | None, column: str) -> DataFrame:
    if start is not None:
        df = df.where(F.col(column) >= F.lit(start))
    if end is not None:
        df = df.where(F.col(column) <= F.lit(end))
    return df


def filter_scopes(df: DataFrame, scopes: list[str] | tuple[str, ...] | None) -> DataFrame:
    if scopes is None:
        return df
    if len(scopes) <= _ISIN_LIMIT:
        return df.where(F.col("scope").isin(list(scopes)))
    wanted = df.sparkSession.createDataFrame([(s,) for s in scopes], "scope string")
    return df.join(F.broadcast(wanted), "scope", "left_semi")


def scope_stats(df: DataFrame) -> DataFrame:
    """Rows per scope (a null scope is its own group, reported by the caller)."""
    return df.groupBy("scope").agg(F.count(F.lit(1)).alias("rows"))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
