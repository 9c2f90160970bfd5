-- Full-size bench data (bench/reports_data.sh): one transaction of bulk
-- INSERT ... SELECT straight into the tables, NOT through the API.
--
-- What it bypasses, and why that leaves the database as the API would:
--  * No events: the history is written as rows, not replayed through
--    start_session/post_message (that is hours at 10M messages). So the event
--    log is empty, the rollup worker has nothing to follow, and the rollups
--    are made by rebuild_rollups afterwards (reports_data.sh): the same
--    _rollup_recompute the worker runs per dirty bucket, i.e. exactly the raw
--    truth test/e2e/reports_equality.sh compares against. The search keys
--    likewise come from rebuild_search_index (the same search_tokens as
--    index_messages). agent_status_interval, which the worker writes from
--    agent.status events, is inserted as rows (4 intervals per agent and day).
--  * Indexes and foreign keys of the tables filled here are dropped inside the
--    transaction and created again, from their own definitions
--    (pg_get_indexdef / pg_get_constraintdef), before COMMIT: re-adding a
--    foreign key checks every row, so every constraint holds as it would
--    have row by row. Primary keys, unique constraints and CHECKs stay on
--    throughout. No trigger is disabled (session_sla_start_insert runs).
--  * Tenants, queues, agents, calendars and policies are inserted as rows,
--    with ids chosen here; ids are then moved past the generated ones.
--  * Bot sessions have no bot row (bot_id NULL): the reports count a bot
--    session by first_queued_at / bot_handoff_at only.
-- The tables are TRUNCATEd first in the same transaction: under
-- wal_level = minimal their new files then skip WAL (reports_data.sh
-- restarts the cluster with wal_level = replica afterwards).
--
-- Shape: 6 tenants; tenant 1 (Asia/Shanghai, 70 % Chinese) has :sessions
-- closed sessions over the :days days before :t1, the five others :others
-- times that between them (40/25/15/12/8 %), each in its own zone and mix of
-- Chinese and English. Per answered session 2 .. 2 * :msgs + 3 messages, others 1-3 (mean about :msgs),
-- customer and agent in turn; 2.5 sessions per customer; 15 % bot-resolved,
-- 15 % handed off by the bot, 8 % abandoned (a third under 10 s); one
-- accepted offer per answered session (a tenth also a declined one, 3 % a
-- transfer); a survey for a third; a ticket (with its first message and two
-- SLA clocks) for a tenth; agents in proportion to the sessions (300 for
-- tenant 1), 80 % of an agent's sessions in its own queue.
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SET work_mem = '512MB';
SET maintenance_work_mem = '1GB';
SET client_min_messages = warning;
SELECT setseed(0.42);
BEGIN;
TRUNCATE helpdesk.customer, helpdesk.session, helpdesk.session_assignment, helpdesk.message, helpdesk.csat,
	helpdesk.ticket, helpdesk.ticket_sla, helpdesk.ticket_message, helpdesk.agent_status_interval CASCADE;

-- the indexes (not backing a constraint) and foreign keys of those tables: dropped now, made again before COMMIT
CREATE TEMP TABLE bench_ddl AS
WITH big(r) AS (SELECT unnest(ARRAY['helpdesk.customer', 'helpdesk.session', 'helpdesk.session_assignment',
	'helpdesk.message', 'helpdesk.csat', 'helpdesk.ticket', 'helpdesk.ticket_sla', 'helpdesk.ticket_message',
	'helpdesk.agent_status_interval']::regclass[]))
SELECT 0 AS ord, pg_get_indexdef(i.indexrelid) || ';' ||
       coalesce(format(' COMMENT ON INDEX %s IS %L;', i.indexrelid::regclass, obj_description(i.indexrelid, 'pg_class')), '') AS redo,
       format('DROP INDEX %s', i.indexrelid::regclass) AS undo
FROM pg_index i JOIN big ON i.indrelid = big.r
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
UNION ALL
SELECT 1, format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)),
       format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname)
FROM pg_constraint c JOIN big ON c.conrelid = big.r
WHERE c.contype = 'f';
SELECT undo FROM bench_ddl ORDER BY ord DESC \gexec

-- tenants
CREATE TEMP TABLE bt AS
SELECT t, sessions, 1 + coalesce(sum(sessions) OVER (ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS s0,
       ceil(sessions / 2.5)::bigint AS customers, greatest(10, least(300, sessions / 3300))::int AS agents, zone, cn
FROM (SELECT t, CASE WHEN t = 1 THEN :sessions::bigint
                     ELSE round(:sessions * :others * (ARRAY[0.40, 0.25, 0.15, 0.12, 0.08])[t - 1])::bigint END AS sessions,
             (ARRAY['Asia/Shanghai', 'America/New_York', 'Asia/Kolkata', 'Europe/Berlin', 'Asia/Shanghai', 'UTC'])[t] AS zone,
             (ARRAY[0.7, 0.1, 0.2, 0.05, 0.9, 0.3])[t] AS cn
      FROM generate_series(1, 6) t) x;
ALTER TABLE bt ADD c0 bigint;
UPDATE bt SET c0 = 1 + coalesce((SELECT sum(b.customers) FROM bt b WHERE b.t < bt.t), 0)::bigint;
INSERT INTO helpdesk.tenant (id, slug, name, time_zone) SELECT t, 'bench' || t, 'Bench ' || t, zone FROM bt;
INSERT INTO helpdesk.queue (tenant_id, id, external_id, name, is_default)
SELECT t, (t - 1) * 10 + q, 'q' || q, 'Queue ' || q, q = 1 FROM bt, generate_series(1, 5) q;
INSERT INTO helpdesk.agent (tenant_id, id, external_id, display_name, max_sessions)
SELECT t, (t - 1) * 1000 + a, 'a' || a, 'Agent ' || a, 10 FROM bt, generate_series(1, agents) a;
INSERT INTO helpdesk.calendar (tenant_id, id, external_id, name, time_zone, hours)
SELECT t, t, 'office', 'Office', zone,
       '{"mon": [["09:00","18:00"]], "tue": [["09:00","18:00"]], "wed": [["09:00","18:00"]], "thu": [["09:00","18:00"]], "fri": [["09:00","18:00"]]}'
FROM bt;
INSERT INTO helpdesk.sla_policy (tenant_id, id, name, position, first_response, resolution, calendar_id)
SELECT t, t, 'default', 1, '1 hour', '1 day', t FROM bt;
INSERT INTO helpdesk.customer (tenant_id, id, external_id, language, created_at)
SELECT t, c0 + k, 'c' || (c0 + k), CASE WHEN random() < cn THEN 'zh-cn' ELSE 'en' END, :'t1'::timestamptz - interval '400 days'
FROM bt, generate_series(0, customers - 1) k;

-- text: sentences of 3-8 words from a Zipf-like vocabulary (a customer service
-- core of Chinese words, and a long tail of pairs of common characters; the
-- same in English), 4,096 of each language; a message is two of them
CREATE TEMP TABLE vocab_cn AS
SELECT row_number() OVER () AS i, w FROM unnest(ARRAY['你好', '请问', '退款', '订单', '支付', '账号', '登录', '密码', '发货', '快递',
	'发票', '优惠券', '游戏', '服务器', '等级', '错误', '闪退', '更新', '客服', '谢谢', '充值', '没有', '收到', '什么时候', '怎么',
	'问题', '帮忙', '处理', '马上', '稍等', '查询', '已经', '可以', '不能', '为什么', '我的', '一下', '还是', '现在', '今天',
	'昨天', '金币', '道具', '活动', '奖励', '礼包', '封号', '解封', '实名', '认证', '绑定', '手机', '邮箱', '验证码', '卡顿',
	'掉线', '网络', '版本', '下载', '安装']) w;
INSERT INTO vocab_cn
SELECT 60 + row_number() OVER (), w FROM (
	SELECT DISTINCT substr(c, 1 + floor(random() * length(c))::int, 1) || substr(c, 1 + floor(random() * length(c))::int, 1) AS w
	FROM (SELECT '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴且'::text AS c) x,
	     generate_series(1, 500)) y;
CREATE TEMP TABLE vocab_en AS
SELECT row_number() OVER () AS i, w FROM unnest(ARRAY['hello', 'please', 'refund', 'order', 'payment', 'account', 'login',
	'password', 'shipping', 'delivery', 'invoice', 'coupon', 'game', 'server', 'level', 'error', 'crash', 'update', 'support',
	'thanks', 'when', 'my', 'the', 'is', 'not', 'working', 'can', 'you', 'check', 'help', 'still', 'waiting', 'charged',
	'twice', 'card', 'email', 'phone', 'code', 'verify', 'banned', 'item', 'missing', 'reward', 'event', 'lag', 'disconnect',
	'download', 'install', 'version', 'today']) w
UNION ALL SELECT 50 + g, 'word' || g FROM generate_series(1, 450) g;
CREATE TEMP TABLE pool AS
SELECT lang, i, string_agg(w, CASE WHEN lang = 'cn' THEN '' ELSE ' ' END ORDER BY k) AS s
FROM (SELECT lang, i, k, (SELECT w FROM vocab_cn v WHERE v.i = 1 + floor(x.n * x.r ^ 2)::int) AS w
      FROM (SELECT 'cn' AS lang, i, k, random() AS r, (SELECT count(*) FROM vocab_cn) AS n
            FROM generate_series(0, 4095) i, generate_series(1, 3 + i % 6) k) x
      UNION ALL
      SELECT lang, i, k, (SELECT w FROM vocab_en v WHERE v.i = 1 + floor(x.n * x.r ^ 2)::int)
      FROM (SELECT 'en' AS lang, i, k, random() AS r, (SELECT count(*) FROM vocab_en) AS n
            FROM generate_series(0, 4095) i, generate_series(1, 3 + i % 6) k) x) y
GROUP BY lang, i;
CREATE TEMP TABLE pool_cn AS SELECT i, s FROM pool WHERE lang = 'cn';
CREATE TEMP TABLE pool_en AS SELECT i, s FROM pool WHERE lang = 'en';
ALTER TABLE pool_cn ADD PRIMARY KEY (i);
ALTER TABLE pool_en ADD PRIMARY KEY (i);

-- sessions: a day of the window, local daytime mostly
CREATE TEMP TABLE bs AS
SELECT b.t AS tenant_id, b.s0 + k AS id, b.c0 + floor(random() * b.customers)::bigint AS customer_id,
       ((:'t1'::timestamptz AT TIME ZONE b.zone)::date - (1 + floor(random() * :days))::int
         + CASE WHEN random() < 0.8 THEN interval '8 hours' + random() * interval '14 hours' ELSE random() * interval '24 hours' END)
         AT TIME ZONE b.zone AS created_at,
       random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS rq,
       b.agents, b.cn
FROM bt b, generate_series(0, b.sessions - 1) k;
-- kind: bot (bot-resolved), handoff (bot, then queued), abandoned, answered
CREATE TEMP TABLE bs2 AS
SELECT x.*, 1 + floor(rq * 5)::int AS q,
       CASE WHEN r2 < 0.15 THEN 'bot' WHEN r2 < 0.23 THEN 'abandoned' ELSE 'answered' END AS kind,
       r3 < 0.2 AS handoff,
       CASE WHEN r2 >= 0.23 THEN (tenant_id - 1) * 1000 + 1 +
            CASE WHEN r4 < 0.8 THEN (floor(rq * 5)::int + 5 * floor(r1 * ceil(agents / 5.0))::int) % agents
                 ELSE floor(r4 * agents)::int END END AS agent_id,
       CASE WHEN random() < cn THEN 'cn' ELSE 'en' END AS lang
FROM bs x;
DROP TABLE bs;
INSERT INTO helpdesk.session (tenant_id, id, customer_id, state, queue_id, agent_id, channel, issue_type,
	created_at, first_queued_at, queued_at, assigned_at, closed_at, closed_by, close_reason, bot_handoff_at, bot_handoff_reason)
SELECT tenant_id, id, customer_id, 'closed',
       CASE WHEN kind <> 'bot' THEN (tenant_id - 1) * 10 + q END,
       agent_id,
       (ARRAY['web', 'ios', 'android'])[1 + floor(r3 * 3)::int],
       (ARRAY[NULL, 'billing', 'bug', 'account'])[1 + floor(r1 * 4)::int],
       created_at, fq, fq,
       CASE WHEN kind = 'answered' THEN fq + r1 * interval '120 s' END,
       CASE kind WHEN 'bot' THEN created_at + interval '30 s' + r1 * interval '3 min'
                 WHEN 'abandoned' THEN fq + CASE WHEN r1 < 0.33 THEN r4 * interval '9 s' ELSE interval '10 s' + r4 * interval '5 min' END
                 ELSE fq + r1 * interval '120 s' + interval '2 min' + r4 * interval '20 min' END,
       CASE kind WHEN 'bot' THEN 'bot' WHEN 'abandoned' THEN 'customer' ELSE 'agent' END,
       CASE kind WHEN 'bot' THEN 'resolved' WHEN 'abandoned' THEN 'abandoned' ELSE 'closed' END,
       CASE WHEN kind <> 'bot' AND handoff THEN fq END, CASE WHEN kind <> 'bot' AND handoff THEN 'keyword' END
FROM (SELECT *, CASE WHEN kind = 'bot' THEN NULL WHEN handoff THEN created_at + interval '40 s' ELSE created_at END AS fq FROM bs2) s;
INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, queue_id, agent_id, kind,
	started_at, accepted_at, ended_at, end_reason)
SELECT s.tenant_id, s.id, s.customer_id, s.queue_id, s.agent_id, 'offer', s.assigned_at - interval '1 s',
       s.assigned_at, s.closed_at, 'closed'
FROM helpdesk.session s WHERE s.agent_id IS NOT NULL;
INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, queue_id, agent_id, kind,
	started_at, ended_at, end_reason)
SELECT s.tenant_id, s.id, s.customer_id, s.queue_id, (s.tenant_id - 1) * 1000 + 1 + (s.id % b.agents), 'offer',
       s.first_queued_at + interval '100 ms', s.first_queued_at + interval '900 ms', 'declined'
FROM helpdesk.session s JOIN bt b ON b.t = s.tenant_id WHERE s.agent_id IS NOT NULL AND s.id % 10 = 0;
-- a transfer: an earlier accepted offer to another agent, ended by the transfer
INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, queue_id, agent_id, kind,
	started_at, accepted_at, ended_at, end_reason)
SELECT s.tenant_id, s.id, s.customer_id, s.queue_id, (s.tenant_id - 1) * 1000 + 1 + ((s.id / 7) % b.agents), 'offer',
       s.first_queued_at + interval '1 s', s.first_queued_at + interval '2 s', s.assigned_at - interval '2 s', 'transferred'
FROM helpdesk.session s JOIN bt b ON b.t = s.tenant_id
WHERE s.agent_id IS NOT NULL AND s.id % 33 = 1 AND s.assigned_at > s.first_queued_at + interval '5 s';

-- messages: customer and agent in turn (bot sessions: customer and bot), a few seconds apart
INSERT INTO helpdesk.message (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body, created_at)
SELECT s.tenant_id, s.id, s.customer_id,
       CASE WHEN k % 2 = 1 THEN 'customer' WHEN s.kind = 'bot' THEN 'bot' WHEN s.kind = 'abandoned' THEN 'system' ELSE 'agent' END,
       CASE WHEN k % 2 = 1 THEN s.customer_id WHEN s.kind = 'answered' THEN s.agent_id END,
       'text',
       CASE WHEN s.lang = 'cn' THEN (SELECT p.s FROM pool_cn p WHERE p.i = (s.id * 7919 + k * 104729) % 4096)
                                    || '，' || (SELECT p.s FROM pool_cn p WHERE p.i = (s.id * 31 + k * 7) % 4096)
            ELSE (SELECT p.s FROM pool_en p WHERE p.i = (s.id * 7919 + k * 104729) % 4096)
                 || ', ' || (SELECT p.s FROM pool_en p WHERE p.i = (s.id * 31 + k * 7) % 4096) END,
       CASE WHEN s.kind = 'bot' THEN s.created_at + k * interval '3 s'
            WHEN s.kind = 'abandoned' THEN s.created_at + k * interval '1 s'
            ELSE s.created_at + (CASE WHEN s.handoff THEN interval '40 s' ELSE interval '0' END)
                 + s.r1 * interval '120 s' + k * interval '7 s' END
FROM bs2 s, generate_series(1, CASE WHEN s.kind = 'answered' THEN 2 + floor(s.r4 * (2 * :msgs + 2))::int
                                    ELSE 1 + floor(s.r4 * 3)::int END) k;
INSERT INTO helpdesk.csat (tenant_id, target, session_id, customer_id, agent_id, queue_id, requested_at,
	expires_at, score, submitted_at)
SELECT s.tenant_id, 'session', s.id, s.customer_id, s.agent_id, s.queue_id, s.closed_at, s.closed_at + interval '7 days',
       CASE WHEN s.id % 2 = 0 THEN 1 + (s.id / 3) % 5 END, CASE WHEN s.id % 2 = 0 THEN s.closed_at + interval '1 min' END
FROM helpdesk.session s WHERE s.agent_id IS NOT NULL AND s.id % 3 = 0;
-- tickets: a tenth of the sessions' count, four fifths resolved, each with its customer's first message
INSERT INTO helpdesk.ticket (tenant_id, id, number, customer_id, subject, status, issue_type, queue_id, assignee_id,
	channel, created_at, first_response_at, resolved_at, resolution_count, resolved_by, sla_policy_id, sla_state)
SELECT b.tenant_id, b.id, 1000 + b.id, b.customer_id, 'ticket ' || b.id,
       CASE WHEN b.r1 < 0.8 THEN 'resolved' ELSE 'open' END,
       (ARRAY[NULL, 'billing', 'bug'])[1 + floor(b.r2 * 3)::int], (b.tenant_id - 1) * 10 + b.q,
       (b.tenant_id - 1) * 1000 + 1 + floor(b.r2 * b.agents)::int, 'api', b.created_at,
       b.created_at + b.r2 * interval '3 hours',
       CASE WHEN b.r1 < 0.8 THEN b.created_at + interval '3 hours' + b.r3 * interval '3 days' END,
       CASE WHEN b.r1 < 0.8 THEN 1 ELSE 0 END, CASE WHEN b.r1 < 0.8 THEN 'agent' END, b.tenant_id,
       CASE WHEN b.r1 < 0.8 THEN 'hit' ELSE 'active' END
FROM bs2 b WHERE b.id % 10 = 0;
INSERT INTO helpdesk.ticket_message (tenant_id, ticket_id, customer_id, sender_kind, sender_id, type, body, created_at)
SELECT b.tenant_id, b.id, b.customer_id, 'customer', b.customer_id, 'text',
       CASE WHEN b.lang = 'cn' THEN (SELECT p.s FROM pool_cn p WHERE p.i = (b.id * 13) % 4096)
            ELSE (SELECT p.s FROM pool_en p WHERE p.i = (b.id * 13) % 4096) END,
       b.created_at
FROM bs2 b WHERE b.id % 10 = 0;
INSERT INTO helpdesk.ticket_sla (tenant_id, ticket_id, target, round, policy_id, goal, started_at, stopped_at, outcome)
SELECT t.tenant_id, t.id, 'first_response', 1, t.sla_policy_id, '1 hour', t.created_at, t.first_response_at,
       CASE WHEN t.first_response_at - t.created_at <= interval '1 hour' THEN 'hit' ELSE 'missed' END
FROM helpdesk.ticket t;
INSERT INTO helpdesk.ticket_sla (tenant_id, ticket_id, target, round, policy_id, goal, started_at, stopped_at, outcome)
SELECT t.tenant_id, t.id, 'resolution', 1, t.sla_policy_id, '1 day', t.created_at, t.resolved_at,
       CASE WHEN t.resolved_at - t.created_at <= interval '1 day' THEN 'hit' ELSE 'missed' END
FROM helpdesk.ticket t WHERE t.resolved_at IS NOT NULL;
SELECT setval(pg_get_serial_sequence('helpdesk.' || c, 'id'), (SELECT max(id) FROM helpdesk.session) * 20)
FROM unnest(ARRAY['tenant', 'queue', 'agent', 'customer', 'session', 'ticket', 'calendar', 'sla_policy']) c;
INSERT INTO helpdesk.ticket_counter SELECT id, 100000000 FROM helpdesk.tenant;
-- agent status history for occupancy: each agent each day online for 8 hours
-- from a start in its zone's morning, then busy 1 hour, away 1 hour, offline
INSERT INTO helpdesk.agent_status_interval (tenant_id, agent_id, event_id, status, started_at, ended_at)
SELECT a.tenant_id, a.id, d * 10 + k, (ARRAY['online', 'busy', 'away', 'offline'])[k],
       x.s0 + (ARRAY[0, 8, 9, 10])[k] * interval '1 hour',
       x.s0 + (ARRAY[8, 9, 10, 24])[k] * interval '1 hour'
FROM helpdesk.agent a JOIN bt b ON b.t = a.tenant_id, generate_series(1, :days + 1) d, generate_series(1, 4) k,
     LATERAL (SELECT ((:'t1'::timestamptz AT TIME ZONE b.zone)::date - d + ((a.id * 7 + d) % 8 + 6) * interval '1 hour')
                     AT TIME ZONE b.zone AS s0) x;

-- the indexes and foreign keys again (each foreign key checks every row)
SELECT redo FROM bench_ddl ORDER BY ord \gexec
CREATE TABLE public.bench_data (params text, t1 timestamptz, load_s int, rollups_s int, keys_s int, total_s int,
	sizes text, counts text);
INSERT INTO public.bench_data (counts)
SELECT string_agg(format('tenant %s: %s sessions, %s messages, %s tickets', t, s, m, k), '; ' ORDER BY t)
FROM (SELECT tenant_id AS t, count(*) AS s FROM helpdesk.session GROUP BY 1) a
JOIN (SELECT tenant_id AS t, count(*) AS m FROM helpdesk.message GROUP BY 1) b USING (t)
JOIN (SELECT tenant_id AS t, count(*) AS k FROM helpdesk.ticket GROUP BY 1) c USING (t);
COMMIT;
VACUUM ANALYZE;
