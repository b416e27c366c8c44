-- The sites the web application firewall protects (rule 17) and the exclusions proposed
-- from their events. A site's private key is kept only sealed with the desk key (hex of
-- nonce, ciphertext, tag): never in the clear, never shown, never exported.
CREATE TABLE waf_sites (
    id             BIGSERIAL PRIMARY KEY,
    domain         TEXT NOT NULL UNIQUE,
    -- space-separated other names of the site, lower case
    aliases        TEXT NOT NULL,
    -- space-separated ADDR:PORT of its origin servers
    origins        TEXT NOT NULL,
    -- JSON {verify, ca_pem, server_name}; NULL: plain HTTP to the origins
    origin_tls     TEXT,
    -- the certificate chain (PEM, leaf first); NULL until one is given
    certificate    TEXT,
    -- its private key, sealed; NULL until one is given
    sealed_key     TEXT,
    -- JSON: the rule settings, the rate limit, the allow and deny lists
    settings       TEXT NOT NULL,
    -- the organisation whose site it is (its people read its events), if known
    owner_bin      TEXT,
    -- the desk application it was connected from, if any
    application_id BIGINT,
    -- space-separated e-mail addresses
    contacts       TEXT NOT NULL,
    -- grows with every change: a change made on an older version is refused
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX waf_sites_owner ON waf_sites (owner_bin);
CREATE INDEX waf_sites_application ON waf_sites (application_id);

CREATE TABLE waf_proposals (
    id             BIGSERIAL PRIMARY KEY,
    site_id        BIGINT NOT NULL REFERENCES waf_sites (id) ON DELETE CASCADE,
    rule           BIGINT NOT NULL,
    -- ARGS:comment and the like; NULL: the rule everywhere on the site
    target         TEXT,
    -- the transaction (audit log id) the false positive was seen in
    transaction_id TEXT,
    note           TEXT NOT NULL,
    -- proposed, confirmed or declined
    status         TEXT NOT NULL,
    proposed_by    TEXT NOT NULL,
    proposed_at    BIGINT NOT NULL,
    decided_by     TEXT,
    decided_at     BIGINT
);
CREATE INDEX waf_proposals_site ON waf_proposals (site_id, status);
