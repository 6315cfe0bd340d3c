-- Controllers map a changed Pod to its ReplicaSet, and a ReplicaSet to its
-- Deployment, by the owner. The notification now carries `ownerUid`, so that
-- mapping needs no re-read of the row (a hard-deleted row cannot be re-read at
-- all). Otherwise objects_notify() is as in 003.
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
    'ownerUid', target.owner_uid,
    'resourceVersion', target.resource_version,
    'op', TG_OP,
    -- A soft delete is an UPDATE; say so, so listeners need not re-read the row.
    'deleted', target.deleted_at IS NOT NULL OR TG_OP = 'DELETE',
    'statusOnly', status_only
  )::text);
  RETURN NULL;
END
$$;
