-- Audit anchoring: an HMAC over each event's (seq, hash), computed by belay after commit with
-- a key the database never sees (BELAY_AUDIT_HMAC_KEY). Whoever owns the database can rewrite
-- an event and recompute the hash chain, but cannot compute these MACs, so `belay audit verify`
-- with the key catches the rewrite. Append-only, like audit_events.
CREATE TABLE audit_macs (
  seq       bigint PRIMARY KEY,
  -- The event hash that was signed: a later rewrite of the event no longer matches it.
  hash      text NOT NULL,
  mac       text NOT NULL,
  signed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION belay_audit_macs_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_macs is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_macs_no_update_delete BEFORE UPDATE OR DELETE ON audit_macs
  FOR EACH ROW EXECUTE FUNCTION belay_audit_macs_refuse();
CREATE TRIGGER audit_macs_no_truncate BEFORE TRUNCATE ON audit_macs
  FOR EACH STATEMENT EXECUTE FUNCTION belay_audit_macs_refuse();
