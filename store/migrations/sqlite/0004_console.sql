-- People who use the console (duty team, operators, auditors), their sessions, and the
-- indexes the console's keyset-paginated lists read through.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    -- duty, operator or auditor
    role          TEXT NOT NULL,
    operator_id   BIGINT REFERENCES operators (id),
    -- argon2id in the PHC string format
    password_hash TEXT NOT NULL,
    -- en, ru or kk
    lang          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT,
    -- consecutive wrong passwords, and until when the account is locked after too many
    failed_logins BIGINT NOT NULL,
    locked_until  BIGINT
);

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 of the cookie's secret; the secret itself is never stored
    hash        TEXT NOT NULL UNIQUE,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    address     TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE INDEX changes_actor ON changes (actor, id);
CREATE INDEX observations_live_id ON observations (id) WHERE status <> 'resolved';
CREATE INDEX observations_live_operator ON observations (operator_id, id) WHERE status <> 'resolved';
CREATE INDEX blocks_since ON blocks (since);
CREATE INDEX notices_operator ON notices (operator_id, id);
CREATE INDEX blocks_operator ON blocks (operator_id, id);
CREATE INDEX observations_notice ON observations (notice_id);
-- Who held an address (history lookups by exact prefix, current or not).
CREATE INDEX assignments_prefix ON assignments (prefix);
