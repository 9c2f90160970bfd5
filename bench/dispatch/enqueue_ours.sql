-- One enqueue: a fresh customer (client_id + nclients * k, k counting this
-- client's transactions) into a random queue of the 20.
\set qid :qbase + random(0, 19)
\set cid :cbase + :client_id + :nclients * :k
\set k :k + 1
SELECT helpdesk.start_session(:tenant, :cid, queue_id => :qid);
