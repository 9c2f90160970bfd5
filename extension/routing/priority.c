/*
 * priority.c — how far ahead in its queue a session starts.
 *
 * A session's rank is a virtual enqueue time, rank_at = queued_at - boost,
 * and queues are served in rank_at order. The boost (seconds) adds up:
 *
 *   tenant.vip_boost_seconds[vip_level]      (customer's VIP level)
 * + issue_type.boost_seconds                 (the session's issue type)
 * + the largest boost among matching urgency rules (regex on the first
 *   customer message, and/or the issue type)
 * + session.priority                         (explicit, -1000..1000)
 *
 * A boost is a bounded head start, so aging is automatic: a session is served
 * before every session that entered the same queue more than (its rival's
 * boost - its own boost) seconds after it. Nobody starves, and ordering stays
 * an index scan on (queue, rank_at).
 */
#include "routing.h"

#include "catalog/pg_collation_d.h"
#include "utils/builtins.h"

#define MAX_BOOST_SECONDS (7 * 86400)

static HdPlan boost_inputs = {
	"SELECT coalesce(t.vip_boost_seconds[c.vip_level + 1], 0), "
	"       coalesce((SELECT i.boost_seconds FROM helpdesk.issue_type i "
	"                 WHERE i.tenant_id = $1 AND i.code = $3), 0) "
	"FROM helpdesk.tenant t JOIN helpdesk.customer c ON c.tenant_id = t.id "
	"WHERE t.id = $1 AND c.id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan urgency_rules = {
	"SELECT pattern, issue_type, boost_seconds FROM helpdesk.urgency_rule "
	"WHERE tenant_id = $1 AND enabled ORDER BY boost_seconds DESC",
	1, {INT8OID}
};

/*
 * Does a rule's pattern match the message? upsert_urgency_rule compiled the
 * pattern when it was saved (the table is not writable by applications), so
 * this cannot fail on syntax.
 */
static bool
pattern_matches(const char *pattern, const char *message)
{
	return DatumGetBool(DirectFunctionCall2Coll(texticregexeq, DEFAULT_COLLATION_OID,
												CStringGetTextDatum(message),
												CStringGetTextDatum(pattern)));
}

/* The boost in seconds for a session entering a queue (see the file comment). */
int32
hd_session_boost(int64 tenant_id, int64 customer_id, const char *issue_type,
				 int32 priority, const char *first_message)
{
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(customer_id),
	issue_type ? CStringGetTextDatum(issue_type) : (Datum) 0};
	int64		boost = priority;
	int64		vip = 0,
				by_type = 0;
	uint64		i;

	hd_exec(&boost_inputs, v, issue_type ? NULL : "  n", false, 1);
	if (SPI_processed == 1)
	{
		hd_get_int64(1, &vip);
		hd_get_int64(2, &by_type);
	}
	boost += vip + by_type;

	hd_exec(&urgency_rules, v, NULL, false, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		char	   *pattern = SPI_getvalue(tup, td, 1);
		char	   *rule_type = SPI_getvalue(tup, td, 2);
		bool		isnull;
		int32		rule_boost = DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull));

		if (rule_type && (issue_type == NULL || strcmp(rule_type, issue_type) != 0))
			continue;
		if (pattern && (first_message == NULL || !pattern_matches(pattern, first_message)))
			continue;
		boost += rule_boost;	/* rules come largest first: the first match wins */
		break;
	}
	return (int32) Max(-MAX_BOOST_SECONDS, Min(MAX_BOOST_SECONDS, boost));
}

static HdPlan issue_type_queue = {
	"SELECT queue_id FROM helpdesk.issue_type WHERE tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}
};

/* The queue an issue type routes to, if it names one. */
bool
hd_issue_type_queue(int64 tenant_id, const char *issue_type, int64 *queue_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), CStringGetTextDatum(issue_type)};

	hd_exec(&issue_type_queue, v, NULL, false, 1);
	return SPI_processed == 1 && hd_get_int64(1, queue_id);
}

static HdPlan first_customer_message = {
	"SELECT body FROM helpdesk.message WHERE tenant_id = $1 AND session_id = $2 "
	"AND sender_kind = 'customer' ORDER BY id LIMIT 1",
	2, {INT8OID, INT8OID}
};

/* What the customer said first in a session (NULL if nothing yet). */
char *
hd_first_customer_message(int64 tenant_id, int64 session_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id)};

	hd_exec(&first_customer_message, v, NULL, false, 1);
	return SPI_processed == 1 ? hd_get_text(1) : NULL;
}
