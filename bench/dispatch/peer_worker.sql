-- A peer worker: one assign_batch pass per transaction; when it found
-- nothing to do it sleeps idle_us before looking again.
SELECT peer.assign_batch(:batch) AS n \gset
\if :n = 0
\sleep :idle_us us
\endif
