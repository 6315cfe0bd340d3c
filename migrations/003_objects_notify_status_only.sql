-- Node agents write pod and node status many times a minute. Listeners that
-- care only about what an object asks for (the node manager re-reading the
-- pods to send to a node; later, controllers watching specs) must be able to
-- tell such writes apart without re-reading the row, so the notification now
-- says `statusOnly` when an UPDATE changed nothing but status bookkeeping.
CREATE OR REPLACE FUNCTION objects_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  target objects%ROWTYPE;
  status_only boolean := false;
BEGIN
  IF TG_OP = 'DELETE' THEN target := OLD; ELSE target := NEW; END IF;
  IF TG_OP = 'UPDATE' THEN
    status_only := OLD.spec IS NOT DISTINCT FROM NEW.spec
      AND OLD.labels IS NOT DISTINCT FROM NEW.labels
      AND OLD.annotations IS NOT DISTINCT FROM NEW.annotations
      AND OLD.owner_uid IS NOT DISTINCT FROM NEW.owner_uid
      AND OLD.deleted_at IS NOT DISTINCT FROM NEW.deleted_at;
  END IF;
  PERFORM pg_notify('capstan_objects', json_build_object(
    'kind', target.kind,
    'namespace', target.namespace,
    'name', target.name,
    'uid', target.uid,
    'resourceVersion', target.resource_version,
    'op', TG_OP,
    -- A soft delete is an UPDATE; say so, so listeners need not re-read the row.
    'deleted', target.deleted_at IS NOT NULL OR TG_OP = 'DELETE',
    'statusOnly', status_only
  )::text);
  RETURN NULL;
END
$$;
