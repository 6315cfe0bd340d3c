-- The desired-state store: revisions (one per commit seen), objects (the
-- Kubernetes-style records every controller reads and writes), events and the
-- state of the watched Git source. Every write to these tables is announced
-- with NOTIFY so that controllers and the status page wake at once instead of
-- polling.

-- ---------------------------------------------------------------- revisions

CREATE TABLE revisions (
  id            bigserial PRIMARY KEY,
  sha           text NOT NULL UNIQUE,
  parent_sha    text,
  author_name   text,
  author_email  text,
  message       text,
  committed_at  timestamptz,
  state         text NOT NULL CHECK (state IN ('pending', 'applied', 'rejected', 'superseded')),
  -- Lists of ManifestProblem {file, line, column, path, message, severity}.
  errors        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
  warnings      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(warnings) = 'array'),
  object_count  int,
  seen_at       timestamptz NOT NULL DEFAULT now(),
  applied_at    timestamptz
);

CREATE INDEX revisions_state ON revisions (state, id DESC);

-- ------------------------------------------------------------------ objects

-- One global counter, as in Kubernetes: a resource version orders every write
-- across all objects, so "everything after version N" is a meaningful query.
CREATE SEQUENCE resource_version_seq;

CREATE TABLE objects (
  uid                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind                 text NOT NULL CHECK (kind <> ''),
  -- '' for cluster-scoped kinds (Namespace, Node), so that the unique key below
  -- needs no NULL handling.
  namespace            text NOT NULL DEFAULT '',
  name                 text NOT NULL CHECK (name <> ''),
  api_version          text NOT NULL,
  labels               jsonb NOT NULL DEFAULT '{}',
  annotations          jsonb NOT NULL DEFAULT '{}',
  spec                 jsonb NOT NULL DEFAULT '{}',
  status               jsonb NOT NULL DEFAULT '{}',
  -- generation counts spec changes; observed_generation is the generation the
  -- owning controller last acted on.
  generation           bigint NOT NULL DEFAULT 1,
  observed_generation  bigint NOT NULL DEFAULT 0,
  spec_hash            text NOT NULL,
  -- Set by the objects_stamp trigger on every write; callers never supply it.
  resource_version     bigint NOT NULL,
  -- Deliberately no foreign key. The garbage collector works like Kubernetes':
  -- a dependent whose owner is gone (missing or soft-deleted) is deleted
  -- through the normal path, which stops its processes on the nodes first.
  -- ON DELETE SET NULL would turn such orphans into unowned top-level objects
  -- that nothing ever collects, and ON DELETE CASCADE would drop the rows
  -- without that clean-up. A dangling owner_uid is the signal the GC needs.
  owner_uid            uuid,
  source               text NOT NULL CHECK (source IN ('git', 'controller')),
  -- The commit that last set this object (git-sourced objects only).
  revision_sha         text,
  source_file          text,
  source_line          int,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  -- Soft delete: the row stays until controllers have torn the workload down.
  deleted_at           timestamptz
);

-- Unique among live rows: a soft-deleted object does not block re-creating the
-- same name. Its leading columns also serve lookups by (kind) and
-- (kind, namespace) of live rows, so no separate index is kept for those.
CREATE UNIQUE INDEX objects_live_key ON objects (kind, namespace, name) WHERE deleted_at IS NULL;

CREATE INDEX objects_owner ON objects (owner_uid) WHERE owner_uid IS NOT NULL;

CREATE FUNCTION objects_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (NEW.uid, NEW.kind, NEW.namespace, NEW.name)
                        IS DISTINCT FROM (OLD.uid, OLD.kind, OLD.namespace, OLD.name) THEN
    -- Identity is immutable, as in Kubernetes: a rename is a delete and a create.
    RAISE EXCEPTION 'the identity of object % (%/%/%) cannot change', OLD.uid, OLD.kind, OLD.namespace, OLD.name
      USING ERRCODE = 'check_violation';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.created_at := OLD.created_at;
  END IF;
  NEW.resource_version := nextval('resource_version_seq');
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER objects_stamp BEFORE INSERT OR UPDATE ON objects
  FOR EACH ROW EXECUTE FUNCTION objects_stamp();

CREATE FUNCTION objects_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  target objects%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN target := OLD; ELSE target := NEW; END IF;
  PERFORM pg_notify('capstan_objects', json_build_object(
    'kind', target.kind,
    'namespace', target.namespace,
    'name', target.name,
    'uid', target.uid,
    'resourceVersion', target.resource_version,
    'op', TG_OP,
    -- A soft delete is an UPDATE; say so, so listeners need not re-read the row.
    'deleted', target.deleted_at IS NOT NULL OR TG_OP = 'DELETE'
  )::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER objects_notify AFTER INSERT OR UPDATE OR DELETE ON objects
  FOR EACH ROW EXECUTE FUNCTION objects_notify();

-- ------------------------------------------------------------------- events

CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  -- The object the event is about. No foreign key: events outlive their
  -- objects (that is when they are most useful).
  object_uid  uuid,
  kind        text NOT NULL,
  namespace   text NOT NULL DEFAULT '',
  name        text NOT NULL,
  type        text NOT NULL CHECK (type IN ('Normal', 'Warning')),
  reason      text NOT NULL,
  message     text NOT NULL,
  first_time  timestamptz NOT NULL DEFAULT now(),
  last_time   timestamptz NOT NULL DEFAULT now(),
  count       int NOT NULL DEFAULT 1 CHECK (count >= 1),
  -- The component that reported it, e.g. 'deployment-controller', 'scheduler'.
  source      text NOT NULL DEFAULT ''
);

-- Deduplication key, as Kubernetes' event correlator: the same event about the
-- same object bumps count and last_time instead of adding a row. The message
-- is hashed so that a long message cannot exceed the btree entry limit.
CREATE UNIQUE INDEX events_dedup ON events (kind, namespace, name, type, reason, md5(message), source);

CREATE INDEX events_last_time ON events (last_time DESC);

-- Records an event, folding repeats into one row. A repeat after a quiet
-- period longer than p_window starts a fresh count (Kubernetes keeps events
-- for an hour, after which a repeat is a new event). p_at is a parameter so
-- that callers with an injected clock control the timestamps.
CREATE FUNCTION record_event(
  p_object_uid uuid, p_kind text, p_namespace text, p_name text,
  p_type text, p_reason text, p_message text, p_source text,
  p_at timestamptz DEFAULT now(), p_window interval DEFAULT interval '1 hour'
) RETURNS events LANGUAGE sql AS $$
  INSERT INTO events AS e (object_uid, kind, namespace, name, type, reason, message, source, first_time, last_time)
  VALUES (p_object_uid, p_kind, p_namespace, p_name, p_type, p_reason, p_message, p_source, p_at, p_at)
  ON CONFLICT (kind, namespace, name, type, reason, md5(message), source) DO UPDATE SET
    object_uid = COALESCE(excluded.object_uid, e.object_uid),
    count      = CASE WHEN e.last_time < p_at - p_window THEN 1 ELSE e.count + 1 END,
    first_time = CASE WHEN e.last_time < p_at - p_window THEN p_at ELSE e.first_time END,
    last_time  = GREATEST(e.last_time, p_at)
  RETURNING *;
$$;

CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('capstan_events', json_build_object(
    'id', NEW.id,
    'kind', NEW.kind,
    'namespace', NEW.namespace,
    'name', NEW.name,
    'type', NEW.type,
    'reason', NEW.reason,
    'count', NEW.count
  )::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT OR UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION events_notify();

-- ----------------------------------------------------- revision notifications

CREATE FUNCTION revisions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('capstan_revisions', json_build_object('sha', NEW.sha, 'state', NEW.state)::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER revisions_notify AFTER INSERT OR UPDATE ON revisions
  FOR EACH ROW EXECUTE FUNCTION revisions_notify();

-- --------------------------------------------------------------- sync_state

-- One row per watched Git source ('default' for the one `capstan up` watches).
CREATE TABLE sync_state (
  id                 text PRIMARY KEY,
  -- Without credentials: this table is shown on the status page.
  url                text,
  branch             text,
  path               text,
  last_fetch_at      timestamptz,
  last_success_at    timestamptz,
  last_error         text,
  -- Start of the current run of failed fetches; NULL while the source answers.
  unreachable_since  timestamptz,
  -- The last applied commit, and the last commit looked at (applied or not).
  live_sha           text,
  last_seen_sha      text
);
