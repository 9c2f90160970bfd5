BEGIN;
SELECT plan(60);

-- Calendars: upsert_calendar, business_time_add, business_time_between —
-- every error path (SQLSTATE and message) and the behaviour the e2e
-- reference test (test/e2e/calendar_exact.sh) does not cover: updating by
-- external_id, the zone's spelling, recompiling after an update in the same
-- transaction, other tenants' calendars.

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-cal-a', 'TAP calendars A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-cal-b', 'TAP calendars B');
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;
INSERT INTO fx SELECT 'ca', helpdesk.upsert_calendar(pg_temp.fx('ta'), 'office', 'Office', 'europe/berlin',
	'{"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]}',
	'[{"date": "2026-12-08", "name": "Feiertag"}]');
INSERT INTO fx SELECT 'c247', helpdesk.upsert_calendar(pg_temp.fx('ta'), 'always', 'Always', 'UTC', '"24/7"');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_calendar(pg_temp.fx('tb'), 'office', 'Office B', 'Asia/Shanghai',
	'{"mon": [["09:00", "18:00"]]}');

CREATE FUNCTION pg_temp.up(tz text, hours jsonb, holidays jsonb DEFAULT '[]') RETURNS bigint
LANGUAGE sql AS $$ SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'err', 'Err', tz, hours, holidays) $$;

------------------------------------------------------------------------------
-- upsert_calendar: behaviour
------------------------------------------------------------------------------
SELECT is(helpdesk.upsert_calendar(pg_temp.fx('ta'), 'office', 'Office', 'Europe/Berlin',
	'{"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]}',
	'[{"date": "2026-12-08", "name": "Feiertag"}]'), pg_temp.fx('ca'),
	'upsert_calendar: the same external_id updates the same calendar');
SELECT is((SELECT time_zone FROM helpdesk.calendar WHERE id = pg_temp.fx('ca')), 'Europe/Berlin',
	'upsert_calendar: the zone is stored as PostgreSQL spells it');
SELECT is(helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), '2026-11-30 11:00+01', '2 hours'),
	'2026-11-30 14:00+01'::timestamptz, 'business_time_add: skips the lunch break');
SELECT is(helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), '2026-12-07 16:00+01', '2 hours'),
	'2026-12-14 10:00+01'::timestamptz, 'business_time_add: skips a holiday and the closed days');
SELECT is(helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), '2026-12-05 10:00+01', '0 s'),
	'2026-12-07 09:00+01'::timestamptz, 'business_time_add: 0 from a closed period is the next opening');
SELECT is(helpdesk.business_time_between(pg_temp.fx('ta'), pg_temp.fx('ca'), '2026-11-30 00:00+01', '2026-12-07 00:00+01'),
	'15:00:00'::interval, 'business_time_between: a week');
SELECT is(helpdesk.business_time_between(pg_temp.fx('ta'), pg_temp.fx('ca'), '2026-12-07 00:00+01', '2026-11-30 00:00+01'),
	'00:00:00'::interval, 'business_time_between: b before a is 0');
SELECT is(helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('c247'), '2026-03-29 00:59:59.5+00', '1 day'),
	'2026-03-30 00:59:59.5+00'::timestamptz, 'business_time_add: 24/7 adds the amount');
-- an update is seen at once by the same transaction (the compiled copy is dropped)
SELECT lives_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'office', 'Office', 'Europe/Berlin',
	'{"mon": [["09:00", "17:00"]]}')$$, 'upsert_calendar: update the hours');
SELECT is(helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), '2026-11-30 11:00+01', '2 hours'),
	'2026-11-30 13:00+01'::timestamptz, 'business_time_add: uses the updated hours in the same transaction');
SELECT is(helpdesk.upsert_calendar(pg_temp.fx('ta'), 'touch', 'Touch', 'UTC',
	'{"wed": [["13:00", "24:00"], ["09:00", "13:00"]], "thu": [["00:00", "01:00"]]}') > 0, true,
	'upsert_calendar: touching intervals in any order, an overnight shift ending at 24:00');
SELECT is(helpdesk.business_time_add(pg_temp.fx('ta'), (SELECT id FROM helpdesk.calendar WHERE external_id = 'touch'),
	'2026-12-02 23:30+00', '1 hour'), '2026-12-03 00:30+00'::timestamptz,
	'business_time_add: an overnight shift continues past 24:00');

------------------------------------------------------------------------------
-- upsert_calendar: errors
------------------------------------------------------------------------------
CREATE TEMP TABLE before AS SELECT count(*) AS n, max(updated_at) AS at FROM helpdesk.calendar;

SELECT throws_ok($$SELECT helpdesk.upsert_calendar(NULL, 'x', 'X', 'UTC', '"24/7"')$$,
	'22004', 'tenant_id must not be NULL', 'upsert_calendar: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), NULL, 'X', 'UTC', '"24/7"')$$,
	'22004', 'external_id must not be NULL', 'upsert_calendar: NULL external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'x', NULL, 'UTC', '"24/7"')$$,
	'22004', 'name must not be NULL', 'upsert_calendar: NULL name');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'x', 'X', NULL, '"24/7"')$$,
	'22004', 'time_zone must not be NULL', 'upsert_calendar: NULL time_zone');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'x', 'X', 'UTC', NULL)$$,
	'22004', 'hours must not be NULL', 'upsert_calendar: NULL hours');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'x', 'X', 'UTC', '"24/7"', NULL)$$,
	'22004', 'holidays must not be NULL', 'upsert_calendar: NULL holidays');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('no_tenant'), 'x', 'X', 'UTC', '"24/7"')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'upsert_calendar: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), '', 'X', 'UTC', '"24/7"')$$,
	'22023', 'external_id must be 1 to 200 characters long, got 0', 'upsert_calendar: empty external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'x', repeat('n', 201), 'UTC', '"24/7"')$$,
	'22023', 'name must be 1 to 200 characters long, got 201', 'upsert_calendar: name too long');
SELECT throws_ok($$SELECT pg_temp.up('Mars/Olympus_Mons', '"24/7"')$$,
	'22023', 'time_zone "Mars/Olympus_Mons" is not a known IANA time zone', 'upsert_calendar: unknown zone');
SELECT throws_ok($$SELECT pg_temp.up('EST5EDT,M3.2.0,M11.1.0', '"24/7"')$$,
	'22023', 'time_zone "EST5EDT,M3.2.0,M11.1.0" is not a known IANA time zone', 'upsert_calendar: POSIX TZ rule refused');
SELECT throws_ok($$SELECT pg_temp.up('FOO+3', '"24/7"')$$,
	'22023', 'time_zone "FOO+3" is not a known IANA time zone', 'upsert_calendar: POSIX offset refused');
SELECT throws_ok($$SELECT pg_temp.up('', '"24/7"')$$,
	'22023', 'time_zone "" is not a known IANA time zone', 'upsert_calendar: empty zone');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{}')$$,
	'22023', 'the calendar has no opening hours', 'upsert_calendar: empty hours (Zammad #1396)');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"mon": [], "sun": []}')$$,
	'22023', 'the calendar has no opening hours', 'upsert_calendar: only empty days');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"8/5"')$$,
	'22023', 'hours must be "24/7" or an object like {"mon": [["09:00", "18:00"]], …}', 'upsert_calendar: other string');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '[["09:00", "17:00"]]')$$,
	'22023', 'hours must be "24/7" or an object like {"mon": [["09:00", "18:00"]], …}', 'upsert_calendar: hours an array');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"monday": [["09:00", "17:00"]]}')$$,
	'22023', 'hours has an unknown key "monday" (the keys are mon, tue, wed, thu, fri, sat, sun)', 'upsert_calendar: unknown day');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"mon": ["09:00", "17:00"]}')$$,
	'22023', 'hours.mon must be an array of ["HH:MM", "HH:MM"] pairs', 'upsert_calendar: flat interval');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"mon": [["09:00"]]}')$$,
	'22023', 'hours.mon: each interval is a pair of two "HH:MM" strings', 'upsert_calendar: one-element interval');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"mon": [["9:00", "17:00"]]}')$$,
	'22023', 'hours.mon: "9:00"–"17:00" is not a valid interval of "HH:MM" times (00:00 to 24:00)', 'upsert_calendar: H:MM');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"mon": [["24:00", "24:00"]]}')$$,
	'22023', 'hours.mon: "24:00"–"24:00" is not a valid interval of "HH:MM" times (00:00 to 24:00)', 'upsert_calendar: 24:00 as a start');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"tue": [["09:00", "24:30"]]}')$$,
	'22023', 'hours.tue: "09:00"–"24:30" is not a valid interval of "HH:MM" times (00:00 to 24:00)', 'upsert_calendar: past 24:00');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"wed": [["18:00", "09:00"]]}')$$,
	'22023', 'hours.wed: interval "18:00"–"09:00" ends before it starts', 'upsert_calendar: overnight in one interval');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"wed": [["09:00", "09:00"]]}')$$,
	'22023', 'hours.wed: interval "09:00"–"09:00" ends before it starts', 'upsert_calendar: empty interval');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"thu": [["13:00", "18:00"], ["09:00", "13:30"]]}')$$,
	'22023', 'hours.thu: intervals 09:00–13:30 and 13:00–18:00 overlap', 'upsert_calendar: overlapping intervals');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '{"fri": [["09:00", "17:00"], ["09:00", "17:00"]]}')$$,
	'22023', 'hours.fri: intervals 09:00–17:00 and 09:00–17:00 overlap', 'upsert_calendar: the same interval twice');
SELECT throws_ok($$SELECT pg_temp.up('UTC', jsonb_build_object('sat',
	(SELECT jsonb_agg(jsonb_build_array(to_char(g * interval '1 minute', 'HH24:MI'), to_char((g + 1) * interval '1 minute', 'HH24:MI')))
	 FROM generate_series(0, 48, 2) g)))$$,
	'22023', 'hours.sat has more than 24 intervals', 'upsert_calendar: too many intervals');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', '{}')$$,
	'22023', 'holidays must be an array like [{"date": "2026-10-01", "name": "National Day"}]', 'upsert_calendar: holidays an object');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', '["2026-10-01"]')$$,
	'22023', 'holidays[0] must be an object {"date": "YYYY-MM-DD", "name": "…"}', 'upsert_calendar: holiday a string');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', '[{"name": "x"}]')$$,
	'22023', 'holidays[0] needs a "date": "YYYY-MM-DD"', 'upsert_calendar: holiday without date');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', '[{"date": "2026-10-01"}, {"date": "2026-02-30"}]')$$,
	'22023', 'holidays[1].date "2026-02-30" is not a date YYYY-MM-DD between 1900 and 2999', 'upsert_calendar: February 30');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', '[{"date": "1.10.2026"}]')$$,
	'22023', 'holidays[0].date "1.10.2026" is not a date YYYY-MM-DD between 1900 and 2999', 'upsert_calendar: other date format');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', jsonb_build_array(jsonb_build_object('date', '2026-10-01', 'name', repeat('節', 201))))$$,
	'22023', 'holidays[0].name must be a string of at most 200 characters', 'upsert_calendar: holiday name too long');
SELECT throws_ok($$SELECT pg_temp.up('UTC', '"24/7"', (SELECT jsonb_agg(jsonb_build_object('date', to_char(date '2026-01-01' + g, 'YYYY-MM-DD'))) FROM generate_series(0, 1000) g))$$,
	'22023', 'holidays has 1001 entries, more than 1000', 'upsert_calendar: too many holidays');
SELECT results_eq($$SELECT count(*), max(updated_at) FROM helpdesk.calendar$$, $$SELECT n, at FROM before$$,
	'upsert_calendar: no failed call wrote anything');

------------------------------------------------------------------------------
-- business_time_add / business_time_between: errors
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.business_time_add(NULL, pg_temp.fx('ca'), now(), '1 hour')$$,
	'22004', 'tenant_id must not be NULL', 'business_time_add: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), NULL, now(), '1 hour')$$,
	'22004', 'calendar_id must not be NULL', 'business_time_add: NULL calendar_id');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), NULL, '1 hour')$$,
	'22004', 'from must not be NULL', 'business_time_add: NULL from');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), now(), NULL)$$,
	'22004', 'amount must not be NULL', 'business_time_add: NULL amount');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('cb'), now(), '1 hour')$$,
	'HD404', format('calendar %s does not exist in tenant %s', pg_temp.fx('cb'), pg_temp.fx('ta')),
	'business_time_add: another tenant''s calendar');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), now(), '-1 second')$$,
	'22023', 'amount must be between 0 and 316224000 seconds', 'business_time_add: negative amount');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), now(), '11 years')$$,
	'22023', 'amount must be between 0 and 316224000 seconds', 'business_time_add: amount over 10 years');
SELECT throws_ok($$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('ca'), 'infinity', '1 hour')$$,
	'22023', 'from must be a finite timestamp', 'business_time_add: infinite from');
SELECT throws_ok($$SELECT helpdesk.business_time_between(pg_temp.fx('ta'), pg_temp.fx('ca'), NULL, now())$$,
	'22004', 'a must not be NULL', 'business_time_between: NULL a');
SELECT throws_ok($$SELECT helpdesk.business_time_between(pg_temp.fx('ta'), pg_temp.fx('ca'), now(), '-infinity')$$,
	'22023', 'b must be a finite timestamp', 'business_time_between: infinite b');
SELECT throws_ok($$SELECT helpdesk.business_time_between(pg_temp.fx('tb'), pg_temp.fx('ca'), now(), now())$$,
	'HD404', format('calendar %s does not exist in tenant %s', pg_temp.fx('ca'), pg_temp.fx('tb')),
	'business_time_between: another tenant''s calendar');
SELECT throws_ok($$SELECT helpdesk.business_time_between(pg_temp.fx('ta'), pg_temp.fx('ca'), '2000-01-01', '2101-01-01')$$,
	'22008', 'business time reaches more than 100 years of calendar time', 'business_time_between: span over 100 years');

SELECT * FROM finish();
ROLLBACK;
