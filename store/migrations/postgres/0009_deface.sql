-- Defacement protection (rule 18): the protected sites, what was found on them (each
-- change set with its evidence and what became of it), and the events of their checks
-- (unreachable, host key changed, names refused...). The reference copies themselves
-- live on disk under the service's data directory.
CREATE TABLE deface_sites (
    id                    BIGSERIAL PRIMARY KEY,
    domain                TEXT NOT NULL UNIQUE,
    -- the site's spec as JSON (access, pages and masks, include/exclude), no secret
    spec_json             TEXT NOT NULL,
    -- key or password
    secret_kind           TEXT NOT NULL,
    -- the secret sealed with the desk key (hex of nonce, ciphertext, tag)
    sealed_secret         TEXT NOT NULL,
    -- the defacement application it was connected from, if any
    application_id        BIGINT,
    -- the server's host key pinned at first connection (TYPE BASE64), and who confirmed it
    host_key              TEXT,
    host_key_confirmed_by TEXT,
    host_key_confirmed_at BIGINT,
    -- new, protected, changed, restoring, window, unreachable, host-key-changed, failing
    state                 TEXT NOT NULL,
    state_detail          TEXT,
    state_since           BIGINT NOT NULL,
    -- 1 while a maintenance window is open
    window_open           BIGINT NOT NULL DEFAULT 0,
    last_check            BIGINT,
    reference_files       BIGINT NOT NULL DEFAULT 0,
    reference_bytes       BIGINT NOT NULL DEFAULT 0,
    reference_pages       BIGINT NOT NULL DEFAULT 0,
    reference_at          BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE deface_findings (
    id           BIGSERIAL PRIMARY KEY,
    site_id      BIGINT NOT NULL REFERENCES deface_sites (id),
    -- unauthorised (put back), window (recorded in a maintenance window), pages (pages
    -- changed with no file changed: nothing to put back)
    kind         TEXT NOT NULL,
    detected_at  BIGINT NOT NULL,
    restored_at  BIGINT,
    confirmed_at BIGINT,
    -- restored, partly-restored, recorded, accepted
    outcome      TEXT NOT NULL,
    -- JSON: the files (path, change, what was done) and pages (url, reasons)
    files_json   TEXT NOT NULL,
    pages_json   TEXT NOT NULL,
    -- a readable diff of the text files and pages
    diff         TEXT NOT NULL,
    -- the evidence folder's name under the site's directory
    evidence     TEXT,
    accepted_by  TEXT,
    accepted_at  BIGINT
);
CREATE INDEX deface_findings_site ON deface_findings (site_id, id);

CREATE TABLE deface_events (
    id      BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES deface_sites (id),
    at      BIGINT NOT NULL,
    -- unreachable, reachable, host-key-pinned, host-key-changed, refused-name,
    -- link-outside, unstable, too-large, over-bound, not-kept, restore-failed, pages-unreachable
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX deface_events_site ON deface_events (site_id, id);
