-- Connected government mail systems (EPBSH registry) and the mail gateway's saved state.
CREATE TABLE mail_systems (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    owner_bin     TEXT NOT NULL,
    -- space-separated, lower-case
    domains       TEXT NOT NULL,
    -- space-separated IP addresses its servers send from
    servers       TEXT NOT NULL,
    -- host:port inbound mail goes to; NULL: the first server on port 25
    deliver_to    TEXT,
    -- space-separated e-mail addresses
    contacts      TEXT NOT NULL,
    -- active, suspended or disconnected
    status        TEXT NOT NULL,
    status_reason TEXT,
    status_since  BIGINT NOT NULL,
    disconnect_at BIGINT,
    created_at    BIGINT NOT NULL
);

-- Small named documents a component saves across restarts (the traffic watch's counters).
CREATE TABLE saved_state (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
