-- Batched enqueue: :batch fresh customers per transaction (customers
-- (client_id + nclients * k) * batch + 0 .. batch - 1), spread over the 20
-- queues from a random start.
\set r random(0, 19)
\set c0 :cbase + (:client_id + :nclients * :k) * :batch
\set k :k + 1
SELECT count(helpdesk.start_session(:tenant, :c0 + g, queue_id => :qbase + (g + :r) % 20))
FROM generate_series(0, :batch - 1) g;
