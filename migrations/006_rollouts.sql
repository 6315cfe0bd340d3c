-- Rollouts and rollbacks are commits (DESIGN.md). Each applied revision keeps
-- what it changed (workloads added, changed, removed, with the spec fields
-- that changed) and, for every Deployment and DaemonSet it changed, a rollout
-- record whose outcome the rollout tracker fills in. A revision is healthy when
-- all its rollouts completed; `capstan rollback` goes back to the last one.

ALTER TABLE revisions
  ADD COLUMN changes jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(changes) = 'array'),
  -- NULL for revisions never applied (rejected, superseded, pending).
  ADD COLUMN health text CHECK (health IN ('progressing', 'healthy', 'failed', 'superseded'));

CREATE TABLE rollouts (
  id            bigserial PRIMARY KEY,
  -- The commit that started it.
  revision_sha  text NOT NULL,
  kind          text NOT NULL,
  namespace     text NOT NULL,
  name          text NOT NULL,
  object_uid    uuid,
  -- The workload's generation this rollout brings about: the tracker judges it
  -- only once the workload's controller has observed that generation.
  generation    bigint NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  outcome       text NOT NULL DEFAULT 'progressing'
                CHECK (outcome IN ('progressing', 'complete', 'failed', 'superseded')),
  reason        text,
  -- The commit capstan pushed to revert this rollout's commit (auto-revert), once.
  reverted_by   text
);

-- A workload has at most one rollout under way: a newer commit supersedes it.
CREATE UNIQUE INDEX rollouts_one_progressing ON rollouts (kind, namespace, name) WHERE outcome = 'progressing';
CREATE INDEX rollouts_workload ON rollouts (kind, namespace, name, id DESC);
CREATE INDEX rollouts_revision ON rollouts (revision_sha);

-- Drift in the database: a git-sourced object whose spec, labels or
-- annotations are changed by anything but the sync (psql, a stray script)
-- loses its git_hash, so the sync's next pass sees it differs from Git and
-- writes Git's version back (with a DriftRepaired event). The sync's own
-- writes always set a new git_hash and are left alone.
CREATE FUNCTION objects_git_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.source = 'git' AND NEW.git_hash IS NOT DISTINCT FROM OLD.git_hash
     AND (NEW.spec, NEW.labels, NEW.annotations) IS DISTINCT FROM (OLD.spec, OLD.labels, OLD.annotations) THEN
    NEW.git_hash := NULL;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER objects_git_edit BEFORE UPDATE ON objects
  FOR EACH ROW EXECUTE FUNCTION objects_git_edit();
