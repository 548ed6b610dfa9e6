-- Alert ingestion: the durable inbox of webhook deliveries, the alerts behind each incident,
-- what groups alerts into an open incident, and the jobs (triage, resolution) that run after
-- a webhook has been answered.

-- Every accepted delivery, normalised. A webhook is answered 202 only after its row has
-- committed; the drain turns rows into incidents afterwards, so a crash after the 202 loses
-- nothing. Rows are kept (processed_at set) as the record of what arrived.
CREATE TABLE ingest_deliveries (
  seq          bigserial PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  source       text NOT NULL CHECK (source IN ('alertmanager', 'pagerduty', 'drill', 'manual')),
  -- PagerDuty's X-Webhook-Id: the same on every retry of one webhook, so a retry is stored once.
  delivery_key text,
  event_type   text NOT NULL,
  alerts       jsonb NOT NULL,
  meta         jsonb NOT NULL DEFAULT '{}',
  received_at  timestamptz NOT NULL,
  processed_at timestamptz,
  attempts     integer NOT NULL DEFAULT 0,
  error        text
);
CREATE UNIQUE INDEX ingest_deliveries_key ON ingest_deliveries (source, delivery_key) WHERE delivery_key IS NOT NULL;
-- The drain's queue: partial, so processed deliveries cost nothing.
CREATE INDEX ingest_deliveries_pending ON ingest_deliveries (seq) WHERE processed_at IS NULL;

ALTER TABLE incidents
  ADD COLUMN source                text,
  ADD COLUMN severity              text,
  ADD COLUMN failure_mode          text,
  ADD COLUMN pagerduty_incident_id text,
  ADD COLUMN pagerduty_status      text,
  ADD COLUMN alert_count           integer NOT NULL DEFAULT 0,
  ADD COLUMN opened_count          integer NOT NULL DEFAULT 1,
  ADD COLUMN last_alert_at         timestamptz,
  ADD COLUMN slack_channel         text,
  ADD COLUMN slack_ts              text,
  ADD COLUMN slack_permalink       text;
-- One belay incident per PagerDuty incident, open or resolved (a reopened one comes back to it).
CREATE UNIQUE INDEX incidents_pagerduty ON incidents (pagerduty_incident_id) WHERE pagerduty_incident_id IS NOT NULL;
-- Window grouping looks for an open incident naming the same service and failure mode.
CREATE INDEX incidents_open_service ON incidents (service, failure_mode, last_alert_at) WHERE status = 'open';

-- What groups alerts into an open incident: 'alertmanager:<groupKey>', 'pagerduty:<id>',
-- 'window:<service>/<failure mode>'. Deleted when the incident resolves.
CREATE TABLE incident_keys (
  key         text PRIMARY KEY,
  incident_id text NOT NULL REFERENCES incidents (id)
);
CREATE INDEX incident_keys_incident ON incident_keys (incident_id);

-- The latest state of each alert (dedup by fingerprint) and the incident it belongs to.
CREATE TABLE incident_alerts (
  source        text NOT NULL,
  fingerprint   text NOT NULL,
  incident_id   text REFERENCES incidents (id),
  status        text NOT NULL CHECK (status IN ('firing', 'resolved')),
  alert         jsonb NOT NULL,
  received      integer NOT NULL DEFAULT 1,
  first_seen_at timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL,
  resolved_at   timestamptz,
  PRIMARY KEY (source, fingerprint)
);
CREATE INDEX incident_alerts_incident ON incident_alerts (incident_id, status);

-- Work that follows a committed state change (an outbox): triage a new incident, withdraw
-- proposals of a resolved one. Claimed with leases, so a crash re-runs it elsewhere; `state`
-- memoises the side effects already done (run proposed, thread posted, note added).
CREATE TABLE incident_jobs (
  id               text PRIMARY KEY,
  incident_id      text NOT NULL REFERENCES incidents (id),
  kind             text NOT NULL CHECK (kind IN ('triage', 'resolve')),
  dedupe_key       text NOT NULL UNIQUE,
  status           text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
  state            jsonb NOT NULL DEFAULT '{}',
  attempts         integer NOT NULL DEFAULT 0,
  last_error       text,
  lease_owner      text,
  lease_expires_at timestamptz,
  next_at          timestamptz NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX incident_jobs_due ON incident_jobs (next_at) WHERE status IN ('pending', 'running');
CREATE INDEX incident_jobs_incident ON incident_jobs (incident_id);
