-- The request desk: applications, the timeline of their transitions, and the metadata
-- of their attachments.
CREATE TABLE applications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- operator-link, yearly-lists, risky-service, waf, defacement, resource-change,
    -- incident or mail-connection
    kind          TEXT NOT NULL,
    -- operator:NAME or org:BIN
    applicant     TEXT NOT NULL,
    state         TEXT NOT NULL,
    -- YYYY-MM-DD, Astana time
    received      TEXT NOT NULL,
    -- the desk's record (fields, dates, conditions) as JSON; a secret only as its mask
    record_json   TEXT NOT NULL,
    -- the credentials' secret sealed with the desk key (hex of nonce, ciphertext, tag)
    sealed_secret TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX applications_applicant ON applications (applicant, kind);
CREATE INDEX applications_state ON applications (state);

CREATE TABLE application_steps (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id BIGINT NOT NULL REFERENCES applications (id),
    at             BIGINT NOT NULL,
    -- the day it counts from, YYYY-MM-DD
    day            TEXT NOT NULL,
    actor          TEXT NOT NULL,
    verb           TEXT NOT NULL,
    from_state     TEXT,
    to_state       TEXT NOT NULL,
    note           TEXT
);
CREATE INDEX application_steps_application ON application_steps (application_id, id);

CREATE TABLE application_attachments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id BIGINT NOT NULL REFERENCES applications (id),
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    -- hex SHA-256 of the content
    sha256         TEXT NOT NULL,
    -- a signed document (CMS) verified against the desk's trust anchors: the signer
    -- certificate's subject and the BIN it names; NULL when unsigned or not verified
    signer         TEXT,
    signer_bin     TEXT,
    added_at       BIGINT NOT NULL,
    actor          TEXT NOT NULL
);
CREATE INDEX application_attachments_application ON application_attachments (application_id);
