-- Sealed execution inputs end with the run: when belay_runner_commit leaves a run terminal it
-- clears its steps' sealed_output and sealed_preview_data as well as its run_secrets row
-- (0007 deleted only the latter). The function is otherwise as 0007 defined it.

-- Sealed step inputs of runs that have already ended are not needed by anyone.
UPDATE steps SET sealed_output = NULL, sealed_preview_data = NULL
FROM runs
WHERE runs.id = steps.run_id
  AND runs.status IN ('succeeded', 'failed', 'rolled_back', 'aborted', 'previewed')
  AND (steps.sealed_output IS NOT NULL OR steps.sealed_preview_data IS NOT NULL);

-- One round trip per runner commit: lock the run, check this process still holds its lease
-- (owner and epoch), refuse to start a step once an abort is requested, take or release the
-- run's target locks, apply the step and run changes, append the audit events to the chain.
-- The events' hashes are computed here from the canonical JSON bodies belay built (sha256 of
-- the previous hash, a newline and the body: exactly what `belay audit verify` recomputes).
--   BL001 the lease is not this process's (another owner, a newer epoch, or the run moved on)
--   BL002 an abort was requested: the step is not started
--   BL003 a target lock is held by another unfinished run (DETAIL: target, run id)
CREATE OR REPLACE FUNCTION belay_runner_commit(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  r runs%ROWTYPE;
  s jsonb;
  sp jsonb;
  rp jsonb := p->'run_patch';
  e jsonb;
  t text;
  taken integer;
  holder text;
  prev text;
  h text;
  n bigint := 0;
  written jsonb := '[]'::jsonb;
  new_seq bigint;
BEGIN
  -- The run row first, then target locks, then the chain's head: the same order as every
  -- other writer (decisions lock the run row before they release its locks).
  SELECT * INTO r FROM runs WHERE id = p->>'run' FOR UPDATE;
  IF NOT FOUND OR r.lease_owner IS DISTINCT FROM p->>'owner' OR r.lease_epoch <> (p->>'epoch')::bigint OR r.status <> 'running' THEN
    RAISE EXCEPTION 'run % is no longer leased to % at epoch % (owner %, epoch %, status %)',
      p->>'run', p->>'owner', p->>'epoch', r.lease_owner, r.lease_epoch, r.status
      USING ERRCODE = 'BL001';
  END IF;

  IF r.abort_requested IS NOT NULL AND EXISTS (
    SELECT 1 FROM jsonb_array_elements(p->'steps') x WHERE x->'patch'->>'status' = 'running'
  ) THEN
    RAISE EXCEPTION 'run % : abort requested by %', r.id, r.abort_requested USING ERRCODE = 'BL002';
  END IF;

  IF p ? 'acquire' THEN
    FOR t IN SELECT value FROM jsonb_array_elements_text(p->'acquire') ORDER BY value LOOP
      -- The conflicting row is locked by the upsert: two runs racing for one target take
      -- turns here. A lock is taken over only from a run that has ended (a lost release);
      -- this run's own lock is re-tagged with its new lease epoch (recovery re-takes it).
      INSERT INTO target_locks AS l (target, run_id, owner, epoch, expires_at)
      VALUES (t, r.id, r.lease_owner, r.lease_epoch, 'infinity')
      ON CONFLICT (target) DO UPDATE SET run_id = EXCLUDED.run_id, owner = EXCLUDED.owner, epoch = EXCLUDED.epoch
      WHERE l.run_id = EXCLUDED.run_id
         OR NOT EXISTS (SELECT 1 FROM runs h WHERE h.id = l.run_id
                        AND h.status NOT IN ('succeeded', 'failed', 'rolled_back', 'aborted', 'previewed'));
      GET DIAGNOSTICS taken = ROW_COUNT;
      IF taken = 0 THEN
        SELECT run_id INTO holder FROM target_locks WHERE target = t;
        RAISE EXCEPTION 'target % is locked by run %', t, holder USING ERRCODE = 'BL003', DETAIL = jsonb_build_object('target', t, 'runId', holder)::text;
      END IF;
    END LOOP;
  END IF;

  FOR s IN SELECT * FROM jsonb_array_elements(p->'steps') LOOP
    sp := s->'patch';
    UPDATE steps SET
      status        = CASE WHEN sp ? 'status' THEN sp->>'status' ELSE status END,
      preview       = CASE WHEN sp ? 'preview' THEN sp->>'preview' ELSE preview END,
      preview_data  = CASE WHEN sp ? 'previewData' THEN NULLIF(sp->'previewData', 'null'::jsonb) ELSE preview_data END,
      output        = CASE WHEN sp ? 'output' THEN NULLIF(sp->'output', 'null'::jsonb) ELSE output END,
      sealed_output = CASE WHEN sp ? 'sealedOutput' THEN sp->>'sealedOutput' ELSE sealed_output END,
      sealed_preview_data = CASE WHEN sp ? 'sealedPreviewData' THEN sp->>'sealedPreviewData' ELSE sealed_preview_data END,
      error         = CASE WHEN sp ? 'error' THEN sp->>'error' ELSE error END,
      attempts      = CASE WHEN sp ? 'attempts' THEN (sp->>'attempts')::int ELSE attempts END,
      started_at    = CASE WHEN sp ? 'startedAt' THEN (sp->>'startedAt')::timestamptz ELSE started_at END,
      finished_at   = CASE WHEN sp ? 'finishedAt' THEN (sp->>'finishedAt')::timestamptz ELSE finished_at END
    WHERE run_id = r.id AND idx = (s->>'idx')::int;
  END LOOP;

  UPDATE runs SET
    status           = CASE WHEN rp ? 'status' THEN rp->>'status' ELSE status END,
    status_reason    = CASE WHEN rp ? 'statusReason' THEN rp->>'statusReason' ELSE status_reason END,
    plan_hash        = CASE WHEN rp ? 'planHash' THEN rp->>'planHash' ELSE plan_hash END,
    lease_owner      = CASE WHEN rp ? 'leaseOwner' THEN rp->>'leaseOwner' ELSE lease_owner END,
    lease_expires_at = CASE WHEN rp ? 'leaseOwner' AND rp->>'leaseOwner' IS NULL THEN NULL ELSE lease_expires_at END,
    next_at          = CASE WHEN rp ? 'nextInMs' THEN now() + (rp->>'nextInMs')::bigint * interval '1 millisecond' ELSE next_at END,
    updated_at       = (p->>'now')::timestamptz
  WHERE id = r.id
  RETURNING * INTO r;

  IF (p->>'release')::boolean IS TRUE THEN
    DELETE FROM target_locks WHERE run_id = r.id;
  END IF;
  -- A run that ended needs its sealed execution inputs no more: its secret params, and the
  -- raw outputs and preview data of its steps (sealed because their stored copy is redacted).
  IF r.status IN ('succeeded', 'failed', 'rolled_back', 'aborted', 'previewed') THEN
    DELETE FROM target_locks WHERE run_id = r.id;
    DELETE FROM run_secrets WHERE run_id = r.id;
    UPDATE steps SET sealed_output = NULL, sealed_preview_data = NULL
    WHERE run_id = r.id AND (sealed_output IS NOT NULL OR sealed_preview_data IS NOT NULL);
  END IF;

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

  RETURN jsonb_build_object('run', to_jsonb(r), 'events', written, 'dbNow', now());
END;
$$;
