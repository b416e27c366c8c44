-- The desk's second pass: the regulation's forms item by item.
--
-- Secrets: an application may now hold several (the site's private key, the account's
-- password or key), each sealed on its own, kept as a JSON object field -> sealed hex.
-- The single sealed secret of a defacement application was its account's password.
ALTER TABLE applications ADD COLUMN sealed_secrets TEXT;
UPDATE applications SET sealed_secrets = json_object('password', sealed_secret)
    WHERE kind = 'defacement' AND sealed_secret IS NOT NULL;
UPDATE applications SET sealed_secret = NULL;

-- WAF and defacement: the responsible/phone pair becomes one specialist (the pair had
-- no e-mail: the application's first contact stands in for it); a defacement
-- application's credentials become access, login and password (sealed above); the
-- WAF's optional credentials, which appendix 3 does not ask for, go.
UPDATE applications SET record_json = json_remove(
    json_set(record_json, '$.fields.specialists', json_array(json_object(
        'name', COALESCE(json_extract(record_json, '$.fields.responsible'), ''),
        'email', COALESCE(json_extract(record_json, '$.contacts[0]'), ''),
        'work_phone', COALESCE(json_extract(record_json, '$.fields.phone'), ''),
        'mobile', ''))),
    '$.fields.responsible', '$.fields.phone')
    WHERE kind IN ('waf', 'defacement');
UPDATE applications SET record_json = json_remove(
    json_set(record_json,
        '$.fields.access', COALESCE(json_extract(record_json, '$.fields.credentials.access'), ''),
        '$.fields.login', COALESCE(json_extract(record_json, '$.fields.credentials.login'), ''),
        '$.fields.password', '********'),
    '$.fields.credentials')
    WHERE kind = 'defacement' AND json_extract(record_json, '$.fields.credentials') IS NOT NULL;
UPDATE applications SET record_json = json_remove(record_json, '$.fields.credentials') WHERE kind = 'waf';

-- Technical conditions are itemised: the old free text becomes the connection point
-- (item 2.3); the other items read as the regulation's text.
UPDATE applications SET record_json = json_remove(
    json_set(record_json, '$.conditions.connection_point',
        COALESCE(json_extract(record_json, '$.conditions.details'), '')),
    '$.conditions.details')
    WHERE json_type(record_json, '$.conditions') = 'object';

-- The resources a refusal holds back for 30 days (IQBSH rules 17 and 18: the site's
-- domain; EPBSH rule 10: each mail domain), lowercase.
CREATE TABLE application_resources (
    application_id BIGINT NOT NULL REFERENCES applications (id),
    kind           TEXT NOT NULL,
    resource       TEXT NOT NULL
);
CREATE INDEX application_resources_resource ON application_resources (kind, resource);
INSERT INTO application_resources (application_id, kind, resource)
    SELECT id, kind, lower(json_extract(record_json, '$.fields.site')) FROM applications
    WHERE kind IN ('waf', 'defacement');
INSERT INTO application_resources (application_id, kind, resource)
    SELECT a.id, a.kind, lower(d.value) FROM applications a, json_each(a.record_json, '$.fields.domains') d
    WHERE a.kind = 'mail-connection';

-- An e-mail may carry attachments of its application (the technical conditions as a
-- PDF): a JSON array of attachment ids.
ALTER TABLE desk_mail ADD COLUMN attachments TEXT;
