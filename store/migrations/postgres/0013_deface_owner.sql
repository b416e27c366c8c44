-- Who a protected site belongs to: the organisation (its BIN) whose incidents it
-- files, and the technical contacts (a JSON list of e-mail addresses) told of each
-- finding. From the defacement application it was connected from, or given by the duty
-- team when it is added by hand.
ALTER TABLE deface_sites ADD COLUMN org_bin TEXT;
ALTER TABLE deface_sites ADD COLUMN contacts_json TEXT NOT NULL DEFAULT '[]';
CREATE INDEX deface_sites_org ON deface_sites (org_bin);
