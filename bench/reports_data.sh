#!/usr/bin/env bash
# Full-size bench data for bench/reports.sh (issue 20: 1M sessions, 10M
# messages for the measured tenant), in a persistent cluster outside the
# checkout that later runs reuse without generating again.
#
#   bash bench/reports_data.sh start      # create (initdb + generate) if missing, start
#   bash bench/reports_data.sh stop
#   bash bench/reports_data.sh generate   # start, and generate again even if present
#   bash bench/reports_data.sh status
#
#   REPORTS_DATA_DIR (/opt/hdtest/big/reports20)  REPORTS_PORT (HD_TEST_PORT + 20, 55452)
#   REPORTS_SESSIONS (1000000: tenant 1's sessions; the 5 other tenants get
#   REPORTS_OTHERS = 0.3 of that between them, 40/25/15/12/8 %)
#   REPORTS_MSGS (10: mean messages per session, 2..2*MSGS-2)  REPORTS_DAYS (35)
#   REPORTS_SHARED_BUFFERS (3GB)
#
# The postmaster runs at nice 19 in its own autogroup (setsid; 19 written to
# /proc/PID/autogroup: autogroup scheduling ignores plain nice between groups),
# since the machine is shared. Every backend inherits that.
#
# How the data is made (bench/reports/generate_big.sql; NOT through the API,
# and what that bypasses): see the comment at the top of that file. The
# cluster is generated with wal_level = minimal (the load transaction
# TRUNCATEs the tables it fills, so their rows and index builds write no WAL)
# and restarted with wal_level = replica before anything is measured.
#
# A database made with other REPORTS_* values is regenerated (public.bench_data
# records the parameters, the generation times and the row counts).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$HD_ROOT"

RD_DIR=${REPORTS_DATA_DIR:-/opt/hdtest/big/reports20}
RD_PORT=${REPORTS_PORT:-$((${HD_TEST_PORT:-55432} + 20))}
RD_SESSIONS=${REPORTS_SESSIONS:-1000000}
RD_OTHERS=${REPORTS_OTHERS:-0.3}
RD_MSGS=${REPORTS_MSGS:-10}
RD_DAYS=${REPORTS_DAYS:-35}
RD_SB=${REPORTS_SHARED_BUFFERS:-3GB}
RD_SOCK=${REPORTS_SOCKET_DIR:-/tmp/hd-bench-big-$RD_PORT}  # not /tmp/hd-sock-PORT: no TCP, and no clash with test clusters
RD_PARAMS="sessions=$RD_SESSIONS others=$RD_OTHERS msgs=$RD_MSGS days=$RD_DAYS"

rd_q() { psql -h "$RD_SOCK" -p "$RD_PORT" -U postgres -qXAt -v ON_ERROR_STOP=1 -d helpdesk "$@"; }

rd_running() { [ -f "$RD_DIR/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$RD_DIR/data" status >/dev/null 2>&1; }

# rd_conf minimal|replica: the settings the load and the measurements run with
rd_conf() {
	local walcfg
	if [ "$1" = minimal ]; then walcfg="wal_level = minimal
max_wal_senders = 0"; else walcfg="wal_level = replica
max_wal_senders = 10"; fi
	cat >"$RD_DIR/data/bench.conf" <<EOF
port = $RD_PORT
listen_addresses = ''
unix_socket_directories = '$RD_SOCK'
shared_preload_libraries = 'pg_helpdesk, pg_cron'
cron.database_name = 'helpdesk'
cron.host = '$RD_SOCK'
max_worker_processes = 32
helpdesk.max_databases = 4
max_connections = 100
shared_buffers = $RD_SB
maintenance_work_mem = 1GB
work_mem = 64MB
max_wal_size = 16GB
checkpoint_timeout = 30min
log_line_prefix = '%m [%p] %b '
helpdesk.launcher_naptime = 5
helpdesk.token_secret = '$(cat "$RD_DIR/token_secret")'
helpdesk.encryption_key_file = 'encryption.key'
$walcfg
EOF
	chown postgres:postgres "$RD_DIR/data/bench.conf" 2>/dev/null || true
}

rd_start() {
	rd_running && return 0
	mkdir -p "$RD_SOCK"; [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$RD_SOCK"
	# nice 19 and an autogroup of its own (setsid): the backends inherit both
	(cd / && setsid nice -n 19 runuser -u postgres -- "$PGBIN/pg_ctl" -D "$RD_DIR/data" -l "$RD_DIR/postgres.log" -w -t 120 start >/dev/null)
	local pid; pid=$(head -1 "$RD_DIR/data/postmaster.pid")
	echo 19 >"/proc/$pid/autogroup" 2>/dev/null || hd_log "could not set the autogroup nice of $pid"
	hd_log "cluster $RD_DIR up on $RD_SOCK port $RD_PORT (postmaster $pid, nice $(ps -o ni= -p "$pid" | tr -d ' '), autogroup: $(cat "/proc/$pid/autogroup" 2>/dev/null))"
}

rd_stop() { rd_running && as_pg "$PGBIN/pg_ctl" -D "$RD_DIR/data" -m fast -w -t 300 stop >/dev/null || true; }

rd_restart_with() { rd_stop; rd_conf "$1"; rd_start; }

rd_initdb() {
	rd_stop
	rm -rf "$RD_DIR/data"; mkdir -p "$RD_DIR"; chown postgres:postgres "$RD_DIR"
	as_pg "$PGBIN/initdb" -D "$RD_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
	(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RD_DIR/data/encryption.key")
	[ -f "$RD_DIR/token_secret" ] || (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RD_DIR/token_secret")
	chown postgres:postgres "$RD_DIR/data/encryption.key"
	echo "include_if_exists = 'bench.conf'" >>"$RD_DIR/data/postgresql.conf"
}

rd_generated() { rd_q -c "SELECT params FROM public.bench_data" 2>/dev/null | grep -cxF "$RD_PARAMS" >/dev/null; }

rd_generate() {
	local t0 t1 t2 t3 tz
	rd_initdb
	rd_conf minimal
	rd_start
	psql -h "$RD_SOCK" -p "$RD_PORT" -U postgres -qX -d postgres -c 'CREATE DATABASE helpdesk' >/dev/null
	rd_q -c 'CREATE EXTENSION pg_helpdesk' -c 'CREATE EXTENSION pg_trgm'
	t0=$(date +%s)
	# the measured window's end: today's midnight in tenant 1's zone (Asia/Shanghai)
	tz=$(rd_q -c "SELECT date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'")
	hd_log "loading ($RD_PARAMS) up to $tz"
	rd_q -v sessions="$RD_SESSIONS" -v others="$RD_OTHERS" -v msgs="$RD_MSGS" -v days="$RD_DAYS" -v t1="$tz" \
		-f bench/reports/generate_big.sql >"$RD_DIR/generate.out"
	t1=$(date +%s)
	hd_log "loaded in $((t1 - t0)) s; search keys and rollups (two sessions at once)"
	# the search index: rebuild_search_index per tenant (what the API offers for
	# messages the log no longer has), the indexes built after the keys
	rd_q -f bench/reports/search_keys.sql >"$RD_DIR/keys.out" &
	local keys=$!
	# rollups: rebuild_rollups of every tenant's whole history, a week per call
	# (the same rows as one call: a bucket's rows depend on that bucket's raw rows only)
	rd_q -c "SELECT helpdesk.rebuild_rollups(t.id, w, least(w + interval '7 days', now()))
	         FROM helpdesk.tenant t,
	              generate_series(date_trunc('day', '$tz'::timestamptz - interval '$((RD_DAYS + 1)) days'), now(), interval '7 days') w
	         ORDER BY t.id, w" >/dev/null
	t2=$(date +%s)
	wait $keys
	t3=$(date +%s)
	hd_log "rollups in $((t2 - t1)) s, search keys + GIN in $((t3 - t1)) s"
	rd_q -c "ANALYZE"
	rd_q -c "UPDATE public.bench_data SET load_s = $((t1 - t0)), rollups_s = $((t2 - t1)), keys_s = $((t3 - t1)), total_s = $((t3 - t0)),
	                t1 = '$tz', params = '$RD_PARAMS',
	                sizes = (SELECT pg_size_pretty(pg_database_size(current_database())) || ' database; message ' ||
	                                pg_size_pretty(pg_total_relation_size('helpdesk.message')) || ' with indexes, message_search ' ||
	                                pg_size_pretty(pg_total_relation_size('helpdesk.message_search')) || ' (GIN ' ||
	                                pg_size_pretty(pg_relation_size('helpdesk.message_search_keys')) || ')')"
	rd_restart_with replica
	rd_q -c "CHECKPOINT"
	hd_log "generated: $(rd_q -c "SELECT row_to_json(b) FROM public.bench_data b")"
}

rd_ensure() {
	if [ -f "$RD_DIR/data/PG_VERSION" ]; then
		rd_conf replica
		rd_start
		rd_generated && return 0
		hd_log "the data in $RD_DIR is not $RD_PARAMS: generating again"
	fi
	rd_generate
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case ${1:-start} in
	start) rd_ensure ;;
	stop) rd_stop ;;
	generate) rd_generate ;;
	status) rd_running && rd_q -c "SELECT row_to_json(b) FROM public.bench_data b" || echo "not running" ;;
	*) echo "usage: $0 start|stop|generate|status" >&2; exit 2 ;;
	esac
fi
