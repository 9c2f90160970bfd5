#!/usr/bin/env bash
# search_messages against the truth: 2,000 committed chat messages and 300
# ticket messages of random Chinese and English text (two tenants, several
# customers, spread over 30 days) are keyed by index_messages() from the
# event log (after the publisher numbered their events); then for 60
# queries — one, two and three-to-five character Chinese strings, English
# words in any case, mixes — the ids search_messages returns equal the ids
# a scan of the raw tables finds (CJK: the string occurs; English: the word
# occurs, any case), with and without the customer and time filters, and
# the other tenant's messages never appear. Messages posted after the job
# ran are not found until it runs again.
source "$(dirname "$0")/common.sh"
db=e2e_search
fresh_db "$db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

q "$db" "
SELECT helpdesk.upsert_tenant('s1', 'S1'), helpdesk.upsert_tenant('s2', 'S2');
SELECT helpdesk.upsert_queue(t, 'main', 'Main', is_default => true) FROM (VALUES (1), (2)) v(t);
SELECT helpdesk.upsert_customer(t, 'c' || g) FROM (VALUES (1), (2)) v(t), generate_series(1, 5) g;
SELECT helpdesk.start_session(c.tenant_id, c.id) FROM helpdesk.customer c ORDER BY c.id;
CREATE TABLE public.vocab (i int PRIMARY KEY, w text);
INSERT INTO public.vocab SELECT row_number() OVER (), w FROM unnest(string_to_array(
  '退款 订单 发货 物流 账号 密码 充值 游戏 客服 问题 申请 退货 支付 失败 登录 异常 谢谢 你好 等待 处理 '
  'Refund order Shipping account password payment failed login HELLO thanks waiting issue game', ' ')) w;
" >/dev/null
# random messages: 3..8 vocabulary items, Chinese glued together or spaced, over 30 days
q "$db" "
SELECT setseed(0.42);
CREATE TABLE public.words AS SELECT array_agg(w ORDER BY i) AS a FROM public.vocab;
SELECT count(helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id,
	(SELECT string_agg(a[1 + floor(random() * 33)::int], CASE WHEN random() < 0.5 THEN '' ELSE ' ' END)
	 FROM public.words, generate_series(1, 3 + (g % 6)) k)))
FROM generate_series(1, 2000) g, LATERAL (SELECT * FROM helpdesk.session ORDER BY id OFFSET (g % 10) LIMIT 1) s;
SELECT count(*) FROM (SELECT helpdesk.create_ticket(c.tenant_id, c.id, 'ticket ' || g,
	(SELECT string_agg(a[1 + floor(random() * 20)::int], '') FROM public.words, generate_series(1, 4 + g % 2) k))
	FROM generate_series(1, 300) g, LATERAL (SELECT * FROM helpdesk.customer ORDER BY id OFFSET (g % 10) LIMIT 1) c) x;
UPDATE helpdesk.message SET created_at = now() - (id % 30) * interval '1 day';
UPDATE helpdesk.ticket_message SET created_at = now() - (id % 30) * interval '1 day';
" >/dev/null
wait_until "$db" "SELECT helpdesk.publisher_lag() = 0" 30 || fail "the publisher did not number the events"
keyed=$(q "$db" "SELECT helpdesk.index_messages()")
[ "$keyed" -ge 2300 ] || fail "index_messages keyed $keyed messages, expected at least 2300"
note "index_messages keyed $keyed messages"
# the index rows carry the old created_at? they were keyed after the UPDATE: yes (read from the rows)

check() { # tenant query customer|'' from_days|'' 
	local t=$1 qs=$2 cust=${3:-NULL} days=${4:-} from=NULL
	[ -n "$days" ] && from="(now() - interval '$days days')"
	local got want
	got=$(q "$db" "SELECT coalesce(string_agg(source || message_id, ',' ORDER BY source, message_id), '')
		FROM helpdesk.search_messages($t, \$q\$$qs\$q\$, $cust, $from, NULL, 1000)")
	want=$(q "$db" "
		WITH terms AS (SELECT t, t ~ '^[a-zA-Z0-9]+\$' AS word FROM regexp_split_to_table(\$q\$$qs\$q\$, '\s+') t WHERE t <> ''),
		all_msgs AS (SELECT 'chat' AS source, id, tenant_id, customer_id, created_at, body FROM helpdesk.message
		             UNION ALL SELECT 'ticket', id, tenant_id, customer_id, created_at, body FROM helpdesk.ticket_message)
		SELECT coalesce(string_agg(source || id, ',' ORDER BY source, id), '') FROM all_msgs m
		WHERE tenant_id = $t AND body IS NOT NULL AND ($cust::bigint IS NULL OR customer_id = $cust)
		  AND ($from::timestamptz IS NULL OR created_at >= $from)
		  AND NOT EXISTS (SELECT 1 FROM terms WHERE CASE WHEN word
		        THEN lower(m.body) !~ ('(^|[^a-z0-9])' || lower(t) || '(\$|[^a-z0-9])')
		        ELSE strpos(m.body, t) = 0 END)")
	[ "$got" = "$want" ] || fail "search_messages($t, '$qs', $cust, $from): got $(echo "$got" | tr ',' '\n' | wc -l) ids, the raw tables have $(echo "$want" | tr ',' '\n' | wc -l)
got:  ${got:0:300}
want: ${want:0:300}"
	echo "$got" | tr ',' '\n' | grep -c . || true
}

n=0 hits=0
for qs in 退 款 订 充 谢 号 退款 订单 款订 物流 单发 失败 你好 等待 '退款申' '款申请' '订单发货' '支付失败' '登录异常谢' \
	'处理退' refund REFUND Refund hello Hello thanks 'order payment' 'failed LOGIN' game '退款 refund' '订单 thanks' \
	'游戏' '戏客' '充值问题' '密码' '账号密码' '问题申请退货' 'waiting' 'issue 退货'; do
	c=$(check 1 "$qs"); hits=$((hits + c)); n=$((n + 1))
done
for qs in 退款 refund '订单发货' 你; do
	check 1 "$qs" 3 >/dev/null; check 1 "$qs" '' 7 >/dev/null; check 1 "$qs" 2 10 >/dev/null; check 2 "$qs" >/dev/null
	n=$((n + 4))
done
[ "$hits" -gt 500 ] || fail "the queries found only $hits messages in all: the data does not exercise the search"
note "$n queries equal to a scan of the raw tables ($hits hits of tenant 1 in the unfiltered ones)"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.search_messages(1, 'zzzunique')")" = 0 ] || fail "found an absent word"

# freshness: found once the job has passed it
q "$db" "SELECT helpdesk.post_message(1, (SELECT min(id) FROM helpdesk.session WHERE tenant_id = 1), 'customer',
	(SELECT customer_id FROM helpdesk.session WHERE tenant_id = 1 ORDER BY id LIMIT 1), '全新的消息 zzzunique')" >/dev/null
[ "$(q "$db" "SELECT count(*) FROM helpdesk.search_messages(1, 'zzzunique')")" = 0 ] || fail "found before the index job"
wait_until "$db" "SELECT helpdesk.publisher_lag() = 0" 10 || fail "publisher"
q "$db" "SELECT helpdesk.index_messages()" >/dev/null
[ "$(q "$db" "SELECT count(*) FROM helpdesk.search_messages(1, '全新的消息')")" = 1 ] || fail "not found after the index job"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.search_messages(2, 'zzzunique')")" = 0 ] || fail "another tenant found it"
echo "search: ok"
