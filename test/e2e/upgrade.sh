#!/usr/bin/env bash
# The upgrade chain: a database made by the released 0.1.0 (its library built
# from git, on a private copy of PostgreSQL 15, with its workers filling it
# through the 0.1.0 API) is opened by this checkout's library: the workers
# wait for ALTER EXTENSION pg_helpdesk UPDATE instead of crash-looping; after
# the update the schema equals a fresh install of this version (pg_dump
# --schema-only, sorted) and the API works on the old data: a new session is
# routed, messages post, and events continue from the old positions without
# a gap.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
release=0.1.0
release_commit=${HD_RELEASE_0_1_0:-2b91d0a}
new=$(make -s -C "$HD_ROOT" print-version)
port=$((HD_TEST_PORT + 52))
tmp=$(mktemp -d)
chmod 755 "$tmp"
pgroot=$tmp/pg
bin=$pgroot/lib/postgresql/15/bin
cluster_started=
cleanup() {
	[ -n "$cluster_started" ] && as_pg "$bin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$tmp" "/tmp/hd-sock-$port"
}
trap cleanup EXIT

# a shallow clone lacks the release: deepen it from where it came from
if ! git -C "$HD_ROOT" cat-file -e "$release_commit^{commit}" 2>/dev/null &&
	[ "$(git -C "$HD_ROOT" rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
	note "shallow clone: fetching the history for the $release release"
	git -C "$HD_ROOT" fetch -q --unshallow 2>/dev/null || git -C "$HD_ROOT" fetch -q origin "$release_commit" 2>/dev/null || true
fi
git -C "$HD_ROOT" cat-file -e "$release_commit^{commit}" 2>/dev/null ||
	fail "the $release release ($release_commit) is not in this clone's history: the upgrade test builds it from git"

# a private copy of the PostgreSQL 15 that this run uses (relocatable: its
# paths are found relative to the binaries), so 0.1.0 and $new take turns in it
src_root=${PGBIN%/lib/postgresql/15/bin}
mkdir -p "$pgroot/lib" "$pgroot/share" "$pgroot/include"
cp -a "$src_root/lib/postgresql" "$pgroot/lib/"
cp -a "$src_root/share/postgresql" "$pgroot/share/"
ln -s "$("$PG_CONFIG" --includedir)" "$pgroot/include/postgresql"
[ "$("$bin/pg_config" --sharedir)" = "$pgroot/share/postgresql/15" ] || fail "the PostgreSQL copy is not relocatable"

# the release, built from git and installed into the copy
mkdir "$tmp/src"
git -C "$HD_ROOT" archive "$release_commit" | tar -x -C "$tmp/src"
make -s -C "$tmp/src" PG_CONFIG="$bin/pg_config" pg_helpdesk.so "extension/pg_helpdesk--$release.sql" >/dev/null 2>&1 ||
	fail "cannot build the $release release"
install -m 755 "$tmp/src/pg_helpdesk.so" "$("$bin/pg_config" --pkglibdir)/" &&
	install -m 644 "$tmp/src/pg_helpdesk.control" "$tmp/src/extension/pg_helpdesk--$release.sql" \
		"$("$bin/pg_config" --sharedir)/extension/" || fail "cannot install $release"
note "built and installed $release ($release_commit)"

mkdir "$tmp/data" && chown postgres "$tmp/data" && touch "$tmp/postgres.log" && chown postgres "$tmp/postgres.log"
as_pg "$bin/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
mkdir -p "/tmp/hd-sock-$port"; chown postgres "/tmp/hd-sock-$port"
cat >>"$tmp/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '/tmp/hd-sock-$port'
shared_preload_libraries = 'pg_helpdesk'
max_worker_processes = 24
helpdesk.launcher_naptime = 1
helpdesk.token_secret = '$HELPDESK_TOKEN_SECRET'
CONF
start() { as_pg "$bin/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 start >/dev/null && cluster_started=1; }
stop() { as_pg "$bin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null; cluster_started=; }
start
export PGHOST=/tmp/hd-sock-$port PGPORT=$port
uq() { psql -qXAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
uq postgres "CREATE DATABASE up_old" >/dev/null
uq postgres "CREATE DATABASE up_new" >/dev/null
uq up_old "CREATE EXTENSION pg_helpdesk VERSION '$release'"
[ "$(uq up_old "SELECT extversion FROM pg_extension WHERE extname = 'pg_helpdesk'")" = "$release" ] || fail "not at $release"

# fill it through the 0.1.0 API, the 0.1.0 workers routing and publishing
psql -qX -v ON_ERROR_STOP=1 -d up_old -f "$(dirname "$0")/upgrade_fill.sql" >/dev/null || fail "filling the $release database"
wait_until up_old "SELECT count(*) = 3 FROM helpdesk.session WHERE state = 'active'" 15 || fail "$release: sessions not assigned"
wait_until up_old "SELECT count(*) = 1 FROM helpdesk.session WHERE state = 'offered'" 15 || fail "$release: no offer"
uq up_old "
SELECT helpdesk.post_message(s.tenant_id, s.id, 'agent', s.agent_id, 'Hi, I am on it')
	FROM helpdesk.session s WHERE s.state = 'active';
SELECT helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id, NULL, 'image', 'img-' || s.id,
	'{\"url\": \"https://cdn.example.test/a.png\", \"name\": \"a.png\", \"size\": 1200, \"mime\": \"image/png\"}')
	FROM helpdesk.session s WHERE s.state = 'active';
SELECT helpdesk.post_message(s.tenant_id, s.id, 'agent', s.agent_id, 'Pick one', 'menu', NULL, NULL,
	'[{\"id\": \"a\", \"label\": \"Refund\"}, {\"id\": \"b\", \"label\": \"Resend\"}]')
	FROM helpdesk.session s WHERE s.state = 'active';
SELECT helpdesk.mark_read(s.tenant_id, s.id, 'customer', s.customer_id, (SELECT max(id) FROM helpdesk.message m WHERE m.session_id = s.id))
	FROM helpdesk.session s WHERE s.state = 'active';
SELECT helpdesk.close_session(s.tenant_id, s.id, 'resolved', 'agent', s.agent_id)
	FROM helpdesk.session s JOIN helpdesk.customer c ON c.id = s.customer_id WHERE c.external_id = 'c1';
SELECT helpdesk.close_session(s.tenant_id, s.id, NULL, 'customer', s.customer_id)
	FROM helpdesk.session s WHERE s.state = 'queued';
SELECT helpdesk.start_session(c.tenant_id, c.id, 'web', (SELECT id FROM helpdesk.queue q WHERE q.tenant_id = c.tenant_id AND q.external_id = 'manual'))
	FROM helpdesk.customer c WHERE c.external_id IN ('c5', 'c6');
" >/dev/null || fail "$release: conversation"
wait_until up_old "SELECT helpdesk.event_position() = (SELECT count(*) FROM helpdesk.event)" 15 || fail "$release: events not published"
uq up_old "SELECT helpdesk.prune_events('0 s')" >/dev/null
uq up_old "SELECT helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id, 'after the prune')
	FROM helpdesk.session s WHERE s.state = 'active'" >/dev/null
wait_until up_old "SELECT helpdesk.event_position() > 0 AND NOT EXISTS (SELECT 1 FROM helpdesk.event e
	WHERE NOT EXISTS (SELECT 1 FROM helpdesk.event_positions p WHERE p.event_id = e.id))" 15 || fail "$release: not published after the prune"
states=$(uq up_old "SELECT string_agg(DISTINCT state, ',' ORDER BY state) FROM helpdesk.session")
[ "$states" = "active,bot,closed,offered,queued" ] || fail "$release data set has states $states"
before_pos=$(uq up_old "SELECT helpdesk.event_position()")
before_rows=$(uq up_old "SELECT (SELECT count(*) FROM helpdesk.session) || '/' || (SELECT count(*) FROM helpdesk.message) || '/' || (SELECT count(*) FROM helpdesk.dispatch_audit)")
note "$release data set: sessions/messages/audit rows $before_rows, states $states, event position $before_pos"
stop

# this checkout's library, the database still at 0.1.0
make -s -C "$HD_ROOT" PG_CONFIG="$bin/pg_config" install >/dev/null || fail "cannot install $new into the copy"
[ -f "$("$bin/pg_config" --sharedir)/extension/pg_helpdesk--$release--$new.sql" ] || fail "no upgrade script $release--$new installed"
logstart=$(stat -c %s "$tmp/postgres.log")
start
# read again: the old workers may have published a last batch (a queue
# position push, a timer) between the read above and the stop
before_pos=$(uq up_old "SELECT helpdesk.event_position()")
uq up_new "CREATE EXTENSION pg_helpdesk"
sleep 3
log=$(tail -c +$((logstart + 1)) "$tmp/postgres.log")
grep -q "pg_helpdesk $release.*library is $new.*ALTER EXTENSION pg_helpdesk UPDATE" <<<"$log" ||
	{ echo "$log" | tail -20; fail "the workers of the $release database do not say they wait for the update"; }
if echo "$log" | grep -E "pg_helpdesk (publisher|dispatcher).*(exited with exit code|terminated by signal)|server process .* terminated|ERROR:" | grep -c . >/dev/null; then
	echo "$log" | tail -20; fail "a worker failed on the $release database"
fi
[ "$(uq up_old "SELECT helpdesk.event_position()")" = "$before_pos" ] || fail "positions moved before the update"
note "$new library on a $release database: workers wait, nothing fails"

# the update
uq up_old "ALTER EXTENSION pg_helpdesk UPDATE" || fail "ALTER EXTENSION pg_helpdesk UPDATE failed"
[ "$(uq up_old "SELECT extversion FROM pg_extension WHERE extname = 'pg_helpdesk'")" = "$new" ] || fail "not at $new after the update"
# A plain --schema-only dump shows an extension as one CREATE EXTENSION line;
# --binary-upgrade spells out every member object. Its OIDs, relfrozenxids,
# missing-value records and sequence values (data), comments and trailing
# commas (the column order of an added column) are not the schema and are
# left out; the rest is sorted.
schema() {
	"$bin/pg_dump" --schema-only --binary-upgrade -d "$1" 2>/dev/null |
		grep -Ev '^--|^$|binary_upgrade|^\\(un)?restrict|^SET relfrozenxid|^UPDATE pg_catalog.pg_class|^WHERE oid = |^SELECT pg_catalog.setval' |
		sed 's/,$//' | sort
}
schema up_old >"$tmp/old.schema"
schema up_new >"$tmp/new.schema"
grep -q "CREATE TABLE helpdesk.session " "$tmp/new.schema" || fail "the schema dump does not show the extension's members"
diff "$tmp/old.schema" "$tmp/new.schema" >"$tmp/schema.diff" ||
	{ head -40 "$tmp/schema.diff"; fail "the updated schema differs from a fresh $new install"; }
note "updated schema = fresh $new schema ($(wc -l <"$tmp/new.schema") lines)"

# the API on the old data, the workers running again
wait_until up_old "SELECT count(*) = 5 AND bool_and(pid IS NOT NULL) FROM helpdesk.worker_status()" 15 || fail "workers not running after the update"
uq up_old "SELECT helpdesk.upsert_customer(t.id, 'after-update', language => 'en') FROM helpdesk.tenant t WHERE slug = 'up-game'" >/dev/null
uq up_old "SELECT helpdesk.start_session(t.id, c.id, first_message => 'new after the update') FROM helpdesk.tenant t
	JOIN helpdesk.customer c ON c.tenant_id = t.id AND c.external_id = 'after-update' WHERE t.slug = 'up-game'" >/dev/null
wait_until up_old "SELECT state = 'active' FROM helpdesk.session s JOIN helpdesk.customer c ON c.id = s.customer_id
	WHERE c.external_id = 'after-update'" 15 || fail "a new session is not routed after the update"
uq up_old "SELECT helpdesk.post_message(s.tenant_id, s.id, 'agent', s.agent_id, 'still here after the update')
	FROM helpdesk.session s WHERE s.state = 'active'" >/dev/null || fail "post_message after the update"
wait_until up_old "SELECT helpdesk.event_position() = $before_pos + (SELECT count(*) FROM helpdesk.event e
	WHERE NOT EXISTS (SELECT 1 FROM helpdesk.event_positions p WHERE p.pos <= $before_pos AND p.event_id = e.id))" 15 ||
	fail "new events are not published right after the old positions"
got=$(uq up_old "SELECT count(*) || ':' || min(pos) || ':' || max(pos) FROM helpdesk.events_since($before_pos, 100000)")
want_n=$(( $(uq up_old "SELECT helpdesk.event_position()") - before_pos ))
[ "$got" = "$want_n:$((before_pos + 1)):$((before_pos + want_n))" ] || fail "events after $before_pos: $got, expected $want_n without a gap"
note "after the update: a new session routed, $want_n new events at positions $((before_pos + 1))..$((before_pos + want_n))"
echo "upgrade: ok"
