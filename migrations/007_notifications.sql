-- Notifications (kind: Notifier). A dispatcher derives notifications from
-- facts already stored (events, rejected revisions) and enqueues one delivery
-- per Notifier into a durable outbox; a worker on the leader posts them with
-- retries. Reconciliation never waits for either: the reconcilers only write
-- their events, as before.

-- Which transaction last wrote each fact row. Events are folded (a repeat
-- bumps count on the same row), so neither the id nor a timestamp says what
-- is new; the writer's transaction id does, together with the oldest
-- transaction still running (pg_snapshot_xmin): every row written below that
-- horizon is committed (or gone for good), so a cursor that advances to the
-- horizon never skips a row whose transaction commits late.
ALTER TABLE events ADD COLUMN written_xid xid8;
ALTER TABLE revisions ADD COLUMN written_xid xid8;

CREATE FUNCTION stamp_written_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.written_xid := pg_current_xact_id();
  RETURN NEW;
END
$$;

CREATE TRIGGER events_written_xid BEFORE INSERT OR UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION stamp_written_xid();
CREATE TRIGGER revisions_written_xid BEFORE INSERT OR UPDATE ON revisions
  FOR EACH ROW EXECUTE FUNCTION stamp_written_xid();

CREATE INDEX events_written_xid ON events (written_xid);
CREATE INDEX revisions_written_xid ON revisions (written_xid);

-- The dispatcher's durable cursor: every fact written by a transaction with
-- an id below `horizon` has been turned into deliveries. It starts at this
-- migration, so facts recorded before notifications existed are history,
-- not news.
CREATE TABLE notification_cursor (
  id       text PRIMARY KEY,
  horizon  xid8 NOT NULL
);
INSERT INTO notification_cursor (id, horizon) VALUES ('facts', pg_current_xact_id());

CREATE TABLE notification_deliveries (
  id               bigserial PRIMARY KEY,
  notifier_namespace text NOT NULL,
  notifier_name    text NOT NULL,
  event_type       text NOT NULL CHECK (event_type IN
                     ('RolloutComplete', 'RolloutFailed', 'CommitRejected', 'AutoRevertPushed', 'NodeNotReady', 'CronJobRunFailed')),
  -- Names the fact (e.g. event-42-3: event row 42 at count 3), sent as the
  -- Idempotency-Key header so that a receiver can drop a retried post.
  idempotency_key  text NOT NULL,
  -- The format-neutral notification; rendered as json or slack when sent.
  payload          jsonb NOT NULL,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts         int NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text,
  -- The HTTP status of the last answer, NULL when there was none (refused, timed out).
  last_status      int,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  -- Set when the delivery ends either way (delivered or given up).
  finished_at      timestamptz,
  -- One delivery per fact per Notifier, however often the dispatcher sees the fact.
  UNIQUE (notifier_namespace, notifier_name, idempotency_key)
);

CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE state = 'pending';

-- Wakes the delivery worker at once for new deliveries.
CREATE FUNCTION notification_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('capstan_notifications', NEW.id::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER notification_deliveries_notify AFTER INSERT ON notification_deliveries
  FOR EACH ROW EXECUTE FUNCTION notification_deliveries_notify();
