-- Incident jobs of kind 'watch': some minutes after a verified fix, belay looks whether the
-- incident's alerts still fire and says so in its thread (src/incidents/watch.ts).
ALTER TABLE incident_jobs DROP CONSTRAINT incident_jobs_kind_check;
ALTER TABLE incident_jobs ADD CONSTRAINT incident_jobs_kind_check CHECK (kind IN ('triage', 'resolve', 'watch'));
