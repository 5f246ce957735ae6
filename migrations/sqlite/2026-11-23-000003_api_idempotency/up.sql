-- Responses to our own API's POSTs, stored per (scope, Idempotency-Key) and replayed for 24 h.
-- `scope` is `account:{external_account_id}` (or `subject:{sub}` when the body names no account).
-- A row is `in_progress` from just before the handler runs until its response is stored
-- (`completed`); the unique constraint decides which of two concurrent duplicates runs.
CREATE TABLE api_idempotency (
    id TEXT PRIMARY KEY NOT NULL,
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    response_status BIGINT,
    response_content_type TEXT,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    UNIQUE (scope, idempotency_key)
);
