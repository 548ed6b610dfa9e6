-- Alert history per incident. incident_alerts was keyed by (source, fingerprint), so an alert
-- that fired again after its incident resolved moved to the new incident and the old one lost
-- it (its postmortem said "0 alerts"). An alert now has one row per incident it was part of;
-- the row with the latest last_seen_at is its current state (dedup reads that one).
ALTER TABLE incident_alerts ADD COLUMN incident_key text GENERATED ALWAYS AS (coalesce(incident_id, '')) STORED;
ALTER TABLE incident_alerts DROP CONSTRAINT incident_alerts_pkey;
ALTER TABLE incident_alerts ADD PRIMARY KEY (source, fingerprint, incident_key);
CREATE INDEX incident_alerts_latest ON incident_alerts (source, fingerprint, last_seen_at DESC);
