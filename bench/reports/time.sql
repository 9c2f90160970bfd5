-- bench/reports.sh: server-side milliseconds of one statement (its rows counted, not sent)
CREATE OR REPLACE FUNCTION public.bench_ms(sql text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	n bigint;
BEGIN
	EXECUTE 'SELECT count(*) FROM (' || sql || ') x' INTO n;
	RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2);
END $$;
