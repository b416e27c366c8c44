-- Unknown addresses seen by the gateways, notices to operators, and blocks.
CREATE TABLE observations (
    id          BIGSERIAL PRIMARY KEY,
    ip          TEXT NOT NULL,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    link        TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    seen        BIGINT NOT NULL,
    -- open: not yet in a notice; noticed: in a notice, deadline running;
    -- blocked: deadline passed while uncovered; resolved: the operator registered it.
    status      TEXT NOT NULL,
    notice_id   BIGINT,
    closed_at   BIGINT
);
CREATE UNIQUE INDEX observations_live ON observations (ip, operator_id) WHERE status <> 'resolved';
CREATE INDEX observations_status ON observations (status, operator_id);

CREATE TABLE notices (
    id           BIGSERIAL PRIMARY KEY,
    operator_id  BIGINT NOT NULL REFERENCES operators (id),
    created_at   BIGINT NOT NULL,
    recipients   TEXT NOT NULL,
    addresses    BIGINT NOT NULL,
    message_id   TEXT NOT NULL UNIQUE,
    -- pending: recorded, not yet accepted by the SMTP server; sent; failed: gave up.
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT,
    sent_at      BIGINT,
    deadline_day TEXT,
    deadline_at  BIGINT
);
CREATE INDEX notices_status ON notices (status, next_attempt);

CREATE TABLE blocks (
    id          BIGSERIAL PRIMARY KEY,
    prefix      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    notice_id   BIGINT,
    operator_id BIGINT,
    since       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    lifted_at   BIGINT,
    lifted_by   TEXT,
    lift_reason TEXT
);
CREATE UNIQUE INDEX blocks_live ON blocks (prefix) WHERE lifted_at IS NULL;
