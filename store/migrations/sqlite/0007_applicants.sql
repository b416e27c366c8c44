-- Applicants follow their applications: a token or a console person may be limited to
-- one organisation (role 'organisation'), as others are to one operator; attachments
-- keep their content, and a detached signature the attachment it signs; the desk's
-- e-mails wait in an outbox until the SMTP server accepts them, retried like the
-- reconciler's notices.
ALTER TABLE tokens ADD COLUMN organisation_id BIGINT REFERENCES organisations (id);
ALTER TABLE users ADD COLUMN organisation_id BIGINT REFERENCES organisations (id);

ALTER TABLE application_attachments ADD COLUMN content BLOB;
-- a detached signature: the attachment (of the same application) it was verified over
ALTER TABLE application_attachments ADD COLUMN signs BIGINT REFERENCES application_attachments (id);

CREATE TABLE desk_mail (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id BIGINT NOT NULL REFERENCES applications (id),
    created_at     BIGINT NOT NULL,
    -- what the message tells (file, a transition's verb, a reminder, an incident alert)
    event          TEXT NOT NULL,
    -- JSON array of addresses
    recipients     TEXT NOT NULL,
    subject        TEXT NOT NULL,
    body           TEXT NOT NULL,
    -- pending: recorded, not yet accepted by the SMTP server; sent; failed: gave up.
    status         TEXT NOT NULL,
    attempts       BIGINT NOT NULL,
    next_attempt   BIGINT NOT NULL,
    last_error     TEXT,
    sent_at        BIGINT
);
CREATE INDEX desk_mail_due ON desk_mail (status, next_attempt);
CREATE INDEX desk_mail_application ON desk_mail (application_id, id);
