-- verify_signed_request caches apps per backend (app_cache.c); any change to
-- api_app tells every backend to forget them.
CREATE FUNCTION helpdesk._api_app_changed() RETURNS trigger LANGUAGE c
AS 'MODULE_PATHNAME', 'hd_api_app_changed';
COMMENT ON FUNCTION helpdesk._api_app_changed() IS
	'Statement trigger on api_app: queues a relcache invalidation of api_app, so every backend empties its cache of apps (verify_signed_request) at its next transaction.';
CREATE TRIGGER api_app_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON helpdesk.api_app
	FOR EACH STATEMENT EXECUTE FUNCTION helpdesk._api_app_changed();
