-- rbxd on PostgreSQL, schema version 1 (spec/SERVER.md section 9).
-- SPDX-License-Identifier: MIT
--
-- A migration that a Supabase project (or any PostgreSQL 13 or later) can
-- install as it is: `rbxd --print-migration > supabase/migrations/<ts>_rbxd.sql`,
-- or `rbxd --migrate --db postgresql://owner@...` (which runs it in one
-- transaction under an advisory lock). It is idempotent.
--
-- Access: the tables live in schema rbx, with row-level security on and no
-- policy, and no privilege for anybody but their owner. Everything rbxd
-- does goes through the SECURITY DEFINER functions below, which only the
-- role rbxd_app may execute: rbxd connects as a login role that is a member
-- of rbxd_app (CREATE ROLE rbxd LOGIN IN ROLE rbxd_app). Clients of the
-- database (Supabase's anon and authenticated roles) can neither read nor
-- call anything here. The claim and delivery logic is in these functions,
-- so every rbxd process sharing the database applies the same rules in the
-- same transactions.
--
-- Times are Unix seconds passed in by rbxd (its clock, injectable in tests),
-- never now().

CREATE SCHEMA IF NOT EXISTS rbx;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rbxd_app') THEN
    CREATE ROLE rbxd_app NOLOGIN;
  END IF;
END
$$;

REVOKE ALL ON SCHEMA rbx FROM PUBLIC;
GRANT USAGE ON SCHEMA rbx TO rbxd_app;

CREATE TABLE IF NOT EXISTS rbx.meta(
  k text PRIMARY KEY,
  v bigint NOT NULL
);

-- The signed device-list log of each user, as uploaded.
CREATE TABLE IF NOT EXISTS rbx.devlist(
  uid text NOT NULL,
  seq bigint NOT NULL,
  hash bytea NOT NULL,
  entry bytea NOT NULL,
  PRIMARY KEY(uid, seq)
);

-- One row per device ever enrolled (active false after removal).
CREATE TABLE IF NOT EXISTS rbx.device(
  uid text NOT NULL,
  device bigint NOT NULL,
  identity bytea NOT NULL,
  registration_id bigint NOT NULL,
  active boolean NOT NULL,
  bundle bytea,
  spk_id bigint,
  spk bytea,
  spk_created bigint,
  spk_uploaded bigint,
  otk_max bigint NOT NULL DEFAULT 0,
  mbox_count bigint NOT NULL DEFAULT 0,
  mbox_bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY(uid, device)
);

CREATE INDEX IF NOT EXISTS device_by_id ON rbx.device(device);

CREATE TABLE IF NOT EXISTS rbx.otk(
  uid text NOT NULL,
  device bigint NOT NULL,
  id bigint NOT NULL,
  key bytea NOT NULL,
  PRIMARY KEY(uid, device, id)
);

-- One-time prekeys handed out, kept for the retention period so that an
-- identical re-upload (a retry) is told apart from a new key under a used id.
CREATE TABLE IF NOT EXISTS rbx.otk_spent(
  uid text NOT NULL,
  device bigint NOT NULL,
  id bigint NOT NULL,
  key bytea NOT NULL,
  spent_at bigint NOT NULL,
  PRIMARY KEY(uid, device, id)
);
CREATE INDEX IF NOT EXISTS otk_spent_by_time ON rbx.otk_spent(spent_at);

CREATE TABLE IF NOT EXISTS rbx.mailbox(
  id bigserial PRIMARY KEY,
  uid text NOT NULL,
  device bigint NOT NULL,
  message_id bytea NOT NULL,
  sender_uid text NOT NULL,
  sender_device bigint NOT NULL,
  received_at bigint NOT NULL,
  body bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_by_device ON rbx.mailbox(uid, device, id);
CREATE INDEX IF NOT EXISTS mailbox_by_time ON rbx.mailbox(received_at);

CREATE TABLE IF NOT EXISTS rbx.sent(
  uid text NOT NULL,
  device bigint NOT NULL,
  message_id bytea NOT NULL,
  body_hash bytea NOT NULL,
  created bigint NOT NULL,
  PRIMARY KEY(uid, device, message_id)
);
CREATE INDEX IF NOT EXISTS sent_by_time ON rbx.sent(created);

CREATE TABLE IF NOT EXISTS rbx.nonce(
  uid text NOT NULL,
  device bigint NOT NULL,
  nonce bytea NOT NULL,
  expires bigint NOT NULL,
  PRIMARY KEY(uid, device, nonce)
);
CREATE INDEX IF NOT EXISTS nonce_by_expiry ON rbx.nonce(expires);

CREATE TABLE IF NOT EXISTS rbx.ratelimit(
  uid text NOT NULL,
  device bigint NOT NULL,
  target_uid text NOT NULL,
  target_device bigint NOT NULL,
  tat bigint NOT NULL,
  PRIMARY KEY(uid, device, target_uid, target_device)
);
CREATE INDEX IF NOT EXISTS ratelimit_by_target ON rbx.ratelimit(target_uid, target_device);
CREATE INDEX IF NOT EXISTS ratelimit_by_tat ON rbx.ratelimit(tat);

-- Link rendezvous (spec/SERVER.md 5.5): two opaque slots under a capability
-- id, written once each, until expiry.
CREATE TABLE IF NOT EXISTS rbx.link(
  id bytea PRIMARY KEY,
  request bytea NOT NULL,
  approval bytea,
  expires bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS link_by_expiry ON rbx.link(expires);

INSERT INTO rbx.meta(k, v) VALUES('schema', 1) ON CONFLICT (k) DO NOTHING;

ALTER TABLE rbx.meta ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.devlist ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.device ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.otk ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.otk_spent ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.mailbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.sent ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.nonce ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.ratelimit ENABLE ROW LEVEL SECURITY;
ALTER TABLE rbx.link ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON ALL TABLES IN SCHEMA rbx FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA rbx FROM PUBLIC;

-- ---------------------------------------------------------------- reads
-- STABLE functions run in the snapshot of the statement that calls them:
-- a header row and the rows after it come from one moment.

CREATE OR REPLACE FUNCTION rbx.schema_version() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT v FROM rbx.meta WHERE k = 'schema'
$$;

CREATE OR REPLACE FUNCTION rbx.device_get(p_uid text, p_device bigint)
RETURNS TABLE(identity bytea, registration_id bigint, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT d.identity, d.registration_id, d.active FROM rbx.device d
  WHERE d.uid = p_uid AND d.device = p_device
$$;

-- The current keys of a device id under any user (403 rather than 401 for
-- a device that signs as a user it is not enrolled under).
CREATE OR REPLACE FUNCTION rbx.device_keys(p_device bigint)
RETURNS TABLE(identity bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT d.identity FROM rbx.device d WHERE d.device = p_device AND d.active LIMIT 16
$$;

-- First row: (head seq, NULL, NULL); then the active devices by id.
CREATE OR REPLACE FUNCTION rbx.devices(p_uid text)
RETURNS TABLE(device bigint, identity bytea, registration_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT * FROM (
    SELECT coalesce(max(l.seq), 0), NULL::bytea, NULL::bigint FROM rbx.devlist l WHERE l.uid = p_uid
  ) h
  UNION ALL
  SELECT * FROM (
    SELECT d.device, d.identity, d.registration_id FROM rbx.device d
    WHERE d.uid = p_uid AND d.active ORDER BY d.device
  ) x
$$;

-- First row: (head seq, NULL); then the entries after p_since.
CREATE OR REPLACE FUNCTION rbx.devlist_get(p_uid text, p_since bigint)
RETURNS TABLE(seq bigint, entry bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT * FROM (SELECT coalesce(max(l.seq), 0), NULL::bytea FROM rbx.devlist l WHERE l.uid = p_uid) h
  UNION ALL
  SELECT * FROM (
    SELECT l.seq, l.entry FROM rbx.devlist l WHERE l.uid = p_uid AND l.seq > p_since ORDER BY l.seq
  ) x
$$;

CREATE OR REPLACE FUNCTION rbx.key_status(p_uid text, p_device bigint)
RETURNS TABLE(active boolean, otk_max bigint, spk_id bigint, spk_created bigint,
              spk_uploaded bigint, otk_count bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT d.active, d.otk_max, d.spk_id, d.spk_created, d.spk_uploaded,
         (SELECT count(*) FROM rbx.otk o WHERE o.uid = p_uid AND o.device = p_device)
  FROM rbx.device d WHERE d.uid = p_uid AND d.device = p_device
$$;

-- At most p_limit items, and past the first at most p_max_bytes of bodies;
-- `more` (on every row) says whether items were left out. Sizes come from
-- octet_length, which reads a stored value's header, not its bytes.
CREATE OR REPLACE FUNCTION rbx.mailbox_fetch(p_uid text, p_device bigint, p_after bigint,
                                             p_limit bigint, p_max_bytes bigint, p_cutoff bigint)
RETURNS TABLE(id bigint, message_id bytea, sender_uid text, sender_device bigint,
              received_at bigint, body bytea, more boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  WITH c AS (
    SELECT m.id, row_number() OVER w AS rn, sum(octet_length(m.body)) OVER w AS run
    FROM rbx.mailbox m
    WHERE m.uid = p_uid AND m.device = p_device AND m.id > p_after AND m.received_at >= p_cutoff
    WINDOW w AS (ORDER BY m.id)
    ORDER BY m.id LIMIT p_limit + 1
  ), k AS (
    SELECT c.id FROM c WHERE c.rn <= p_limit AND (c.rn = 1 OR c.run <= p_max_bytes)
  )
  SELECT m.id, m.message_id, m.sender_uid, m.sender_device, m.received_at, m.body,
         (SELECT count(*) FROM c) > (SELECT count(*) FROM k)
  FROM rbx.mailbox m JOIN k ON k.id = m.id ORDER BY m.id
$$;

CREATE OR REPLACE FUNCTION rbx.stats(p_low bigint)
RETURNS TABLE(users bigint, devices bigint, mbox_count bigint, mbox_bytes bigint, mbox_max bigint,
              prekeys bigint, low_devices bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT (SELECT count(DISTINCT d.uid) FROM rbx.device d WHERE d.active),
         (SELECT count(*) FROM rbx.device d WHERE d.active),
         (SELECT coalesce(sum(d.mbox_count), 0)::bigint FROM rbx.device d WHERE d.active),
         (SELECT coalesce(sum(d.mbox_bytes), 0)::bigint FROM rbx.device d WHERE d.active),
         (SELECT coalesce(max(d.mbox_count), 0) FROM rbx.device d WHERE d.active),
         (SELECT count(*) FROM rbx.otk),
         (SELECT count(*) FROM rbx.device d
            LEFT JOIN (SELECT o.uid, o.device, count(*) AS c FROM rbx.otk o GROUP BY o.uid, o.device) o
              ON o.uid = d.uid AND o.device = d.device
          WHERE d.active AND coalesce(o.c, 0) < p_low)
$$;

-- ---------------------------------------------------------------- writes
-- Each write refuses without changing anything (a status, never an
-- exception, for every refusal the API defines), so that rbxd can run many
-- of them in one transaction and commit once.

CREATE OR REPLACE FUNCTION rbx.nonce_put(p_uid text, p_device bigint, p_nonce bytea, p_expires bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO rbx.nonce(uid, device, nonce, expires) VALUES(p_uid, p_device, p_nonce, p_expires)
  ON CONFLICT DO NOTHING;
  RETURN FOUND;
END
$$;

-- Everything of a device but its row: prekeys, mailbox, rate limits.
CREATE OR REPLACE FUNCTION rbx.drop_device_data(p_uid text, p_device bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM rbx.otk WHERE uid = p_uid AND device = p_device;
  DELETE FROM rbx.otk_spent WHERE uid = p_uid AND device = p_device;
  DELETE FROM rbx.mailbox WHERE uid = p_uid AND device = p_device;
  DELETE FROM rbx.ratelimit WHERE (uid = p_uid AND device = p_device)
                               OR (target_uid = p_uid AND target_device = p_device);
END
$$;

-- Append one verified entry (rbxd ran rbx_devlist_verify on the whole log
-- with it) if the head is still p_expect. 0 appended, 1 conflict.
CREATE OR REPLACE FUNCTION rbx.devlist_append(p_uid text, p_expect bigint, p_seq bigint, p_hash bytea,
    p_entry bytea, p_op int, p_device bigint, p_identity bytea, p_regid bigint, p_bundle bytea,
    p_spk_id bigint, p_spk bytea, p_spk_created bigint, p_now bigint)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  v_head bigint;
BEGIN
  -- One writer per user's list at a time, across rbxd processes.
  PERFORM pg_advisory_xact_lock(hashtextextended('rbx.devlist:' || p_uid, 0));
  SELECT coalesce(max(seq), 0) INTO v_head FROM rbx.devlist WHERE uid = p_uid;
  IF v_head <> p_expect OR p_seq <> p_expect + 1 THEN
    RETURN 1;
  END IF;
  INSERT INTO rbx.devlist(uid, seq, hash, entry) VALUES(p_uid, p_seq, p_hash, p_entry);
  IF p_op = 1 THEN
    PERFORM rbx.drop_device_data(p_uid, p_device);
    INSERT INTO rbx.device(uid, device, identity, registration_id, active, bundle, spk_id, spk,
                           spk_created, spk_uploaded, otk_max, mbox_count, mbox_bytes)
    VALUES(p_uid, p_device, p_identity, p_regid, true, p_bundle, p_spk_id, p_spk, p_spk_created,
           p_now, 0, 0, 0)
    ON CONFLICT (uid, device) DO UPDATE SET identity = excluded.identity,
      registration_id = excluded.registration_id, active = true, bundle = excluded.bundle,
      spk_id = excluded.spk_id, spk = excluded.spk, spk_created = excluded.spk_created,
      spk_uploaded = excluded.spk_uploaded, otk_max = 0, mbox_count = 0, mbox_bytes = 0;
  ELSIF p_op = 2 THEN
    UPDATE rbx.device SET active = false, bundle = NULL, spk_id = NULL, spk = NULL,
      spk_created = NULL, spk_uploaded = NULL, otk_max = 0, mbox_count = 0, mbox_bytes = 0
    WHERE uid = p_uid AND device = p_device AND active;
    PERFORM rbx.drop_device_data(p_uid, p_device);
  ELSIF p_op = 3 THEN
    DELETE FROM rbx.otk WHERE uid = p_uid AND device = p_device;
    UPDATE rbx.device SET identity = p_identity, bundle = p_bundle, spk_id = p_spk_id, spk = p_spk,
      spk_created = p_spk_created, spk_uploaded = p_now
    WHERE uid = p_uid AND device = p_device AND active;
  ELSE
    RAISE EXCEPTION 'rbx.devlist_append: op %', p_op;
  END IF;
  RETURN 0;
END
$$;

-- A new state behind an enrolled key: new registration id and bundle, its
-- prekeys start afresh. false if the device is not active.
CREATE OR REPLACE FUNCTION rbx.reregister(p_uid text, p_device bigint, p_regid bigint, p_bundle bytea,
    p_spk_id bigint, p_spk bytea, p_spk_created bigint, p_now bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
BEGIN
  UPDATE rbx.device SET registration_id = p_regid, bundle = p_bundle, spk_id = p_spk_id, spk = p_spk,
    spk_created = p_spk_created, spk_uploaded = p_now, otk_max = 0
  WHERE uid = p_uid AND device = p_device AND active;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  DELETE FROM rbx.otk WHERE uid = p_uid AND device = p_device;
  DELETE FROM rbx.otk_spent WHERE uid = p_uid AND device = p_device;
  RETURN true;
END
$$;

-- Statuses: 0 ok, 1 signed prekey id below the stored one, 2 same id and
-- another key, 3 one-time id at or below the highest and not an identical
-- re-upload, 4 too many held, 5 no such active device.
CREATE OR REPLACE FUNCTION rbx.keys_put(p_uid text, p_device bigint, p_bundle bytea, p_spk_id bigint,
    p_spk bytea, p_spk_created bigint, p_ids bigint[], p_keys bytea[], p_max_stored bigint,
    p_now bigint)
RETURNS TABLE(status int, bad_id bigint, stored bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  d rbx.device%ROWTYPE;
  v_bad bigint;
  v_new bigint;
  v_count bigint;
BEGIN
  -- The device row serialises uploads of one device across processes.
  SELECT * INTO d FROM rbx.device WHERE uid = p_uid AND device = p_device FOR UPDATE;
  IF NOT FOUND OR NOT d.active THEN
    RETURN QUERY SELECT 5, 0::bigint, 0::bigint; RETURN;
  END IF;
  IF p_bundle IS NOT NULL AND d.spk_id IS NOT NULL THEN
    IF p_spk_id < d.spk_id THEN
      RETURN QUERY SELECT 1, p_spk_id, 0::bigint; RETURN;
    END IF;
    IF p_spk_id = d.spk_id AND p_spk <> d.spk THEN
      RETURN QUERY SELECT 2, p_spk_id, 0::bigint; RETURN;
    END IF;
  END IF;
  -- Ids at or below the highest: only an identical re-upload of a key held
  -- or handed out passes, and it changes nothing.
  SELECT u.id INTO v_bad
  FROM unnest(p_ids, p_keys) AS u(id, key)
  LEFT JOIN rbx.otk o ON o.uid = p_uid AND o.device = p_device AND o.id = u.id
  LEFT JOIN rbx.otk_spent s ON s.uid = p_uid AND s.device = p_device AND s.id = u.id
  WHERE u.id <= d.otk_max AND coalesce(o.key, s.key) IS DISTINCT FROM u.key
  ORDER BY u.id LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT 3, v_bad, 0::bigint; RETURN;
  END IF;
  SELECT count(*) INTO v_new FROM unnest(p_ids) AS u(id) WHERE u.id > d.otk_max;
  SELECT count(*) INTO v_count FROM rbx.otk WHERE uid = p_uid AND device = p_device;
  IF v_count + v_new > p_max_stored THEN
    RETURN QUERY SELECT 4, 0::bigint, 0::bigint; RETURN;
  END IF;
  IF p_bundle IS NOT NULL THEN
    UPDATE rbx.device SET bundle = p_bundle, spk_id = p_spk_id, spk = p_spk,
      spk_created = p_spk_created, spk_uploaded = p_now
    WHERE uid = p_uid AND device = p_device;
  END IF;
  IF v_new > 0 THEN
    INSERT INTO rbx.otk(uid, device, id, key)
    SELECT p_uid, p_device, u.id, u.key FROM unnest(p_ids, p_keys) AS u(id, key) WHERE u.id > d.otk_max;
    UPDATE rbx.device SET otk_max = (SELECT max(u.id) FROM unnest(p_ids) AS u(id))
    WHERE uid = p_uid AND device = p_device;
  END IF;
  RETURN QUERY SELECT 0, 0::bigint, v_count + v_new;
END
$$;

-- One bundle of every active device of p_uid (or of p_devices; without a
-- list, the requesting device itself is left out), each with at most one
-- one-time prekey, claimed by one DELETE ... RETURNING whose row is chosen
-- FOR UPDATE SKIP LOCKED: two claims never get the same key and never wait
-- for each other. Rate limit per (requester, target device): GCRA.
-- Statuses: 0 ok (a row per device), 1 limited (retry_after), 2 no device,
-- 3 a listed device is not active (device).
CREATE OR REPLACE FUNCTION rbx.claim(p_req_uid text, p_req_device bigint, p_uid text,
    p_devices bigint[], p_now bigint, p_burst bigint, p_interval bigint)
RETURNS TABLE(status int, retry_after bigint, version bigint, device bigint, registration_id bigint,
              bundle bytea, otk_id bigint, otk bytea, remaining bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  v_version bigint;
  v_targets bigint[];
  v_t bigint;
  v_tat bigint;
  v_eff bigint;
  v_retry bigint := 0;
  v_newtat bigint[] := '{}';
  v_id bigint;
  v_key bytea;
  v_reg bigint;
  v_bundle bytea;
  v_left bigint;
BEGIN
  SELECT coalesce(max(l.seq), 0) INTO v_version FROM rbx.devlist l WHERE l.uid = p_uid;
  IF p_devices IS NULL THEN
    SELECT coalesce(array_agg(d.device ORDER BY d.device), '{}') INTO v_targets FROM rbx.device d
    WHERE d.uid = p_uid AND d.active AND NOT (p_uid = p_req_uid AND d.device = p_req_device);
  ELSE
    SELECT u.dev INTO v_t FROM unnest(p_devices) AS u(dev)
    WHERE NOT EXISTS (SELECT 1 FROM rbx.device d WHERE d.uid = p_uid AND d.device = u.dev AND d.active)
    LIMIT 1;
    IF FOUND THEN
      RETURN QUERY SELECT 3, 0::bigint, v_version, v_t, NULL::bigint, NULL::bytea, NULL::bigint,
                          NULL::bytea, NULL::bigint;
      RETURN;
    END IF;
    v_targets := p_devices;
  END IF;
  IF cardinality(v_targets) = 0 THEN
    RETURN QUERY SELECT 2, 0::bigint, v_version, NULL::bigint, NULL::bigint, NULL::bytea,
                        NULL::bigint, NULL::bytea, NULL::bigint;
    RETURN;
  END IF;
  -- Rate limits first, every target, each row locked: a refusal claims
  -- nothing. (A row inserted with tat 0 is the same as no row.)
  FOREACH v_t IN ARRAY v_targets LOOP
    INSERT INTO rbx.ratelimit(uid, device, target_uid, target_device, tat)
    VALUES(p_req_uid, p_req_device, p_uid, v_t, 0) ON CONFLICT DO NOTHING;
    SELECT r.tat INTO v_tat FROM rbx.ratelimit r
    WHERE r.uid = p_req_uid AND r.device = p_req_device AND r.target_uid = p_uid AND r.target_device = v_t
    FOR UPDATE;
    v_eff := greatest(v_tat, p_now);
    IF v_eff - p_now > (p_burst - 1) * p_interval THEN
      v_retry := greatest(v_retry, v_eff - p_now - (p_burst - 1) * p_interval);
    END IF;
    v_newtat := v_newtat || (v_eff + p_interval);
  END LOOP;
  IF v_retry > 0 THEN
    RETURN QUERY SELECT 1, v_retry, v_version, NULL::bigint, NULL::bigint, NULL::bytea, NULL::bigint,
                        NULL::bytea, NULL::bigint;
    RETURN;
  END IF;
  FOR i IN 1 .. cardinality(v_targets) LOOP
    v_t := v_targets[i];
    UPDATE rbx.ratelimit r SET tat = v_newtat[i]
    WHERE r.uid = p_req_uid AND r.device = p_req_device AND r.target_uid = p_uid AND r.target_device = v_t;
    SELECT d.registration_id, d.bundle INTO v_reg, v_bundle FROM rbx.device d
    WHERE d.uid = p_uid AND d.device = v_t;
    v_id := NULL;
    v_key := NULL;
    DELETE FROM rbx.otk o
    WHERE (o.uid, o.device, o.id) = (
      SELECT k.uid, k.device, k.id FROM rbx.otk k WHERE k.uid = p_uid AND k.device = v_t
      ORDER BY k.id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING o.id, o.key INTO v_id, v_key;
    IF v_id IS NOT NULL THEN
      INSERT INTO rbx.otk_spent(uid, device, id, key, spent_at) VALUES(p_uid, v_t, v_id, v_key, p_now)
      -- (The constraint by name: an OUT column is called `device` too.)
      ON CONFLICT ON CONSTRAINT otk_spent_pkey
      DO UPDATE SET key = excluded.key, spent_at = excluded.spent_at;
    END IF;
    SELECT count(*) INTO v_left FROM rbx.otk o WHERE o.uid = p_uid AND o.device = v_t;
    RETURN QUERY SELECT 0, 0::bigint, v_version, v_t, v_reg, v_bundle, v_id, v_key, v_left;
  END LOOP;
END
$$;

-- Deliver one message: one envelope per current device of p_to and per
-- other current device of the sender's user, compared as a whole with the
-- lists, stored in this transaction, idempotent on (sender, message id).
-- Statuses: 0 stored (kind = count), 1 duplicate, 2 mismatch (rows: kind
-- 1 missing, 2 extra, 3 stale), 3 message id reused, 4 mailbox full (rows),
-- 5 no device to deliver to.
-- p_targeted (a retry request or a re-send: a subset of the devices) was
-- added after the first version of this function; the old one goes.
DROP FUNCTION IF EXISTS rbx.send(text, bigint, bytea, bytea, text, text[], bigint[], bigint[],
                                 bytea[], bigint, bigint, bigint);
CREATE OR REPLACE FUNCTION rbx.send(p_sender_uid text, p_sender_device bigint, p_message_id bytea,
    p_hash bytea, p_to text, p_users text[], p_devices bigint[], p_regids bigint[], p_bodies bytea[],
    p_now bigint, p_mbox_max bigint, p_mbox_max_bytes bigint, p_targeted boolean)
RETURNS TABLE(status int, kind int, uid text, device bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  v_hash bytea;
  v_any_to boolean;
BEGIN
  -- Lock the devices of both users, in one order, before looking at
  -- anything: a concurrent removal or rotation waits for this delivery or
  -- this delivery sees its result, never half of it.
  PERFORM 1 FROM rbx.device d WHERE d.uid IN (p_to, p_sender_uid) AND d.active
  ORDER BY d.uid, d.device FOR UPDATE;
  SELECT s.body_hash INTO v_hash FROM rbx.sent s
  WHERE s.uid = p_sender_uid AND s.device = p_sender_device AND s.message_id = p_message_id;
  IF FOUND THEN
    IF v_hash = p_hash THEN
      RETURN QUERY SELECT 1, 0, NULL::text, NULL::bigint;
    ELSE
      RETURN QUERY SELECT 3, 0, NULL::text, NULL::bigint;
    END IF;
    RETURN;
  END IF;
  SELECT EXISTS (SELECT 1 FROM rbx.device d WHERE d.uid = p_to AND d.active
                 AND NOT (d.uid = p_sender_uid AND d.device = p_sender_device)) INTO v_any_to;
  IF NOT v_any_to THEN
    RETURN QUERY SELECT 5, 0, NULL::text, NULL::bigint;
    RETURN;
  END IF;
  RETURN QUERY
    WITH e AS (SELECT * FROM unnest(p_users, p_devices, p_regids) AS t(uid, device, regid)),
         x AS (SELECT d.uid, d.device, d.registration_id FROM rbx.device d
               WHERE d.uid IN (p_to, p_sender_uid) AND d.active
                 AND NOT (d.uid = p_sender_uid AND d.device = p_sender_device))
    SELECT 2, CASE WHEN e.uid IS NULL THEN 1 WHEN x.uid IS NULL THEN 2 ELSE 3 END,
           coalesce(e.uid, x.uid), coalesce(e.device, x.device)
    FROM e FULL JOIN x ON e.uid = x.uid AND e.device = x.device
    WHERE (e.uid IS NULL AND NOT p_targeted) OR x.uid IS NULL OR e.regid <> x.registration_id;
  IF FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY
    WITH e AS (SELECT t.uid, t.device, sum(octet_length(t.body)) AS bytes, count(*) AS n
               FROM unnest(p_users, p_devices, p_bodies) AS t(uid, device, body)
               GROUP BY t.uid, t.device)
    SELECT 4, 0, d.uid, d.device FROM e JOIN rbx.device d ON d.uid = e.uid AND d.device = e.device
    WHERE d.mbox_count + e.n > p_mbox_max OR d.mbox_bytes + e.bytes > p_mbox_max_bytes;
  IF FOUND THEN
    RETURN;
  END IF;
  INSERT INTO rbx.mailbox(uid, device, message_id, sender_uid, sender_device, received_at, body)
  SELECT t.uid, t.device, p_message_id, p_sender_uid, p_sender_device, p_now, t.body
  FROM unnest(p_users, p_devices, p_bodies) WITH ORDINALITY AS t(uid, device, body, ord)
  ORDER BY t.ord;
  UPDATE rbx.device d SET mbox_count = d.mbox_count + e.n, mbox_bytes = d.mbox_bytes + e.bytes
  FROM (SELECT t.uid, t.device, sum(octet_length(t.body)) AS bytes, count(*) AS n
        FROM unnest(p_users, p_devices, p_bodies) AS t(uid, device, body)
        GROUP BY t.uid, t.device) e
  WHERE d.uid = e.uid AND d.device = e.device;
  INSERT INTO rbx.sent(uid, device, message_id, body_hash, created)
  VALUES(p_sender_uid, p_sender_device, p_message_id, p_hash, p_now);
  -- Wake long polls on every rbxd process (delivered at commit).
  PERFORM pg_notify('rbx_mailbox', t.uid || ' ' || t.device)
  FROM unnest(p_users, p_devices) AS t(uid, device);
  RETURN QUERY SELECT 0, cardinality(p_users), NULL::text, NULL::bigint;
END
$$;

CREATE OR REPLACE FUNCTION rbx.ack(p_uid text, p_device bigint, p_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  v_n bigint;
  v_bytes bigint;
BEGIN
  WITH del AS (DELETE FROM rbx.mailbox m WHERE m.uid = p_uid AND m.device = p_device
               AND m.id = ANY(p_ids) RETURNING octet_length(m.body) AS l)
  SELECT count(*), coalesce(sum(l), 0) INTO v_n, v_bytes FROM del;
  IF v_n > 0 THEN
    UPDATE rbx.device SET mbox_count = greatest(mbox_count - v_n, 0),
      mbox_bytes = greatest(mbox_bytes - v_bytes, 0)
    WHERE uid = p_uid AND device = p_device;
  END IF;
  RETURN v_n;
END
$$;

CREATE OR REPLACE FUNCTION rbx.expire(p_now bigint, p_retention bigint)
RETURNS TABLE(messages bigint, nonces bigint, sent bigint, spent bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  v_cut bigint := p_now - p_retention;
  v_m bigint;
  v_n bigint;
  v_s bigint;
  v_p bigint;
BEGIN
  WITH del AS (DELETE FROM rbx.mailbox m WHERE m.received_at < v_cut
               RETURNING m.uid, m.device, octet_length(m.body) AS l),
       agg AS (SELECT del.uid, del.device, count(*) AS n, sum(del.l) AS b FROM del
               GROUP BY del.uid, del.device),
       upd AS (UPDATE rbx.device d SET mbox_count = greatest(d.mbox_count - agg.n, 0),
                 mbox_bytes = greatest(d.mbox_bytes - agg.b, 0)
               FROM agg WHERE d.uid = agg.uid AND d.device = agg.device RETURNING 1)
  SELECT coalesce(sum(agg.n), 0) INTO v_m FROM agg;
  DELETE FROM rbx.nonce WHERE expires < p_now;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  DELETE FROM rbx.sent s WHERE s.created < v_cut;
  GET DIAGNOSTICS v_s = ROW_COUNT;
  DELETE FROM rbx.otk_spent s WHERE s.spent_at < v_cut;
  GET DIAGNOSTICS v_p = ROW_COUNT;
  DELETE FROM rbx.ratelimit r WHERE r.tat < p_now;
  DELETE FROM rbx.link l WHERE l.expires <= p_now;
  RETURN QUERY SELECT v_m, v_n, v_s, v_p;
END
$$;

-- ---------------------------------------------------------------- links

CREATE OR REPLACE FUNCTION rbx.link_get(p_id bytea, p_now bigint)
RETURNS TABLE(request bytea, approval bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
  SELECT l.request, l.approval FROM rbx.link l WHERE l.id = p_id AND l.expires > p_now
$$;

-- Status as db.h: 0 written, 1 the same bytes were there, 2 other bytes
-- were there, 3 no such link (approval), 4 too many pending links (request).
CREATE OR REPLACE FUNCTION rbx.link_put(p_id bytea, p_slot int, p_data bytea, p_now bigint,
    p_expires bigint, p_max bigint)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = rbx, pg_catalog, pg_temp AS $$
DECLARE
  v_req bytea;
  v_appr bytea;
  v_n bigint;
BEGIN
  SELECT l.request, l.approval INTO v_req, v_appr FROM rbx.link l
  WHERE l.id = p_id AND l.expires > p_now FOR UPDATE;
  IF p_slot = 0 THEN
    IF FOUND THEN
      RETURN CASE WHEN v_req = p_data THEN 1 ELSE 2 END;
    END IF;
    SELECT count(*) INTO v_n FROM rbx.link l WHERE l.expires > p_now;
    IF v_n >= p_max THEN
      RETURN 4;
    END IF;
    INSERT INTO rbx.link(id, request, approval, expires) VALUES(p_id, p_data, NULL, p_expires)
    ON CONFLICT (id) DO UPDATE SET request = excluded.request, approval = NULL,
      expires = excluded.expires;
    RETURN 0;
  END IF;
  IF NOT FOUND THEN
    RETURN 3;
  END IF;
  IF v_appr IS NOT NULL THEN
    RETURN CASE WHEN v_appr = p_data THEN 1 ELSE 2 END;
  END IF;
  UPDATE rbx.link SET approval = p_data WHERE id = p_id;
  RETURN 0;
END
$$;

-- Only rbxd_app may call these.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rbx FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  rbx.schema_version(), rbx.device_get(text, bigint), rbx.device_keys(bigint), rbx.devices(text),
  rbx.devlist_get(text, bigint), rbx.key_status(text, bigint),
  rbx.mailbox_fetch(text, bigint, bigint, bigint, bigint, bigint), rbx.stats(bigint),
  rbx.nonce_put(text, bigint, bytea, bigint),
  rbx.devlist_append(text, bigint, bigint, bytea, bytea, int, bigint, bytea, bigint, bytea, bigint,
                     bytea, bigint, bigint),
  rbx.reregister(text, bigint, bigint, bytea, bigint, bytea, bigint, bigint),
  rbx.keys_put(text, bigint, bytea, bigint, bytea, bigint, bigint[], bytea[], bigint, bigint),
  rbx.claim(text, bigint, text, bigint[], bigint, bigint, bigint),
  rbx.send(text, bigint, bytea, bytea, text, text[], bigint[], bigint[], bytea[], bigint, bigint, bigint,
           boolean),
  rbx.ack(text, bigint, bigint[]), rbx.expire(bigint, bigint),
  rbx.link_get(bytea, bigint), rbx.link_put(bytea, int, bytea, bigint, bigint, bigint)
TO rbxd_app;
