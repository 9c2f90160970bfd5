-- Empty the peer's session data between runs; every agent online, no load.
TRUNCATE peer.session, peer.assignment, peer.session_event CASCADE;
UPDATE peer.agent SET load = 0 WHERE load <> 0;
SELECT count(peer.set_agent_status(id, 'online')) FROM peer.agent;
VACUUM ANALYZE peer.agent;
VACUUM ANALYZE peer.session;
VACUUM ANALYZE peer.assignment;
VACUUM ANALYZE peer.session_event;
CHECKPOINT;
