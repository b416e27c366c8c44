-- Each node's traffic-watch counts of its current windows, per mail system (with
-- SQLite there is one node; the table keeps both schemas alike).
CREATE TABLE watch_shares (
    node       TEXT NOT NULL,
    system_id  BIGINT NOT NULL,
    share_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (node, system_id)
);
