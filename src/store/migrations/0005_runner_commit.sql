-- One round trip per runner commit: lock the run, check this process still holds its
-- lease, apply the step and run changes, append the audit events to the chain. The events'
-- hashes are computed here from the canonical JSON bodies belay built (sha256 of the previous
-- hash, a newline and the body: exactly what `belay audit verify` recomputes).
CREATE FUNCTION belay_runner_commit(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  r runs%ROWTYPE;
  s jsonb;
  sp jsonb;
  rp jsonb := p->'run_patch';
  e jsonb;
  prev text;
  h text;
  n bigint := 0;
  written jsonb := '[]'::jsonb;
  new_seq bigint;
BEGIN
  -- The run row first, then the chain's head: the same order as every other writer.
  SELECT * INTO r FROM runs WHERE id = p->>'run' FOR UPDATE;
  IF NOT FOUND OR r.lease_owner IS DISTINCT FROM p->>'owner' OR r.status <> 'running' THEN
    RAISE EXCEPTION 'run % is no longer leased to % (owner %, status %)', p->>'run', p->>'owner', r.lease_owner, r.status
      USING ERRCODE = 'BL001';
  END IF;

  FOR s IN SELECT * FROM jsonb_array_elements(p->'steps') LOOP
    sp := s->'patch';
    UPDATE steps SET
      status       = CASE WHEN sp ? 'status' THEN sp->>'status' ELSE status END,
      preview      = CASE WHEN sp ? 'preview' THEN sp->>'preview' ELSE preview END,
      preview_data = CASE WHEN sp ? 'previewData' THEN NULLIF(sp->'previewData', 'null'::jsonb) ELSE preview_data END,
      output       = CASE WHEN sp ? 'output' THEN NULLIF(sp->'output', 'null'::jsonb) ELSE output END,
      error        = CASE WHEN sp ? 'error' THEN sp->>'error' ELSE error END,
      attempts     = CASE WHEN sp ? 'attempts' THEN (sp->>'attempts')::int ELSE attempts END,
      started_at   = CASE WHEN sp ? 'startedAt' THEN (sp->>'startedAt')::timestamptz ELSE started_at END,
      finished_at  = CASE WHEN sp ? 'finishedAt' THEN (sp->>'finishedAt')::timestamptz ELSE finished_at END
    WHERE run_id = r.id AND idx = (s->>'idx')::int;
  END LOOP;

  UPDATE runs SET
    status           = CASE WHEN rp ? 'status' THEN rp->>'status' ELSE status END,
    status_reason    = CASE WHEN rp ? 'statusReason' THEN rp->>'statusReason' ELSE status_reason END,
    plan_hash        = CASE WHEN rp ? 'planHash' THEN rp->>'planHash' ELSE plan_hash END,
    abort_requested  = CASE WHEN rp ? 'abortRequested' THEN rp->>'abortRequested' ELSE abort_requested END,
    lease_owner      = CASE WHEN rp ? 'leaseOwner' THEN rp->>'leaseOwner' ELSE lease_owner END,
    lease_expires_at = CASE WHEN rp ? 'leaseExpiresAt' THEN (rp->>'leaseExpiresAt')::timestamptz ELSE lease_expires_at END,
    next_at          = CASE WHEN rp ? 'nextAt' THEN (rp->>'nextAt')::timestamptz ELSE next_at END,
    updated_at       = (p->>'now')::timestamptz
  WHERE id = r.id
  RETURNING * INTO r;

  IF jsonb_array_length(p->'events') > 0 THEN
    SELECT hash INTO prev FROM audit_head WHERE id = 1 FOR UPDATE;
    FOR e IN SELECT * FROM jsonb_array_elements(p->'events') LOOP
      h := encode(sha256(convert_to(prev || E'\n' || (e->>'body'), 'UTF8')), 'hex');
      INSERT INTO audit_events (id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash)
      VALUES (e->>'id', e->>'at', e->>'kind', e->>'actor', e->>'surface', e->>'run_id', e->>'incident_id', e->>'step', e->>'data', prev, h)
      RETURNING seq INTO new_seq;
      written := written || jsonb_build_array(jsonb_build_object('seq', new_seq, 'prev', prev, 'hash', h));
      prev := h;
      n := n + 1;
    END LOOP;
    UPDATE audit_head SET hash = prev, events = events + n WHERE id = 1;
  END IF;

  RETURN jsonb_build_object('run', to_jsonb(r), 'events', written);
END;
$$;
