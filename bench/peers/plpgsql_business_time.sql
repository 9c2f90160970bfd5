-- The peer of helpdesk.business_time_add (extension/tickets/calendar_time.c):
-- the same rules written the usual way in PL/pgSQL, for bench/tickets.sh.
-- It reads the calendar row on every call and walks local days: for each
-- opening interval of the local date (not a holiday), the interval's ends
-- are turned into instants with AT TIME ZONE, and open time is taken from
-- them. bench/tickets.sh checks that it returns exactly what the C function
-- returns on every case it times.
CREATE SCHEMA IF NOT EXISTS bench_peer;

CREATE OR REPLACE FUNCTION bench_peer.business_time_add(p_tenant bigint, p_calendar bigint,
	p_from timestamptz, p_amount interval)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
	c record;
	t timestamptz := p_from;
	rem interval := p_amount;
	d date;
	iv jsonb;
	seg_start timestamptz;
	seg_end timestamptz;
	st timestamptz;
	steps integer := 0;
	days text[] := ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
BEGIN
	SELECT time_zone, hours, holidays INTO c FROM helpdesk.calendar
	WHERE tenant_id = p_tenant AND id = p_calendar;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'calendar % does not exist in tenant %', p_calendar, p_tenant;
	END IF;
	IF jsonb_typeof(c.hours) = 'string' THEN
		RETURN p_from + p_amount;
	END IF;
	LOOP
		steps := steps + 1;
		IF steps > 40000 THEN
			RAISE EXCEPTION 'business time reaches too far';
		END IF;
		d := (t AT TIME ZONE c.time_zone)::date;
		IF NOT c.holidays @> jsonb_build_array(jsonb_build_object('date', to_char(d, 'YYYY-MM-DD'))) THEN
			FOR iv IN
				SELECT x FROM jsonb_array_elements(coalesce(c.hours -> days[extract(dow FROM d)::int + 1], '[]')) x
				ORDER BY x ->> 0
			LOOP
				seg_start := (d + (iv ->> 0)::interval) AT TIME ZONE c.time_zone;
				seg_end := (d + (iv ->> 1)::interval) AT TIME ZONE c.time_zone;
				CONTINUE WHEN seg_end <= t;
				st := greatest(t, seg_start);
				IF rem <= seg_end - st THEN
					RETURN st + rem;
				END IF;
				rem := rem - (seg_end - st);
				t := seg_end;
			END LOOP;
		END IF;
		t := greatest(t, ((d + 1)::timestamp AT TIME ZONE c.time_zone));
	END LOOP;
END $$;
