#!/usr/bin/env bash
# A DBA's dump and restore keeps the event log: the restored database has the
# source's positions (and log identity) at once, and its publisher continues
# after them. Each source posted, was pruned (prune_events) and posted again,
# as every live log is. Restored with: pg_restore; pg_restore
# --single-transaction; pg_restore in sections, with the restored database's
# publisher running before the data arrives; and, from a source that uses
# pg_cron (the cluster's cron database), pg_restore with pg_cron's objects
# failing, --single-transaction without them (a TOC list), and psql -f of a
# plain dump. Checked for each: the same (position, event) pairs and
# event_log_id() as the source, event_position() at the source's, a new
# event at the next position exactly once, and events_since from the old
# head returning it.
source "$(dirname "$0")/common.sh"
PGBIN=${HD_PGBIN:-/usr/lib/postgresql/15/bin}
work="$HD_CLUSTER/e2e_restore"
rm -rf "$work"
mkdir -p "$work"
src=e2e_restore_src
cron_db=$(q postgres "SHOW cron.database_name" 2>/dev/null || true)
targets=()
cleanup() {
	local d
	for d in "${targets[@]}" $src; do
		psql -qX -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
	done
	if [ -n "$cron_db" ]; then
		psql -qX -d "$cron_db" -c "SET client_min_messages = warning" \
			-c "DROP EXTENSION IF EXISTS pg_helpdesk CASCADE" -c "DROP EXTENSION IF EXISTS pg_cron" \
			-c "DROP TABLE IF EXISTS public.e2e_session" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

post_all() { q "$1" "SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, '$2') FROM public.e2e_session" >/dev/null; }
published() { wait_until "$1" "SELECT helpdesk.publisher_lag() = 0" 20 || fail "$1: the publisher did not catch up"; }
# the (position, event id) pairs, as one fingerprint
positions() { q "$1" "SELECT count(*) || ' ' || md5(coalesce(string_agg(pos || ':' || event_id, ',' ORDER BY pos), '')) FROM helpdesk.event_positions"; }

# post, prune, post: the oldest retained position is far above 1
make_source() {
	local db=$1
	seed_sessions "$db" 8
	post_all "$db" 'before prune 1'
	post_all "$db" 'before prune 2'
	published "$db"
	sleep 0.2
	[ "$(q "$db" "SELECT helpdesk.prune_events('0 seconds')")" -gt 0 ] || fail "$db: prune_events deleted nothing"
	post_all "$db" 'after prune'
	published "$db"
	src_pos=$(q "$db" "SELECT helpdesk.event_position()")
	src_log=$(q "$db" "SELECT helpdesk.event_log_id()")
	src_positions=$(positions "$db")
	src_oldest=$(q "$db" "SELECT min(pos) FROM helpdesk.event_positions")
	[ "$src_oldest" -gt 1 ] || fail "$db: the log was not pruned (oldest position $src_oldest)"
	note "$db: position $src_pos, oldest retained $src_oldest, log $src_log"
}

new_target() {
	psql -qX -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
	targets+=("$1")
}

# what a restored database must look like, before and after one more event
check_restored() {
	local db=$1 what=$2 pos log n_new new_events k
	pos=$(q "$db" "SELECT helpdesk.event_position()")
	[ "$pos" = "$src_pos" ] || fail "$what: event_position() is $pos right after the restore, the source's is $src_pos"
	log=$(q "$db" "SELECT helpdesk.event_log_id()")
	[ "$log" = "$src_log" ] || fail "$what: event_log_id() is $log, the source's is $src_log"
	[ "$(positions "$db")" = "$src_positions" ] || fail "$what: the restored (position, event) pairs differ from the source's"
	# the publisher has run on the restored tables (a wakeup, a sweep) without renumbering them
	wait_until "$db" "SELECT pid IS NOT NULL FROM helpdesk.worker_status() WHERE kind = 'publisher'" 30 ||
		fail "$what: no publisher in $db"
	q "$db" "SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'after restore') FROM public.e2e_session WHERE n = 1" >/dev/null
	published "$db"
	n_new=$(q "$db" "SELECT count(*) FROM helpdesk.event e WHERE NOT EXISTS (
		SELECT 1 FROM helpdesk.event_positions p WHERE p.event_id = e.id AND p.pos <= $src_pos)")
	[ "$n_new" -ge 1 ] || fail "$what: the new message made no event"
	read -r pos k < <(q "$db" "SELECT helpdesk.event_position(), (SELECT count(*) FROM helpdesk.event_positions) -
		(SELECT count(DISTINCT event_id) FROM helpdesk.event_positions)" | tr '|' ' ')
	[ "$k" -eq 0 ] || fail "$what: $k events have two positions after one new message"
	[ "$pos" -eq $((src_pos + n_new)) ] || fail "$what: position $pos after $n_new new events, expected $((src_pos + n_new))"
	[ "$(q "$db" "SELECT count(*) FROM helpdesk.event_positions WHERE pos <= $src_pos")" = "${src_positions%% *}" ] ||
		fail "$what: the new events changed the restored positions"
	new_events=$(q "$db" "SELECT count(*) FILTER (WHERE message->>'body' = 'after restore') || '/' || count(*) || '/' || min(pos)
		FROM helpdesk.events_since($src_pos, 100)")
	[ "$new_events" = "1/$n_new/$((src_pos + 1))" ] ||
		fail "$what: events_since($src_pos) returned $new_events (new message/events/first position), expected 1/$n_new/$((src_pos + 1))"
	[ "$(q "$db" "SELECT helpdesk.event_log_id()")" = "$src_log" ] || fail "$what: the log identity changed after publishing"
	note "$what: positions as the source's, the next event at $((src_pos + 1))"
	# each database runs two workers: free their slots for the next one
	psql -qX -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
}

# ---- a source without pg_cron
fresh_db $src
make_source $src
"$PGBIN/pg_dump" -Fc -d $src -f "$work/src.dump" 2>"$work/dump.err" || { cat "$work/dump.err"; fail "pg_dump failed"; }

new_target e2e_restore_a
"$PGBIN/pg_restore" -d e2e_restore_a "$work/src.dump" 2>"$work/a.err" || { cat "$work/a.err"; fail "pg_restore failed"; }
check_restored e2e_restore_a "pg_restore"

new_target e2e_restore_b
"$PGBIN/pg_restore" --single-transaction -d e2e_restore_b "$work/src.dump" 2>"$work/b.err" ||
	{ cat "$work/b.err"; fail "pg_restore --single-transaction failed"; }
check_restored e2e_restore_b "pg_restore --single-transaction"

# the restored database's publisher is up (and has seen an empty log) before the data comes
new_target e2e_restore_c
"$PGBIN/pg_restore" --section=pre-data -d e2e_restore_c "$work/src.dump" 2>"$work/c.err" || { cat "$work/c.err"; fail "pg_restore pre-data failed"; }
wait_until e2e_restore_c "SELECT pid IS NOT NULL FROM helpdesk.worker_status() WHERE kind = 'publisher'" 30 ||
	fail "no publisher after CREATE EXTENSION"
sleep 0.5
"$PGBIN/pg_restore" --section=data -d e2e_restore_c "$work/src.dump" 2>>"$work/c.err" || { cat "$work/c.err"; fail "pg_restore data failed"; }
# a pass now, before the indexes come (a restore's sweep or wakeup could run it)
q e2e_restore_c "SELECT pg_sleep(0.3)" >/dev/null
"$PGBIN/pg_restore" --section=post-data -d e2e_restore_c "$work/src.dump" 2>>"$work/c.err" || { cat "$work/c.err"; fail "pg_restore post-data failed"; }
check_restored e2e_restore_c "pg_restore in sections, publisher running"

psql -qX -d postgres -c "DROP DATABASE $src WITH (FORCE)" >/dev/null

# ---- a source that uses pg_cron: its objects fail in any other database
if [ -z "$cron_db" ] || [ "$(q postgres "SELECT count(*) FROM pg_database WHERE datname = '$cron_db'")" != 1 ]; then
	fail "the test cluster has no cron database (cron.database_name)"
fi
psql -qX -v ON_ERROR_STOP=1 -d "$cron_db" -c "SET client_min_messages = warning" \
	-c "DROP EXTENSION IF EXISTS pg_helpdesk CASCADE" -c "DROP TABLE IF EXISTS public.e2e_session" \
	-c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION pg_helpdesk" \
	-c "SELECT cron.schedule('helpdesk-prune-events', '17 * * * *', \$\$SELECT helpdesk.prune_events('7 days')\$\$)" >/dev/null
make_source "$cron_db"
"$PGBIN/pg_dump" -Fc -d "$cron_db" -f "$work/cron.dump" 2>"$work/dump.err" || { cat "$work/dump.err"; fail "pg_dump failed"; }
"$PGBIN/pg_dump" -Fp -d "$cron_db" -f "$work/cron.sql" 2>"$work/dump.err" || { cat "$work/dump.err"; fail "pg_dump -Fp failed"; }

new_target e2e_restore_d
rc=0
"$PGBIN/pg_restore" -d e2e_restore_d "$work/cron.dump" 2>"$work/d.err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "pg_cron" "$work/d.err" || { cat "$work/d.err"; fail "expected pg_cron's objects to fail outside $cron_db (rc $rc)"; }
# every failed command is one of pg_cron's
grep -v -i "cron" < <(grep "^Command was:" "$work/d.err") | grep -c . >/dev/null && { cat "$work/d.err"; fail "pg_restore failed on something else than pg_cron"; }
check_restored e2e_restore_d "pg_restore, pg_cron's objects failing"

new_target e2e_restore_e
"$PGBIN/pg_restore" -l "$work/cron.dump" | grep -v -E ' (pg_cron|cron) ' >"$work/nocron.list"
"$PGBIN/pg_restore" --single-transaction -L "$work/nocron.list" -d e2e_restore_e "$work/cron.dump" 2>"$work/e.err" ||
	{ cat "$work/e.err"; fail "pg_restore --single-transaction without pg_cron's objects failed"; }
check_restored e2e_restore_e "pg_restore --single-transaction, pg_cron's objects left out"

new_target e2e_restore_f
psql -qX -d e2e_restore_f -f "$work/cron.sql" >"$work/f.out" 2>&1 || true
grep -q "pg_cron" "$work/f.out" || { cat "$work/f.out"; fail "expected pg_cron's objects to fail in psql -f"; }
check_restored e2e_restore_f "psql -f of a plain dump, pg_cron's objects failing"
echo "event log restore: ok"
