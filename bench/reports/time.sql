-- bench/reports.sh: server-side milliseconds of one statement (its rows counted, not sent)
CREATE OR REPLACE FUNCTION public.bench_ms(sql text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	n bigint;
BEGIN
	EXECUTE 'SELECT count(*) FROM (' || sql || ') x' INTO n;
	RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2);
END $$;
-- reps calls of one statement on this connection after one warm-up call: the ms of each
CREATE OR REPLACE FUNCTION public.bench_ms_reps(sql text, reps int) RETURNS float8[] LANGUAGE plpgsql AS $$
DECLARE
	ms float8[] := '{}';
BEGIN
	PERFORM public.bench_ms(sql);
	FOR i IN 1..reps LOOP
		ms := ms || public.bench_ms(sql);
	END LOOP;
	RETURN ms;
END $$;
-- "median|p90|min|max" of an array of ms
CREATE OR REPLACE FUNCTION public.bench_stats(ms float8[]) RETURNS text LANGUAGE sql AS $$
	SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2) || '|' ||
	       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY x)::numeric, 2) || '|' ||
	       round(min(x)::numeric, 2) || '|' || round(max(x)::numeric, 2)
	FROM unnest(ms) x
$$;
