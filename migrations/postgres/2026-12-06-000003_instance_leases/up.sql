-- Running server processes and their heartbeats (`jobs::instances`). An `in_progress`
-- Idempotency-Key claim names the instance running it; a claim whose instance has stopped beating
-- (crashed, killed) or is gone (shut down) is taken over by the next retry.
CREATE TABLE instances (
    id TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL
);

-- NULL on claims made before this migration: they keep the plain time lease.
ALTER TABLE api_idempotency ADD COLUMN instance_id TEXT;
