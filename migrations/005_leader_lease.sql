-- Leader election for several control planes sharing one database
-- (`capstan up --replicas-share`). One row per lease; the control plane uses
-- the row named 'control-plane'. Every time checks use the database's now(),
-- so that the replicas' own clocks never decide who leads.
CREATE TABLE leader_lease (
  name            text PRIMARY KEY,
  -- The replica holding the lease; NULL once released (SIGTERM), so the next
  -- replica need not wait for the lease to run out.
  holder          text,
  -- Where the holder serves its page and API, for followers to point at.
  holder_url      text,
  -- The fencing token: bumped on every acquisition, never on a renewal. Every
  -- write transaction of the leader's components checks it (src/leader/fence.ts).
  -- The UNIQUE (name, token) below makes it a "key" column for row locks
  -- (trivially unique, name being the key): an acquisition, which
  -- changes it, takes FOR UPDATE and so waits for every write transaction that
  -- holds FOR KEY SHARE on the row, while a renewal (FOR NO KEY UPDATE) never
  -- waits for them. See the fence for why that matters.
  token           bigint NOT NULL,
  acquired_at     timestamptz,
  renewed_at      timestamptz,
  -- How long after renewed_at the lease runs out; chosen by the holder.
  lease_ms        int NOT NULL CHECK (lease_ms > 0),
  UNIQUE (name, token)
);

-- A released or handed-over lease wakes the followers at once.
CREATE FUNCTION leader_lease_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.holder IS DISTINCT FROM OLD.holder OR NEW.token <> OLD.token THEN
    PERFORM pg_notify('capstan_leader', json_build_object('name', NEW.name, 'holder', NEW.holder, 'token', NEW.token)::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER leader_lease_notify AFTER UPDATE ON leader_lease
  FOR EACH ROW EXECUTE FUNCTION leader_lease_notify();
