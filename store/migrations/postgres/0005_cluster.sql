-- Several nodes on one database: every audited change is announced on the channel
-- perimeter_changes (its id as payload) when its transaction commits, so each node's
-- snapshot and registry follow within a moment instead of a polling interval.
CREATE FUNCTION perimeter_announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('perimeter_changes', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER changes_announced AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION perimeter_announce_change();

-- Each node's traffic-watch counts of its current windows, per mail system, so that
-- every node judges a system on what all of them counted.
CREATE TABLE watch_shares (
    node       TEXT NOT NULL,
    system_id  BIGINT NOT NULL,
    share_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (node, system_id)
);
