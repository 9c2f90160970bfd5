#!/usr/bin/env bash
# business_time_add and business_time_between against an independent
# reference (calendar_reference.js: ICU time zones through Node's Intl, open
# time counted minute by minute), for hand-picked and random cases: New York
# and Berlin across their DST changes, Shanghai with a lunch break and the
# National Day week, starts inside closed periods, 24/7 and a week of
# 00:00–24:00 days (must agree), overnight shifts ending at 24:00, a calendar
# open 7 minutes a week; starts and amounts with seconds and milliseconds.
# HD_SEED repeats a run (the seed is printed).
source "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
export PGTZ=UTC	# the expected instants below are written in UTC
db=e2e_calendar
fresh_db $db
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
seed=${HD_SEED:-$((RANDOM * 32768 + RANDOM))}
n=${HD_CASES:-250}
note "seed $seed, $n random cases of each kind"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

q $db "SELECT helpdesk.upsert_tenant('cal', 'Calendars')" >/dev/null
node "$here/calendar_reference.js" calendars >"$tmp/cals.json"
node "$here/calendar_reference.js" cases "$seed" "$n" >"$tmp/cases.tsv"
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE TABLE cal_src (doc jsonb);
\copy cal_src FROM '$tmp/cals.json' WITH (FORMAT text)
SELECT helpdesk.upsert_calendar(1, doc->>'external_id', doc->>'external_id', doc->>'tz', doc->'hours', doc->'holidays')
FROM cal_src;
CREATE TABLE cases (n serial, kind text, cal text, a timestamptz, x text, expected text);
\copy cases (kind, cal, a, x, expected) FROM '$tmp/cases.tsv'
SQL
total=$(q $db "SELECT count(*) FROM cases")
[ "$total" -ge $((2 * n)) ] || fail "only $total cases"

# a wrong answer lists the case (reproduce: HD_SEED=$seed)
bad=$(q $db "
SET TIME ZONE 'UTC';
SELECT string_agg(format('%s %s from %s %s: expected %s, got %s', kind, cal, a, x, expected, got), E'\n')
FROM (
  SELECT c.*, CASE c.kind
    WHEN 'add' THEN helpdesk.business_time_add(1, k.id, c.a, (c.x || ' milliseconds')::interval)::text
    ELSE (extract(epoch FROM helpdesk.business_time_between(1, k.id, c.a, c.x::timestamptz)) * 1000)::bigint::text END AS got,
    CASE c.kind
    WHEN 'add' THEN helpdesk.business_time_add(1, k.id, c.a, (c.x || ' milliseconds')::interval) = c.expected::timestamptz
    ELSE extract(epoch FROM helpdesk.business_time_between(1, k.id, c.a, c.x::timestamptz)) * 1000 = c.expected::numeric END AS ok
  FROM cases c JOIN helpdesk.calendar k ON k.tenant_id = 1 AND k.external_id = c.cal
) r WHERE NOT ok" | tail -n +2)
[ -z "$bad" ] || fail "business time differs from the reference (HD_SEED=$seed):
$bad"
note "$total cases agree with the reference"

# the reference itself, on facts known without it: New York's spring-forward
# Sunday has 23 hours, its fall-back Sunday 25; Berlin's 00:00-04:00 on the
# spring-forward Sunday is 3 hours, on the fall-back Sunday 5
check() { [ "$(q $db "$1")" = "$2" ] || fail "$1: expected $2, got $(q $db "$1")"; }
check "SELECT helpdesk.business_time_between(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'ny_dst'),
       '2026-03-08 00:00 America/New_York', '2026-03-09 00:00 America/New_York')" "23:00:00"
check "SELECT helpdesk.business_time_between(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'ny_dst'),
       '2026-11-01 00:00 America/New_York', '2026-11-02 00:00 America/New_York')" "25:00:00"
check "SELECT helpdesk.business_time_between(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'berlin_night'),
       '2026-03-29 00:00 Europe/Berlin', '2026-03-29 12:00 Europe/Berlin')" "03:00:00"
check "SELECT helpdesk.business_time_between(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'berlin_night'),
       '2026-10-25 00:00 Europe/Berlin', '2026-10-25 12:00 Europe/Berlin')" "05:00:00"
# Zammad #3180: a week of 00:00-24:00 days is 24/7, midnight included
check "SELECT helpdesk.business_time_add(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'berlin_full'),
       '2026-03-28 23:59:59.5+01', '1 second')" "2026-03-28 23:00:00.5+00"
# microseconds survive the walk
check "SELECT helpdesk.business_time_add(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'shanghai'),
       '2026-09-30 17:59:59.999999+08', '0.000002 seconds') AT TIME ZONE 'Asia/Shanghai'" "2026-10-08 09:00:00.000001"
note "known DST facts hold"

# another backend's compiled copy is dropped when an edit commits: one
# connection computes, sleeps while a second one changes the hours, computes again
q $db "SELECT helpdesk.upsert_calendar(1, 'edit', 'Edit', 'UTC', '{\"mon\": [[\"09:00\", \"17:00\"]]}')" >/dev/null
psql -qXAt -d $db >"$tmp/edit.out" <<'SQL' &
SELECT helpdesk.business_time_add(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'edit'), '2026-11-30 09:00+00', '1 hour');
SELECT pg_sleep(1.5);
SELECT helpdesk.business_time_add(1, (SELECT id FROM helpdesk.calendar WHERE external_id = 'edit'), '2026-11-30 09:00+00', '1 hour');
SQL
reader=$!
sleep 0.5
q $db "SELECT helpdesk.upsert_calendar(1, 'edit', 'Edit', 'UTC', '{\"mon\": [[\"12:00\", \"17:00\"]]}')" >/dev/null
wait $reader
[ "$(tr '\n' ' ' <"$tmp/edit.out")" = "2026-11-30 10:00:00+00  2026-11-30 13:00:00+00 " ] \
	|| fail "a backend kept its compiled calendar after another committed an edit: $(tr '\n' ' ' <"$tmp/edit.out")"
note "an edit committed by another backend is seen at once"
