-- rbxd schema on SQLite, version 1 (spec/SERVER.md section 9). Applied by
-- db_sqlite.c when it creates a database; every statement is idempotent.
-- SPDX-License-Identifier: MIT
CREATE TABLE IF NOT EXISTS rbxd_meta(
  k TEXT PRIMARY KEY,
  v INTEGER NOT NULL
) WITHOUT ROWID;
-- The signed device-list log of each user, as uploaded (entry = the
-- encoded DeviceListEntry, hash = BLAKE2b-256 of it).
CREATE TABLE IF NOT EXISTS devlist(
  uid TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash BLOB NOT NULL,
  entry BLOB NOT NULL,
  PRIMARY KEY(uid, seq)
) WITHOUT ROWID;
-- One row per device ever enrolled (active = 0 after removal: its key stays
-- for the 403 of a removed device), with its base bundle, the highest
-- one-time prekey id it uploaded and its mailbox's size.
CREATE TABLE IF NOT EXISTS device(
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  identity BLOB NOT NULL,
  registration_id INTEGER NOT NULL,
  active INTEGER NOT NULL,
  bundle BLOB,
  spk_id INTEGER,
  spk BLOB,
  spk_created INTEGER,
  spk_uploaded INTEGER,
  otk_max INTEGER NOT NULL DEFAULT 0,
  mbox_count INTEGER NOT NULL DEFAULT 0,
  mbox_bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(uid, device)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS device_by_id ON device(device);
CREATE TABLE IF NOT EXISTS otk(
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  id INTEGER NOT NULL,
  key BLOB NOT NULL,
  PRIMARY KEY(uid, device, id)
) WITHOUT ROWID;
-- One-time prekeys handed out, kept for the retention period so that an
-- identical re-upload of a batch (a retry) is told apart from a new key
-- under a used id.
CREATE TABLE IF NOT EXISTS otk_spent(
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  id INTEGER NOT NULL,
  key BLOB NOT NULL,
  spent_at INTEGER NOT NULL,
  PRIMARY KEY(uid, device, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS otk_spent_by_time ON otk_spent(spent_at);
CREATE TABLE IF NOT EXISTS mailbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  message_id BLOB NOT NULL,
  sender_uid TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_by_device ON mailbox(uid, device, id);
CREATE INDEX IF NOT EXISTS mailbox_by_time ON mailbox(received_at);
-- Idempotency of sends: (sender, message id) -> hash of the request body.
CREATE TABLE IF NOT EXISTS sent(
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  message_id BLOB NOT NULL,
  body_hash BLOB NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY(uid, device, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_by_time ON sent(created);
-- Request nonces, remembered until their timestamp is out of the skew window.
CREATE TABLE IF NOT EXISTS nonce(
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  nonce BLOB NOT NULL,
  expires INTEGER NOT NULL,
  PRIMARY KEY(uid, device, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonce_by_expiry ON nonce(expires);
-- Claim rate limit per (requesting device, target device): GCRA's
-- theoretical arrival time.
CREATE TABLE IF NOT EXISTS ratelimit(
  uid TEXT NOT NULL,
  device INTEGER NOT NULL,
  target_uid TEXT NOT NULL,
  target_device INTEGER NOT NULL,
  tat INTEGER NOT NULL,
  PRIMARY KEY(uid, device, target_uid, target_device)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ratelimit_by_target ON ratelimit(target_uid, target_device);
CREATE INDEX IF NOT EXISTS ratelimit_by_tat ON ratelimit(tat);
-- Link rendezvous (spec/SERVER.md 5.5): two opaque slots a new device and
-- an approving device write once each, under a capability id, until expiry.
CREATE TABLE IF NOT EXISTS link(
  id BLOB PRIMARY KEY,
  request BLOB NOT NULL,
  approval BLOB,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS link_by_expiry ON link(expires);
INSERT OR IGNORE INTO rbxd_meta(k, v) VALUES('schema', 1);
