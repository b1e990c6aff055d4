-- Model store schema. Idempotent: safe to run on every deploy and on every start of
-- the training job (modelstore.ensure_schema runs this file).
--
-- One row of model_versions is one training run of one model; scope_models holds one fitted model
-- per scope of that run. Readers only ever look at versions WHERE published: the
-- publisher writes the version row, all of its scope rows and flips `published` in a
-- single transaction, so a version is either invisible or complete.

CREATE TABLE IF NOT EXISTS model_versions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created      timestamptz NOT NULL DEFAULT now(),
    params       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    metrics      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    scope_count  integer     NOT NULL DEFAULT 0 CHECK (scope_count >= 0),
    published    boolean     NOT NULL DEFAULT false,
    published_at timestamptz
);

-- Versions belong to a model (a package of the models directory). A store created before
-- models had names held only the sales forecaster's versions.
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS model text NOT NULL DEFAULT 'sales_forecast';
ALTER TABLE model_versions ALTER COLUMN model DROP DEFAULT;

DROP INDEX IF EXISTS model_versions_published_idx;
CREATE INDEX IF NOT EXISTS model_versions_model_published_idx
    ON model_versions (model, id DESC) WHERE published;

CREATE TABLE IF NOT EXISTS scope_models (
    version_id bigint NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    scope      text   NOT NULL,
    model      bytea  NOT NULL,
    metrics    jsonb  NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (version_id, scope)
);

-- Aliases: a name per model (production, candidate, ...) pointing at one published
-- version. Serving answers with `production` (a model with no production alias yet: its
-- newest version). An alias moves only by a command or the training run's quality gate,
-- and every move is a row of alias_moves. A version an alias points to is never pruned.
CREATE TABLE IF NOT EXISTS model_aliases (
    model      text   NOT NULL,
    alias      text   NOT NULL CHECK (alias ~ '^[a-z][a-z0-9_-]{0,39}$'),
    version_id bigint NOT NULL REFERENCES model_versions (id),
    PRIMARY KEY (model, alias)
);

CREATE TABLE IF NOT EXISTS alias_moves (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model        text        NOT NULL,
    alias        text        NOT NULL,
    from_version bigint,
    to_version   bigint,
    moved_at     timestamptz NOT NULL DEFAULT now(),
    moved_by     text        NOT NULL,
    reason       text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alias_moves_model_idx ON alias_moves (model, alias, id DESC);

-- The prediction log (serving, off by default): a sampled record of requests and their
-- answers, for a training run or a notebook to read back (modelstore.read_prediction_log).
-- Serving's read-only role writes it only through log_predictions, the writer's function
-- (EXECUTE granted to the reader by the model_store role, to nobody else), which takes at
-- most 1,000 entries a call and keeps the log within the caller's bound (at least 1,000
-- rows): the newest rows stay.
CREATE TABLE IF NOT EXISTS prediction_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at  timestamptz NOT NULL DEFAULT now(),
    model      text   NOT NULL,
    version_id bigint NOT NULL,
    alias      text,
    scope      text   NOT NULL,
    input      jsonb  NOT NULL,
    output     jsonb,
    backend    text   NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS prediction_log_model_idx ON prediction_log (model, logged_at);

CREATE OR REPLACE FUNCTION log_predictions(entries jsonb, keep_rows bigint)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO prediction_log (model, version_id, alias, scope, input, output, backend)
    SELECT left(e ->> 'model', 100), (e ->> 'version')::bigint, left(e ->> 'alias', 40),
           left(e ->> 'scope', 200), coalesce(e -> 'input', '{}'::jsonb), e -> 'output',
           left(coalesce(e ->> 'backend', ''), 200)
      FROM jsonb_array_elements(entries) WITH ORDINALITY AS t(e, n)
     WHERE n <= 1000;
    GET DIAGNOSTICS added = ROW_COUNT;
    DELETE FROM prediction_log
     WHERE id <= (SELECT max(id) FROM prediction_log) - greatest(keep_rows, 1000);
    RETURN added;
END $$;
REVOKE ALL ON FUNCTION log_predictions(jsonb, bigint) FROM PUBLIC;
