-- Runs, their steps, approvals, target locks and the audit trail.

CREATE TABLE incidents (
  id          text PRIMARY KEY,
  title       text NOT NULL,
  service     text,
  status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  drill       boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  resolved_at timestamptz
);

CREATE TABLE runs (
  id                   text PRIMARY KEY,
  playbook_id          text NOT NULL,
  playbook_fingerprint text NOT NULL,
  incident_id          text REFERENCES incidents (id),
  requested_by         text NOT NULL,
  surface              text NOT NULL,
  params               jsonb NOT NULL,
  status               text NOT NULL CHECK (status IN (
                         'pending', 'running', 'waiting', 'awaiting_approval', 'awaiting_decision',
                         'succeeded', 'failed', 'rolled_back', 'aborted', 'previewed')),
  status_reason        text,
  dry_run              boolean NOT NULL DEFAULT false,
  plan_hash            text NOT NULL,
  abort_requested      text,
  lease_owner          text,
  lease_expires_at     timestamptz,
  next_at              timestamptz NOT NULL,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL
);

-- The work queue: runs a worker may claim. Partial, so finished runs cost nothing.
CREATE INDEX runs_claimable ON runs (next_at) WHERE status IN ('pending', 'waiting', 'running');
CREATE INDEX runs_incident ON runs (incident_id);
CREATE INDEX runs_created ON runs (created_at DESC);

CREATE TABLE steps (
  run_id      text NOT NULL REFERENCES runs (id),
  idx         integer NOT NULL,
  name        text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('diagnose', 'act', 'wait', 'notify')),
  risk        text CHECK (risk IN ('low', 'medium', 'high')),
  permissions jsonb NOT NULL DEFAULT '[]',
  status      text NOT NULL CHECK (status IN (
                'pending', 'awaiting_approval', 'running', 'verifying', 'rolling_back',
                'succeeded', 'failed', 'skipped', 'rolled_back', 'uncertain', 'previewed')),
  preview     text,
  preview_data jsonb,
  output      jsonb,
  error       text,
  attempts    integer NOT NULL DEFAULT 0,
  started_at  timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (run_id, idx)
);

CREATE TABLE approvals (
  id          text PRIMARY KEY,
  run_id      text NOT NULL REFERENCES runs (id),
  step_idx    integer NOT NULL,
  plan_hash   text NOT NULL,
  actor       text NOT NULL,
  groups      jsonb NOT NULL DEFAULT '[]',
  surface     text NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
-- One approval per person per step and plan: a double click approves once.
CREATE UNIQUE INDEX approvals_once ON approvals (run_id, step_idx, plan_hash, actor);

CREATE TABLE target_locks (
  target     text PRIMARY KEY,
  run_id     text NOT NULL,
  owner      text NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE TABLE audit_events (
  seq         bigserial PRIMARY KEY,
  id          text NOT NULL UNIQUE,
  at          text NOT NULL,
  kind        text NOT NULL,
  actor       text NOT NULL,
  surface     text NOT NULL,
  run_id      text,
  incident_id text,
  step        text,
  -- The event's details as canonical JSON text: exactly what was hashed, so verifying the
  -- chain needs no parsing (and a jsonb round trip can never change a hashed value).
  data        text NOT NULL,
  prev_hash   text NOT NULL,
  hash        text NOT NULL
);
CREATE INDEX audit_events_run ON audit_events (run_id, seq);
CREATE INDEX audit_events_incident ON audit_events (incident_id, seq);

-- The chain's head: the hash and count of the last event. Appends lock this row, so they
-- take turns; verify checks the last event against it, so events cut off the end of the
-- chain are noticed too.
CREATE TABLE audit_head (
  id     integer PRIMARY KEY CHECK (id = 1),
  hash   text NOT NULL,
  events bigint NOT NULL
);
INSERT INTO audit_head (id, hash, events) VALUES (1, repeat('0', 64), 0);

-- The trail is append-only: the database itself refuses UPDATE, DELETE and TRUNCATE.
CREATE FUNCTION belay_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION belay_audit_refuse();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION belay_audit_refuse();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
  FOR EACH ROW EXECUTE FUNCTION belay_audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
  FOR EACH STATEMENT EXECUTE FUNCTION belay_audit_refuse();
