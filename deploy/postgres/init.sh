#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d). One role and one database per owner, each role the owner of its
# database only and the only one that may connect to it: no service reads another's tables.
# The passwords come from the container's environment (<OWNER>_DB_PASSWORD, from .env).
set -eu

for owner in intake meetings tracking notify gateway; do
  variable="$(echo "$owner" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$variable")" || { echo "$variable is not set" >&2; exit 1; }
  psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       --set owner="$owner" --set password="$password" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'password';
CREATE DATABASE :"owner" OWNER :"owner";
REVOKE CONNECT, TEMPORARY ON DATABASE :"owner" FROM PUBLIC;
SQL
done
