-- The IP catalog: operators, their links, organisations, prefix assignments with
-- their validity (history), API tokens and the audit trail.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('write_lock', '0');

CREATE TABLE changes (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX changes_subject ON changes (subject, id);

CREATE TABLE operators (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    full_name  TEXT NOT NULL,
    contacts   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE links (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    operator_id BIGINT NOT NULL REFERENCES operators (id)
);

CREATE TABLE organisations (
    id         BIGSERIAL PRIMARY KEY,
    bin        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE connections (
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    operator_id     BIGINT NOT NULL REFERENCES operators (id),
    PRIMARY KEY (organisation_id, operator_id)
);

CREATE TABLE assignments (
    id              BIGSERIAL PRIMARY KEY,
    operator_id     BIGINT NOT NULL REFERENCES operators (id),
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    prefix          TEXT NOT NULL,
    family          BIGINT NOT NULL,
    start_key       TEXT NOT NULL,
    end_key         TEXT NOT NULL,
    plen            BIGINT NOT NULL,
    comment         TEXT NOT NULL,
    valid_from      BIGINT NOT NULL,
    valid_to        BIGINT,
    added_by        BIGINT NOT NULL REFERENCES changes (id),
    removed_by      BIGINT REFERENCES changes (id)
);
CREATE UNIQUE INDEX assignments_current_prefix ON assignments (prefix) WHERE valid_to IS NULL;
CREATE INDEX assignments_current_operator ON assignments (operator_id) WHERE valid_to IS NULL;
CREATE INDEX assignments_range ON assignments (family, start_key);

CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    operator_id BIGINT REFERENCES operators (id),
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
