#!/usr/bin/env bash
# CSV bulk import through psql's COPY ... FROM STDIN, as a client does it:
# a customers file with one error of each kind is rejected whole (nothing
# written) and every error is reported with its line (the CSV record
# number, header = 1: after a quoted field spanning two lines, the file line
# is one more); the same file with skip_invalid writes the valid rows only;
# a second file upserts by external id (stored values kept where a field is
# empty, attributes merged); agents, queues and quick replies go through
# their upsert functions with their errors by line; another tenant's rows
# are untouched; and begin_import + COPY + run_import inside one
# transaction (as behind a transaction pooler) works.
source "$(dirname "$0")/common.sh"
db=e2e_import
fresh_db "$db"
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

q "$db" "SELECT helpdesk.upsert_tenant('i1', 'I1'), helpdesk.upsert_tenant('i2', 'I2');
	SELECT helpdesk.upsert_customer(2, 'c1', 'Other tenant', 5)" >/dev/null

cat >"$work/customers.csv" <<'CSV'
external_id,display_name,vip_level,language,attributes
c1,Alice,1,en,"{""tier"": ""gold""}"
c2,"Bob, Jr.",0,zh-cn,
,No id,0,en,
c3,Carol,11,en,
c4,Dan,2,EN,
c5,Eve,2,en,[1]
c1,Alice again,1,en,
c6,"Two
lines",3,,
c7,Frank,x,,
c8,Grace,,,{broken
c9,Heidi,,,
CSV
# import FILE KIND COLUMNS SKIP -> prints state|rows|inserted|updated|skipped|errors and the import id
import() {
	local file=$1 kind=$2 table=$3 cols=$4 skip=$5 tenant=${6:-1}
	psql -qXAt -v ON_ERROR_STOP=1 -d "$db" <<SQL
SELECT helpdesk.begin_import($tenant, '$kind') AS imp \gset
\copy helpdesk.$table ($cols) FROM '$file' WITH (FORMAT csv, HEADER true)
SELECT concat_ws('|', state, rows, inserted, updated, skipped, errors, :imp) FROM helpdesk.run_import($tenant, :imp, $skip);
SQL
}
ccols="external_id, display_name, vip_level, language, attributes"
r=$(import "$work/customers.csv" customers import_customer "$ccols" false)
[ "${r%|*}" = "rejected|11|0|0|11|7" ] || fail "all-or-nothing: got $r"
imp=${r##*|}
[ "$(q "$db" "SELECT count(*) FROM helpdesk.customer WHERE tenant_id = 1")" = 0 ] || fail "a rejected import wrote customers"
errs=$(q "$db" "SELECT string_agg(line || ':' || coalesce(field, '-'), ' ' ORDER BY line) FROM helpdesk.import_errors(1, $imp)")
[ "$errs" = "4:external_id 5:vip_level 6:language 7:attributes 8:external_id 10:vip_level 11:attributes" ] \
	|| fail "errors by line: $errs"
q "$db" "SELECT message FROM helpdesk.import_errors(1, $imp) WHERE line = 8" | grep -c 'repeats line 2' >/dev/null || fail "duplicate not named"
note "rejected: 7 errors at lines $errs"

r=$(import "$work/customers.csv" customers import_customer "$ccols" true)
[ "${r%|*}" = "applied|11|4|0|7|7" ] || fail "skip_invalid: got $r"
[ "$(q "$db" "SELECT string_agg(external_id, ',' ORDER BY external_id) FROM helpdesk.customer WHERE tenant_id = 1")" = "c1,c2,c6,c9" ] \
	|| fail "skip_invalid wrote the wrong rows"
[ "$(q "$db" "SELECT display_name FROM helpdesk.customer WHERE tenant_id = 1 AND external_id = 'c2'")" = "Bob, Jr." ] || fail "quoted comma"
[ "$(q "$db" "SELECT display_name FROM helpdesk.customer WHERE tenant_id = 1 AND external_id = 'c6'")" = "Two
lines" ] || fail "multi-line field"

cat >"$work/update.csv" <<'CSV'
external_id,display_name,vip_level,language,attributes
c1,,4,,"{""tier"": null, ""city"": ""Lyon""}"
c10,New,,,
CSV
r=$(import "$work/update.csv" customers import_customer "$ccols" false)
[ "${r%|*}" = "applied|2|1|1|0|0" ] || fail "upsert: got $r"
[ "$(q "$db" "SELECT concat_ws('|', display_name, vip_level, language, attributes) FROM helpdesk.customer WHERE tenant_id = 1 AND external_id = 'c1'")" \
	= 'Alice|4|en|{"city": "Lyon"}' ] || fail "upsert did not keep/merge: $(q "$db" "SELECT display_name, vip_level, language, attributes FROM helpdesk.customer WHERE tenant_id = 1 AND external_id = 'c1'")"
[ "$(q "$db" "SELECT concat_ws('|', display_name, vip_level) FROM helpdesk.customer WHERE tenant_id = 2")" = "Other tenant|5" ] \
	|| fail "another tenant's customer changed"
note "upsert by external id: empty fields keep stored values, attributes merge"

printf 'external_id,display_name,skills,languages,max_sessions,enabled\na1,Ann,"{""billing"": 5}",en;zh-cn,3,true\na2,Bo,"{""billing"": 50}",en,,\na3,,,,,\n' >"$work/agents.csv"
r=$(import "$work/agents.csv" agents import_agent "external_id, display_name, skills, languages, max_sessions, enabled" true)
[ "${r%|*}" = "applied|3|1|0|2|2" ] || fail "agents: got $r"
[ "$(q "$db" "SELECT string_agg(line::text, ',' ORDER BY line) FROM helpdesk.import_errors(1, ${r##*|})")" = "3,4" ] || fail "agent errors by line"
[ "$(q "$db" "SELECT languages FROM helpdesk.agent WHERE tenant_id = 1 AND external_id = 'a1'")" = "{en,zh-cn}" ] || fail "agent languages"
printf 'external_id,name,required_skills,required_languages,strategy,offer_timeout,max_wait,is_default\nmain,Main,,en,least_loaded,45 s,,true\nvip,VIP,billing,,nosuch,,,\n' >"$work/queues.csv"
r=$(import "$work/queues.csv" queues import_queue "external_id, name, required_skills, required_languages, strategy, offer_timeout, max_wait, is_default" false)
[ "${r%|*}" = "rejected|2|0|0|2|1" ] || fail "queues: got $r"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.queue WHERE tenant_id = 1")" = 0 ] || fail "a rejected queue import wrote a queue"
printf 'shortcode,title,body,category,language,agent_external_id\nhi,Hello,Hello {{customer.name|there}},greet,en,\nhi,Mine,Hi,greet,en,a1\nbad,T,{{nope}},,,\nx,T,B,,,ghost\n' >"$work/qr.csv"
r=$(import "$work/qr.csv" quick_replies import_quick_reply "shortcode, title, body, category, language, agent_external_id" true)
[ "${r%|*}" = "applied|4|2|0|2|2" ] || fail "quick replies: got $r"
r=$(import "$work/qr.csv" quick_replies import_quick_reply "shortcode, title, body, category, language, agent_external_id" true)
[ "${r%|*}" = "applied|4|0|2|2|2" ] || fail "quick replies again (upsert): got $r"

# one transaction, as behind a transaction pooler
r=$(psql -qXAt -v ON_ERROR_STOP=1 -d "$db" <<SQL
BEGIN;
SELECT helpdesk.begin_import(1, 'customers') AS imp \gset
\copy helpdesk.import_customer ($ccols) FROM '$work/update.csv' WITH (FORMAT csv, HEADER true)
SELECT state || '|' || rows FROM helpdesk.run_import(1, :imp);
COMMIT;
SQL
)
[ "$r" = "applied|2" ] || fail "import in one transaction: $r"
echo "import: ok"
