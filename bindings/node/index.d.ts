// SPDX-License-Identifier: MIT
// Types of the ratchetbox package, written by hand. Every function of the
// library this package exposes is described in include/ratchetbox.h; the
// comments here say what the binding adds or changes.
//
// Conventions:
//  - Binary values are Uint8Array (a Buffer is one too).
//  - A failed library call throws or rejects with an RbxError whose `code`
//    is the RBX_E_* name and whose message is rbx_strerror()'s text.
//  - A wrong argument type throws a TypeError with code 'RBX_E_INVALID'.
//  - Ids (outbox, inbox, history, audit) are numbers: SQLite row ids, far
//    below 2^53.

import { RbxdClient, RbxdError } from './lib/rbxd-client';
export { RbxdClient, RbxdError };
export type {
  RbxdClientOptions, RequestSigner, SignedRequest, EnrollRequest, EnrollResult, DeviceListResult,
  KeyStatus, FetchedBundle, Envelope, SendResult, MailboxItem, MailboxResult, OneTimePrekey,
  OutgoingSend, UserDeviceInfo, UserReceived, UserStore, BundleAssembler, SyncResult,
} from './lib/rbxd-client';
import type { OutgoingSend, UserDeviceInfo, UserReceived } from './lib/rbxd-client';

/** The library's error names (RBX_E_* of ratchetbox.h). */
export type RbxErrorCode =
  | 'RBX_E_INVALID' | 'RBX_E_NOMEM' | 'RBX_E_MALFORMED' | 'RBX_E_VERSION' | 'RBX_E_AUTH'
  | 'RBX_E_SIGNATURE' | 'RBX_E_KEY' | 'RBX_E_UNKNOWN_PREKEY' | 'RBX_E_PREKEY_REUSED'
  | 'RBX_E_IDENTITY_CHANGED' | 'RBX_E_REPLAY' | 'RBX_E_LIMIT' | 'RBX_E_TOO_BIG' | 'RBX_E_BUFFER'
  | 'RBX_E_STATE' | 'RBX_E_IO' | 'RBX_E_CORRUPT' | 'RBX_E_STORAGE_KEY' | 'RBX_E_SCHEMA'
  | 'RBX_E_ROLLBACK' | 'RBX_E_EXISTS' | 'RBX_E_NOT_FOUND' | 'RBX_E_CHAIN' | 'RBX_E_STALE'
  | 'RBX_E_UNCERTIFIED' | 'RBX_E_REVOKED' | 'RBX_E_EXPIRED' | 'RBX_E_POLICY' | 'RBX_E_TAMPERED'
  | 'RBX_E_UNSAFE'
  // A code added to the library later arrives as its RBX_E_* name.
  | (string & {});

/** Every error of a library call. */
export class RbxError extends Error {
  /** 'RBX_E_AUTH', ...: stable, for programs. */
  readonly code: RbxErrorCode;
  /** The library's negative number (RBX_E_AUTH is -5). */
  readonly errno: number;
}

/** RBX_E_* name to number, generated from ratchetbox.h at build time. */
export const codes: Readonly<Record<string, number>>;

/** Largest plaintext a message may carry (1 MiB, RBX_MAX_PLAINTEXT). */
export const MAX_PLAINTEXT: number;

/** The library's version, "MAJOR.MINOR.PATCH". */
export function version(): string;
/** Lowercase hex of the first 8 bytes of SHA-256(publicKey) (16 characters). */
export function fingerprint(publicKey: Uint8Array): string;
/** The device id of the identity key a device enrolled with (1..2^31-1). */
export function deviceId(identity: Uint8Array): number;
/** Whether `user` is a valid user id ([a-z0-9][a-z0-9._@-]*, 1..63 bytes). */
export function userIdOk(user: string): boolean;

/** What a verified bundle says (rbx_bundle_parse; public data only). */
export interface BundleInfo {
  identity: Uint8Array;
  signedPrekeyId: number;
  /** Unix seconds; 0 when the bundle does not state it. */
  signedPrekeyCreated: number;
  onetimePrekeyId: number | null;
  rotationRecords: number;
}
/** Parse a bundle and verify its signatures; throws RBX_E_MALFORMED, _SIGNATURE, _KEY, _VERSION. */
export function parseBundle(bundle: Uint8Array): BundleInfo;
/** A base bundle fetched from rbxd plus the one-time prekey the server chose. */
export function bundleWithOnetime(base: Uint8Array, id: number, key: Uint8Array): Uint8Array;

/** What a wire message claims before it is authenticated (rbx_message_prekey_info). */
export interface MessageInfo {
  kind: 'prekey' | 'message';
  initiatorIdentity?: Uint8Array;
  signedPrekeyId?: number;
  onetimePrekeyId?: number | null;
}
export function messageInfo(wire: Uint8Array): MessageInfo;

/** true when `signature` signs `request` under `publicKey` (rbx_request_verify). */
export function verifyRequest(request: import('./lib/rbxd-client').SignedRequest, signature: Uint8Array,
  publicKey: Uint8Array): boolean;

/**
 * rbx(1)'s transport line: base64(0x01 || sender identity || wire), what
 * `rbx send` prints and `rbx recv` reads.
 */
export function encodeTransportLine(sender: Uint8Array, wire: Uint8Array): string;
/** Throws RbxError RBX_E_MALFORMED for a line that is not one. */
export function decodeTransportLine(line: string): { sender: Uint8Array; wire: Uint8Array };

/**
 * Where a key pair comes from, without the secret passing through a JS
 * string: a file (the product's JSON key file or 64 raw bytes), its bytes,
 * or the two raw keys.
 */
export type KeySource =
  | { keyFile: string }
  | { keyPairJson: Uint8Array }
  | { secretKey: Uint8Array; publicKey: Uint8Array };

// ==================================================================== Store

export interface StoreOpenOptions {
  /** Create the database, key file and generation file (default false). */
  create?: boolean;
  /** Forward secrecy at rest (SECURITY.md): 'bounded' (default) or 'strict'. */
  mode?: 'bounded' | 'strict';
  /** Bounded mode: erase point every N commits (default 64). */
  eraseCommits?: number;
  /** Bounded mode: erase point every N seconds (default 10). */
  eraseSeconds?: number;
  /**
   * The 32-byte storage key, e.g. from the OS keychain; wins over keyPath.
   * The binding copies it into native memory that it wipes once the library
   * holds its own copy; the caller should wipe its array (key.fill(0)).
   */
  storageKey?: Uint8Array;
  /** Storage key file (mode 0600); default `<path>.key`. */
  keyPath?: string;
  /** Rollback sidecar; default `<path>.gen`. */
  generationPath?: string;
}

/** Session facts (rbx_session_info): public, for status displays. */
export interface SessionInfo {
  ownIdentity: Uint8Array;
  peerIdentity: Uint8Array;
  initiator: boolean;
  headerEncryption: boolean;
  profile: number;
  awaitingReply: boolean;
  sendCount: number;
  recvCount: number;
  prevSendCount: number;
  dhSteps: number;
  skippedKeys: number;
  skippedChains: number;
}

export interface ContactInfo {
  name: string;
  device: number;
  /** The pinned identity key. */
  identity: Uint8Array;
  hasBundle: boolean;
  session: SessionInfo | null;
  /** Restored from an old copy: encrypt refuses with RBX_E_ROLLBACK. */
  rolledBack: boolean;
  generation: number;
  rotationSeq: number;
  org: Uint8Array | null;
  graceSessions: number;
}

export interface Encrypted {
  /** The wire message (send it; or encodeTransportLine for rbx). */
  wire: Uint8Array;
  /** Its outbox entry: ackOutbox once delivered. */
  outboxId: number;
}

export interface Received {
  /**
   * The plaintext, in memory the binding allocated: wiped when the GC
   * collects this array. Wipe it yourself (plaintext.fill(0)) once used.
   */
  plaintext: Uint8Array;
  /** The contact (a new peer: its fingerprint). */
  name: string;
  device: number;
  peerIdentity: Uint8Array;
  /** Its inbox entry: ackInbox once the plaintext is safe elsewhere. */
  inboxId: number;
  /** First message of an unknown identity (the contact was created). */
  newContact: boolean;
  /** Already accepted; the plaintext came from the inbox. */
  redelivered: boolean;
}

/** Who sent a message: a contact device, or the sender identity of a transport line. */
export type From = { name: string; device?: number } | { sender: Uint8Array };

export interface OutboxEntry {
  wire: Uint8Array;
  outboxId: number;
  name: string;
  device: number;
}

export interface PrekeyStats {
  signedPrekeyId: number;
  signedPrekeyCreated: number;
  onetimeUnoffered: number;
  onetimeOutstanding: number;
  onetimeConsumed: number;
}

export interface MaintainResult {
  signedPrekeyMade: number | null;
  signedPrekeysErased: number;
  onetimeMade: number;
  oldIdentitiesErased: number;
  sessionsRetired: number;
}

export interface HistoryEntry {
  id: number;
  peer: string;
  direction: 'sent' | 'received';
  session: Uint8Array;
  seq: number;
  epoch: number;
  /** Unix seconds. */
  created: number;
  /** null when its epoch key was shredded. Wiped when collected, as Received.plaintext. */
  plaintext: Uint8Array | null;
}

export interface ArchiveResult {
  newEpoch: number;
  rewrapped: number;
  epochsErased: number;
  entriesUnrecoverable: number;
}

/** One stored row of the product's history (rbx_import_row). */
export interface ImportRow {
  /** The other party's box public key. */
  peerPublicKey: Uint8Array;
  sessionId?: string;
  sequence: number;
  /** Unix seconds. */
  timestamp: number;
  outgoing?: boolean;
  /** content_encrypted (base64), or the plaintext of a plaintext row. */
  content: string;
  /** encryption_nonce (base64); absent for a plaintext row. */
  nonce?: string;
}

export interface AuditEvent {
  seq: number;
  time: number;
  event: string;
  detail: string;
  hash: Uint8Array;
}

/**
 * A ratchetbox store: one SQLite database with the identity, prekeys,
 * contacts, sessions, outbox, inbox, history archive and audit log, its
 * secrets sealed under the storage key.
 *
 * Every method returns a Promise and runs on the libuv thread pool. Calls
 * on one Store run one at a time in the order they were made (a handle is
 * for one thread); several Stores, and several processes on one database,
 * run in parallel. After close() every call rejects with RBX_E_STATE.
 */
export class Store {
  private constructor();
  /** Open, or with {create: true} create. RBX_E_NOT_FOUND, _STORAGE_KEY, _CORRUPT, _SCHEMA, _IO, _EXISTS. */
  static open(path: string, options?: StoreOpenOptions): Promise<Store>;
  /** Close after the calls already made, with a final erase point. */
  close(): Promise<void>;
  /** true once close() was called. */
  readonly closed: boolean;

  /** Create the identity: a new key pair, or the product's box key pair. Resolves to the public key. */
  createIdentity(source?: KeySource): Promise<Uint8Array>;
  /** The identity public key. RBX_E_NOT_FOUND without one. */
  identity(): Promise<Uint8Array>;
  /** A fresh prekey bundle (after the policy's prekey upkeep); onetime: false for rbxd's base bundle. */
  bundle(options?: { onetime?: boolean }): Promise<Uint8Array>;
  /** Record a contact device from its bundle; org binds it to an organisation root. */
  addContact(name: string, device: number, bundle: Uint8Array, options?: { org?: Uint8Array }): Promise<void>;
  contacts(): Promise<ContactInfo[]>;
  /** The contact device pinned to an identity key, or null. */
  contactByIdentity(identity: Uint8Array): Promise<{ name: string; device: number } | null>;

  /**
   * Encrypt one message: the advanced state and the ciphertext (in the
   * outbox) are committed before the promise resolves. The plaintext is
   * copied when the call is made and the copy wiped once encrypted.
   */
  encrypt(name: string, device: number, plaintext: Uint8Array, options?: { headerEncryption?: boolean }):
  Promise<Encrypted>;
  /** Several messages to one contact in one transaction, all or nothing. */
  encryptBatch(name: string, device: number, plaintexts: Uint8Array[], options?: { headerEncryption?: boolean }):
  Promise<Encrypted[]>;
  /**
   * Decrypt one message; state and plaintext (inbox) are committed together
   * and nothing changes on error. from: the contact, or the transport
   * line's sender (a first message from an unknown sender creates the
   * contact); omitted: a first message only. With a sender, a first message
   * naming another identity in its handshake is refused with RBX_E_MALFORMED.
   */
  decrypt(wire: Uint8Array, from?: From): Promise<Received>;
  /** Oldest unacknowledged outbox entry, or null. */
  outboxNext(): Promise<OutboxEntry | null>;
  ackOutbox(outboxId: number): Promise<void>;
  ackInbox(inboxId: number): Promise<void>;
  /** Forget the session: the next encrypt starts a new handshake (clears a rollback). */
  resetSession(name: string, device: number): Promise<void>;
  /** Checkpoint and truncate the write-ahead log now. */
  eraseNow(): Promise<void>;
  /**
   * Call when the application has nothing to do (a burst of messages has
   * ended, its loop waits): the erase work that a later encrypt or decrypt
   * would otherwise carry runs now (PROTOCOL.md 15.5 "Idle handles"). Cheap
   * when nothing is due.
   */
  idle(): Promise<void>;

  /** Session facts for a contact device and its stored generation. */
  sessionInfo(name: string, device: number): Promise<SessionInfo & { generation: number }>;
  prekeyStats(): Promise<PrekeyStats>;

  /** Prekey upkeep by policy (forceSignedPrekey: a new signed prekey now). */
  maintain(options?: { forceSignedPrekey?: boolean }): Promise<MaintainResult>;
  /** Rotate the identity (new or imported key pair); resolves to the new public key. */
  rotateIdentity(options?: { reason?: string } & Partial<KeySource>): Promise<Uint8Array>;
  /** Our rotation records, oldest first. */
  rotations(): Promise<Uint8Array[]>;

  /** The history archive (policy archive on), oldest first. */
  history(options?: { peer?: string }): Promise<HistoryEntry[]>;
  rotateArchive(mode: 'reencrypt' | 'split' | 'shred'): Promise<ArchiveResult>;
  /**
   * Import the product's stored rows, opened with the old box key, into the
   * archive in one transaction. rows[i] is null (imported) or its error code.
   */
  importHistory(rows: ImportRow[], oldKey: KeySource): Promise<{ imported: number; rows: (RbxErrorCode | null)[] }>;

  /** The policy, key = value as `rbx policy` prints it. */
  policy(): Promise<Record<string, string>>;
  /** Change policy keys (values as rbx policy set takes them; true/false = on/off). RBX_E_NOT_FOUND, _POLICY. */
  setPolicy(changes: Record<string, string | number | boolean>): Promise<Record<string, string>>;
  audit(): Promise<AuditEvent[]>;
  /** Recompute the audit chain: ok, events that verify, the first that does not. */
  auditVerify(): Promise<{ ok: boolean; count: number; badSeq: number | null }>;

  /**
   * Sign an rbxd request with the identity key in force
   * (rbx_store_request_sign): the secret key never leaves the library. A
   * Store is the RequestSigner of RbxdClient.
   */
  signRequest(request: import('./lib/rbxd-client').SignedRequest): Promise<Uint8Array>;
  /**
   * Entry 1 of a new user's device list, the store's identity adding itself
   * (rbx_store_devlist_first_entry): what RbxdClient.enroll posts for a
   * user's first device. created: Unix seconds (default now).
   */
  deviceListFirstEntry(user: string, created?: number): Promise<Uint8Array>;

  /** Make this store an organisation root (an administrator's device); resolves to its public key. */
  orgInit(): Promise<Uint8Array>;
  /** The organisation key held here. RBX_E_NOT_FOUND without one. */
  orgKey(): Promise<Uint8Array>;
  /** Certify a device identity until `expires` (Unix seconds; 0 or omitted: no end). */
  orgCertify(identity: Uint8Array, expires?: number): Promise<Uint8Array>;
  /** Revoke a device identity; applied here too. Resolves to the revocation to hand out. */
  orgRevoke(identity: Uint8Array, reason?: string): Promise<Uint8Array>;
  /** Apply an organisation's revocation: bound contacts with that key refuse to encrypt (RBX_E_REVOKED). */
  addRevocation(revocation: Uint8Array): Promise<void>;
  /** Install our certificate (carried in our bundles). RBX_E_UNCERTIFIED if it is not of our identity. */
  setCertificate(certificate: Uint8Array): Promise<void>;
  /** Our installed certificate. RBX_E_NOT_FOUND without one. */
  certificate(): Promise<Uint8Array>;
  /** The revocations this store applies. */
  revocations(): Promise<{ org: Uint8Array; identity: Uint8Array; revokedAt: number; reason: string }[]>;

  // ------------------------------------------------------------------
  // Multi-device (encrypt to a user, receive from a user, device lists;
  // PROTOCOL.md 21). Sans-I/O: these calls take what the server said and
  // return envelopes; RbxdClient (refreshUser, supply, sendToUser,
  // postSend, syncOnce, flushPending) carries them.

  /**
   * Become a device of a user: `entry` is the user's list entry that adds
   * this store's identity (deviceListFirstEntry for a new user, or the
   * approving device's entry when joining). Pins the user at that entry.
   */
  accountInit(entry: Uint8Array): Promise<Account>;
  /** Our user and device; null before accountInit. */
  account(): Promise<Account | null>;
  /** Sign a device list entry (signer = this identity): the 64-byte signature. */
  deviceListSign(entry: DeviceListEntryFields): Promise<Uint8Array>;
  /** Encode an entry with its signer's signature, adding ours as the subject's (a join). */
  deviceListCosign(entry: DeviceListEntryFields, signature: Uint8Array): Promise<Uint8Array>;
  /** Encode and sign an entry this store can sign alone (remove, rotate, an add of a held key). */
  deviceListEntry(entry: DeviceListEntryFields): Promise<Uint8Array>;
  /**
   * Apply a user's device list as the server gave it (all entries, oldest
   * first, and the devices' registration ids): verified from the pin (the
   * first entry's hash, set now if the user is new), extensions only.
   * RBX_E_DEVLIST_FORK, _ROLLBACK, _SIGNATURE, _PIN refuse a list.
   */
  userUpdate(user: string, entries: Uint8Array[], devices?: { device: number; registrationId: number }[]):
  Promise<UserUpdateResult>;
  /**
   * Bind a user to an organisation root (32-byte public key): entries the
   * root signed are then accepted in its list. RBX_E_EXISTS: bound to
   * another root; RBX_E_KEY: not a key.
   */
  userOrg(user: string, org: Uint8Array): Promise<void>;
  /** The pin and the newest verified (seq, hash) of a user; null if not pinned. */
  userPin(user: string): Promise<UserPin | null>;
  /** The current devices of a user, as its verified list holds them. */
  userDevices(user: string): Promise<UserDeviceInfo[]>;
  /** The devices a send to `to` reaches (its devices and our other ones), needsBundle where a session must start. */
  sendNeeds(to: string): Promise<UserDeviceInfo[]>;
  /** Hold a fetched bundle for a listed device (checked against the list's identity). */
  userBundle(user: string, device: number, bundle: Uint8Array): Promise<void>;
  /**
   * Encrypt plaintext to every current device of `to` and, as sync copies,
   * to every other device of our own user, in one transaction; the set is
   * kept until sendDone. RBX_E_NOT_FOUND: a device needs a bundle (sendNeeds).
   */
  send(to: string, plaintext: Uint8Array): Promise<OutgoingSend>;
  /** A pending send (the oldest without an id); null if none. */
  sendGet(id?: number): Promise<OutgoingSend | null>;
  /**
   * Rebuild a pending send after a 409 (lists refreshed since): envelopes
   * for devices that appeared, none for removed ones, new sessions for
   * stale registrations. A targeted send whose device is gone: null (dropped).
   */
  sendRebuild(id: number, targeted?: boolean): Promise<OutgoingSend | null>;
  /** The server stored the send: forget its envelopes. */
  sendDone(id: number): Promise<void>;
  /**
   * Decrypt a message from `from` (the server's sender_user/sender_device),
   * verified against that user's pinned list: the plaintext (committed to
   * the inbox with the state), the sender, whether it is a sync copy of our
   * own message, or a retry request (then re-sends are queued: sendGet).
   * RBX_E_NOT_FOUND: the device is not in the list we hold (refresh it);
   * RBX_E_IDENTITY_CHANGED: a key the list does not give that device.
   */
  receive(wire: Uint8Array, from: { user: string; device: number }): Promise<UserReceived>;
  /**
   * Ask a device to re-send messages that did not decrypt (1 to 32 ids): a
   * new session's first message carrying the retry request (held bundle
   * needed). RBX_E_LIMIT: one request per peer device per hour.
   */
  retryRequest(user: string, device: number, ids: Uint8Array[]): Promise<OutgoingSend>;
  /** Up to `count` new one-time prekeys to publish: their ids and public keys. */
  onetimeExport(count: number): Promise<{ id: number; key: Uint8Array }[]>;
}

/** This store's place among users (rbx_account). */
export interface Account {
  user: string;
  device: number;
  registrationId: number;
  /** The list entry that added this device. */
  entry: Uint8Array;
}

/** The fields of a device list entry (rbx_devlist_entry). */
export interface DeviceListEntryFields {
  user: string;
  seq: number;
  /** 32 bytes: the previous entry's hash (zeros for entry 1). */
  prevHash: Uint8Array;
  op: 'add' | 'remove' | 'rotate';
  device: number;
  identity: Uint8Array;
  /** Unix seconds. */
  created: number;
  signerKind?: 'device' | 'org';
  signer: Uint8Array;
}

export interface UserPin {
  firstHash: Uint8Array;
  seq: number;
  hash: Uint8Array;
}

export interface UserUpdateResult {
  head: UserPin;
  /** The user was pinned by this call. */
  first: boolean;
  /** Our own device is in the list (for our own user). */
  selfListed: boolean;
  devices: number;
  added: number;
  removed: number;
  rotated: number;
  reregistered: number;
}

// ==================================================================== sans-I/O

/**
 * A box key pair held in native memory (secret wiped by destroy() or by
 * garbage collection). Synchronous: no I/O but a small key file read.
 */
export class Identity {
  private constructor();
  static generate(): Identity;
  static import(source: KeySource): Identity;
  readonly publicKey: Uint8Array;
  readonly fingerprint: string;
  destroy(): void;
}

/** A responder's prekeys (rbx_prekeys), in memory. */
export class Prekeys {
  constructor(identity: Identity);
  addSigned(id: number): void;
  addOnetime(id: number): void;
  bundle(signedPrekeyId: number, onetimePrekeyId?: number | null): Uint8Array;
  readonly onetimeCount: number;
  destroy(): void;
}

/**
 * An in-memory Double Ratchet session (rbx_session), nothing stored:
 * synchronous, since a step costs microseconds (less than a thread-pool hop).
 * For durable state use Store.
 */
export class Session {
  private constructor();
  static initiate(identity: Identity, bundle: Uint8Array, options?: { headerEncryption?: boolean }): Session;
  static accept(prekeys: Prekeys, wire: Uint8Array, pinned?: Uint8Array | null):
  { session: Session; plaintext: Uint8Array; consumedOnetime: number | null };
  encrypt(plaintext: Uint8Array): Uint8Array;
  /** The plaintext in binding memory, wiped when collected. */
  decrypt(wire: Uint8Array): Uint8Array;
  /**
   * encrypt without an allocation: the wire message into `out` (at least
   * wireSize(plaintext.length) bytes); returns its length. RBX_E_BUFFER if
   * out is too small.
   */
  encryptInto(plaintext: Uint8Array, out: Uint8Array): number;
  /**
   * decrypt into an array the caller owns, reuses and wipes (at least
   * wire.length bytes always suffice); returns the plaintext's length.
   */
  decryptInto(wire: Uint8Array, out: Uint8Array): number;
  wireSize(plaintextLength: number): number;
  info(): SessionInfo;
  destroy(): void;
}
