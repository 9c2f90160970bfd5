#!/usr/bin/env bash
# Without shared_preload_libraries, CREATE EXTENSION fails with a message
# that says what to do (and the server keeps running).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
port=$((HD_TEST_PORT + 1))
dir=$(hd_cluster_dir "$HD_CLUSTER/no-preload")
sock=/tmp/hd-sock-$port
rm -rf "$dir/data" "$sock"; mkdir -p "$sock"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$sock" "$dir"
as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\n" "$port" "$sock" >>"$dir/data/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true' EXIT
out=$(psql -X -h "$sock" -p "$port" -U postgres -d postgres -c 'CREATE EXTENSION pg_helpdesk' 2>&1 || true)
echo "$out" | sed 's/^/   /'
grep -q 'ERROR:  pg_helpdesk must be loaded via shared_preload_libraries' <<<"$out" || fail "no clear error"
grep -q "HINT:  Add pg_helpdesk to shared_preload_libraries" <<<"$out" || fail "no hint"
[ "$(psql -XAt -h "$sock" -p "$port" -U postgres -d postgres -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_helpdesk'")" = 0 ] \
	|| fail "extension half-created"
echo "preload required: ok"
