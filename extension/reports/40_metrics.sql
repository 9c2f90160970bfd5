-- Prometheus metrics (metrics.c): every series of this database as rows; the
-- bridge's /metrics renders them (bridge/metrics.c).

CREATE FUNCTION helpdesk.metrics()
RETURNS TABLE (metric text, type text, help text, labels jsonb, value double precision)
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_metrics';
COMMENT ON FUNCTION helpdesk.metrics() IS
	'Gauges and counters for Prometheus, one row per series: metric name (helpdesk_ prefix, base units), type (gauge or counter), HELP text, labels (tenant slug, queue external id, state, kind...) and value. Read by helpdesk-bridge at most once per --metrics-interval.';
