-- Batched enqueue: the same customers and queues as enqueue_ours_batch.sql.
\set r random(0, 19)
\set c0 :cbase + (:client_id + :nclients * :k) * :batch
\set k :k + 1
SELECT count(peer.enqueue(:c0 + g, :qbase + (g + :r) % 20))
FROM generate_series(0, :batch - 1) g;
