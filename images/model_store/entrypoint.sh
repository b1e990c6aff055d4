#!/bin/sh
# Initialise the cluster on first start (password from the environment or a file), then
# run PostgreSQL in the foreground, listening on every address with password auth.
set -eu
if [ -n "${MODEL_STORE_PASSWORD_FILE:-}" ]; then MODEL_STORE_PASSWORD=$(cat "$MODEL_STORE_PASSWORD_FILE"); fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${MODEL_STORE_PASSWORD:?set MODEL_STORE_PASSWORD or MODEL_STORE_PASSWORD_FILE for the first start}"
  pwfile=$(mktemp); printf '%s\n' "$MODEL_STORE_PASSWORD" > "$pwfile"
  initdb --auth-local=peer --auth-host=scram-sha-256 --username=postgres --pwfile="$pwfile" \
         --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n" >> "$PGDATA/pg_hba.conf"
  pg_ctl -w -o "-c listen_addresses=''" start >/dev/null
  psql -v ON_ERROR_STOP=1 -q -d postgres \
       -v user="$MODEL_STORE_USER" -v db="$MODEL_STORE_DB" -v pw="$MODEL_STORE_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
SQL
  pg_ctl -w stop >/dev/null
fi
# Arguments (e.g. `-c shared_buffers=512MB`) go to postgres.
exec postgres -c listen_addresses='*' -c port="$MODEL_STORE_PORT" "$@"
