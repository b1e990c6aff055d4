#!/bin/sh
# Create the database cluster on first start, then run PostgreSQL in the foreground with
# the arguments given (the model_store role passes listen_addresses, port and hba_file).
# The superuser `postgres` gets no password: it logs in only over the local socket
# (peer). The login roles, their passwords and the database are the role's to manage.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --auth-local=peer --auth-host=scram-sha-256 --username=postgres \
         --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
exec postgres "$@"
