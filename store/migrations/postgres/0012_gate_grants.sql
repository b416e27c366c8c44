-- The duty team's grants of network services besides the web proxy (VPN, remote access
-- and the like: rule 15-2) to one organisation, enforced by the packet gate. Revoked
-- grants stay as history.
CREATE TABLE gate_grants (
    id              BIGSERIAL PRIMARY KEY,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    -- tcp, udp or icmp
    proto           TEXT NOT NULL,
    -- ports and ranges as written: 1194,51820,6881-6889 (empty for icmp)
    ports           TEXT NOT NULL,
    -- destination prefixes separated by commas; empty: anywhere
    destinations    TEXT NOT NULL,
    reason          TEXT NOT NULL,
    -- unix milliseconds from which it opens nothing; NULL: until revoked
    expires_at      BIGINT,
    created_at      BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    revoked_at      BIGINT,
    revoked_by      TEXT,
    revoke_reason   TEXT
);
CREATE INDEX gate_grants_organisation ON gate_grants (organisation_id);
CREATE INDEX gate_grants_revoked ON gate_grants (revoked_at);
