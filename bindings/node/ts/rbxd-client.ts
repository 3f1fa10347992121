// SPDX-License-Identifier: MIT
// RbxdClient: the HTTP API of rbxd (spec/SERVER.md) over fetch, with every
// request signed by the device key (RBX-Sig, PROTOCOL.md 20.7). The secret
// key never reaches this code: a RequestSigner (a ratchetbox Store) signs
// inside the native library. Plain fetch, btoa and crypto.getRandomValues
// only, so that the same file serves Node, a phone (Expo) and a browser.
//
// Compiled by `npm run build:ts` to lib/rbxd-client.js and .d.ts, which are
// checked in (test/rbxd-client.test.js checks that they match this file).

/** The fields of a request signature (rbx_request_sign). */
export interface SignedRequest {
  method: string;
  /** Path and query exactly as sent. */
  target: string;
  /** Unix seconds. */
  ts: number;
  /** 16 random bytes. */
  nonce: Uint8Array;
  body?: Uint8Array;
  user: string;
  device: number;
}

/** Signs requests as one device: a ratchetbox Store is one. */
export interface RequestSigner {
  signRequest(req: SignedRequest): Promise<Uint8Array>;
}

export interface RbxdClientOptions {
  /** The server's origin, e.g. "http://127.0.0.1:8443" (no path). */
  baseUrl: string;
  /** This device's user id (rbx_user_id_ok). */
  user: string;
  /** This device's id: deviceId(identity it enrolled with). */
  device: number;
  /** Holds the device key; signs every request but /healthz and /metrics. */
  signer: RequestSigner;
  /** Defaults to globalThis.fetch. */
  fetch?: typeof fetch;
  /** Unix seconds; defaults to the system clock (tests inject one). */
  now?: () => number;
  /** Defaults to crypto.getRandomValues. */
  randomBytes?: (n: number) => Uint8Array;
}

/** A one-time prekey as the server stores it. */
export interface OneTimePrekey {
  id: number;
  key: Uint8Array;
}

export interface EnrollRequest {
  /** The signed device-list entry that adds this device (absent: re-registration). */
  entry?: Uint8Array;
  registrationId: number;
  /** The base bundle: Store.bundle({ onetime: false }). */
  bundle: Uint8Array;
  oneTime?: OneTimePrekey[];
  certificate?: Uint8Array;
}

export interface EnrollResult {
  device: number;
  registrationId: number;
  /** The device list's version (its newest seq) afterwards. */
  version: number;
}

export interface DeviceListResult {
  user: string;
  version: number;
  /** Encoded entries, oldest first (verify them with the library). */
  entries: { seq: number; entry: Uint8Array }[];
  devices: { device: number; registrationId: number }[];
  /** The representation's ETag, for If-None-Match. */
  etag: string | null;
}

export interface KeyStatus {
  oneTimeCount: number;
  oneTimeMaxId: number;
  low: boolean;
  signedPrekeyId: number;
  signedPrekeyCreated: number;
  signedPrekeyUploaded: number;
  signedPrekeyAge: number;
}

export interface FetchedBundle {
  device: number;
  registrationId: number;
  /** The base bundle; with oneTime, assemble with bundleWithOnetime(). */
  bundle: Uint8Array;
  oneTime: OneTimePrekey | null;
  low: boolean;
}

export interface Envelope {
  user: string;
  device: number;
  registrationId: number;
  /** The transport bytes for that device. */
  body: Uint8Array;
}

export interface SendResult {
  stored: number;
  duplicate: boolean;
}

export interface MailboxItem {
  id: number;
  messageId: Uint8Array;
  senderUser: string;
  senderDevice: number;
  receivedAt: number;
  body: Uint8Array;
}

export interface MailboxResult {
  items: MailboxItem[];
  more: boolean;
}

// ---------------------------------------------------------------- users (PROTOCOL.md 21)

/** A send a Store made (Store.send, sendGet, sendRebuild, retryRequest). */
export interface OutgoingSend {
  id: number;
  messageId: Uint8Array;
  to: string;
  kind: 'message' | 'retry' | 'resend';
  targeted: boolean;
  envelopes: Envelope[];
}

export interface UserDeviceInfo {
  user: string;
  device: number;
  identity: Uint8Array;
  addedSeq: number;
  registrationId: number;
  self: boolean;
  hasSession: boolean;
  hasBundle: boolean;
  needsBundle: boolean;
}

/** What Store.receive says of a message from a user's device. */
export interface UserReceived {
  user: string;
  device: number;
  type: 'message' | 'sync' | 'retry';
  sync: boolean;
  to: string;
  resent: boolean;
  messageId: Uint8Array;
  inboxId: number;
  redelivered: boolean;
  resentCount: number;
  retryLimited: boolean;
  plaintext: Uint8Array;
}

/**
 * The Store calls the multi-device flows use: a ratchetbox Store is one.
 * Everything that decides about keys happens in it; RbxdClient only
 * carries bytes (sans-I/O, as the library).
 */
export interface UserStore extends RequestSigner {
  userUpdate(user: string, entries: Uint8Array[], devices?: { device: number; registrationId: number }[]):
  Promise<unknown>;
  userPin(user: string): Promise<unknown | null>;
  sendNeeds(to: string): Promise<UserDeviceInfo[]>;
  userDevices(user: string): Promise<UserDeviceInfo[]>;
  userBundle(user: string, device: number, bundle: Uint8Array): Promise<void>;
  send(to: string, plaintext: Uint8Array): Promise<OutgoingSend>;
  sendGet(id?: number): Promise<OutgoingSend | null>;
  sendRebuild(id: number, targeted?: boolean): Promise<OutgoingSend | null>;
  sendDone(id: number): Promise<void>;
  receive(wire: Uint8Array, from: { user: string; device: number }): Promise<UserReceived>;
  retryRequest(user: string, device: number, ids: Uint8Array[]): Promise<OutgoingSend>;
  ackInbox(inboxId: number): Promise<void>;
}

/** bundleWithOnetime of the native module (a server hands out base bundles). */
export type BundleAssembler = (base: Uint8Array, id: number, key: Uint8Array) => Uint8Array;

/** One round of syncOnce: what was read, and what could not be. */
export interface SyncResult {
  received: UserReceived[];
  /** Messages that did not decrypt and were asked for again (retry requests sent). */
  askedAgain: number;
  /** Messages that did not decrypt and could not be asked for (one request per device per hour). */
  lost: number;
  /** Refused: forged, or from a device its user's list does not hold. */
  refused: number;
}

function rbxCode(e: unknown): string {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
    ? (e as { code: string }).code : '';
}

/** A refusal by the server: status, its stable `error` code, and its JSON. */
export class RbxdError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: Record<string, unknown>;
  constructor(status: number, code: string, message: string, body: Record<string, unknown>) {
    super(message);
    this.name = 'RbxdError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

function b64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 0x8000)));
  }
  return btoa(s);
}

function unb64(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`rbxd: ${what} is not a base64 string`);
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`rbxd: ${what} is not an integer`);
  return v;
}

function pathUser(user: string): string {
  // User ids are [a-z0-9][a-z0-9._@-]* and appear in paths unescaped.
  if (!/^[a-z0-9][a-z0-9._@-]{0,62}$/.test(user)) throw new TypeError(`rbxd: not a user id: ${user}`);
  return user;
}

function pathDevice(device: number): string {
  if (!Number.isInteger(device) || device < 1 || device > 0x7fffffff) {
    throw new TypeError(`rbxd: not a device id: ${device}`);
  }
  return String(device);
}

const encoder = new TextEncoder();

export class RbxdClient {
  readonly baseUrl: string;
  readonly user: string;
  readonly device: number;
  private readonly signer: RequestSigner;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly randomBytes: (n: number) => Uint8Array;
  /** Seconds added to now(): learned from a clock_skew refusal. */
  private clockOffset = 0;

  constructor(opts: RbxdClientOptions) {
    const u = new URL(opts.baseUrl);
    if (u.pathname !== '/' || u.search !== '' || u.hash !== '') {
      throw new TypeError('rbxd: baseUrl is an origin without path, query or fragment');
    }
    this.baseUrl = u.origin;
    this.user = pathUser(opts.user);
    pathDevice(opts.device);
    this.device = opts.device;
    this.signer = opts.signer;
    const f = opts.fetch ?? globalThis.fetch;
    this.fetchFn = (input, init) => f(input, init);
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.randomBytes = opts.randomBytes ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
  }

  /** GET /healthz (unsigned): true when the server is up and not draining. */
  async health(): Promise<boolean> {
    const r = await this.fetchFn(this.baseUrl + '/healthz', { method: 'GET' });
    await r.arrayBuffer();
    return r.status === 200;
  }

  /** POST /v1/users/{user}/devices: enroll this device (or re-register). */
  async enroll(req: EnrollRequest): Promise<EnrollResult> {
    const body: Record<string, unknown> = {
      registration_id: req.registrationId,
      bundle: b64(req.bundle),
    };
    if (req.entry) body.entry = b64(req.entry);
    if (req.oneTime) body.one_time = req.oneTime.map((k) => ({ id: k.id, key: b64(k.key) }));
    if (req.certificate) body.certificate = b64(req.certificate);
    const j = await this.json('POST', `/v1/users/${this.user}/devices`, body);
    return { device: int(j.device, 'device'), registrationId: int(j.registration_id, 'registration_id'),
      version: int(j.version, 'version') };
  }

  /** GET /v1/users/{user}/devicelist: null when etag matches (304). */
  async deviceList(user: string, opts: { since?: number; etag?: string } = {}): Promise<DeviceListResult | null> {
    let target = `/v1/users/${pathUser(user)}/devicelist`;
    if (opts.since !== undefined) target += `?since=${int(opts.since, 'since')}`;
    const headers: Record<string, string> = {};
    if (opts.etag) headers['If-None-Match'] = opts.etag;
    const r = await this.request('GET', target, undefined, headers);
    if (r.status === 304) return null;
    const j = await this.parse(r);
    const entries = (j.entries as { seq: unknown; entry: unknown }[]).map((e) => ({
      seq: int(e.seq, 'seq'), entry: unb64(e.entry, 'entry') }));
    const devices = (j.devices as { device: unknown; registration_id: unknown }[]).map((d) => ({
      device: int(d.device, 'device'), registrationId: int(d.registration_id, 'registration_id') }));
    return { user: String(j.user), version: int(j.version, 'version'), entries, devices,
      etag: r.headers.get('etag') };
  }

  /** POST /v1/users/{user}/devicelist: append a remove or rotate entry. */
  async appendDeviceList(entry: Uint8Array, opts: { bundle?: Uint8Array; certificate?: Uint8Array } = {}):
  Promise<number> {
    const body: Record<string, unknown> = { entry: b64(entry) };
    if (opts.bundle) body.bundle = b64(opts.bundle);
    if (opts.certificate) body.certificate = b64(opts.certificate);
    const j = await this.json('POST', `/v1/users/${this.user}/devicelist`, body);
    return int(j.version, 'version');
  }

  /** PUT .../devices/{device}/keys: a new base bundle and/or one-time prekeys. */
  async putKeys(keys: { bundle?: Uint8Array; oneTime?: OneTimePrekey[] }): Promise<number> {
    const body: Record<string, unknown> = {};
    if (keys.bundle) body.bundle = b64(keys.bundle);
    if (keys.oneTime) body.one_time = keys.oneTime.map((k) => ({ id: k.id, key: b64(k.key) }));
    const j = await this.json('PUT', `/v1/users/${this.user}/devices/${this.device}/keys`, body);
    return int(j.one_time_count, 'one_time_count');
  }

  /** GET .../devices/{device}/keys: what the server holds of our prekeys. */
  async keyStatus(): Promise<KeyStatus> {
    const j = await this.json('GET', `/v1/users/${this.user}/devices/${this.device}/keys`);
    return {
      oneTimeCount: int(j.one_time_count, 'one_time_count'),
      oneTimeMaxId: int(j.one_time_max_id, 'one_time_max_id'),
      low: j.low === true,
      signedPrekeyId: int(j.signed_prekey_id, 'signed_prekey_id'),
      signedPrekeyCreated: int(j.signed_prekey_created, 'signed_prekey_created'),
      signedPrekeyUploaded: int(j.signed_prekey_uploaded, 'signed_prekey_uploaded'),
      signedPrekeyAge: int(j.signed_prekey_age, 'signed_prekey_age'),
    };
  }

  /** POST /v1/users/{user}/bundles: claim a bundle per device (all, or those listed). */
  async bundles(user: string, devices?: number[]): Promise<{ version: number; bundles: FetchedBundle[] }> {
    const body: Record<string, unknown> = {};
    if (devices) body.devices = devices;
    const j = await this.json('POST', `/v1/users/${pathUser(user)}/bundles`, body);
    const bundles = (j.bundles as Record<string, unknown>[]).map((b) => {
      const ot = b.one_time as { id: unknown; key: unknown } | null;
      return {
        device: int(b.device, 'device'),
        registrationId: int(b.registration_id, 'registration_id'),
        bundle: unb64(b.bundle, 'bundle'),
        oneTime: ot ? { id: int(ot.id, 'one_time.id'), key: unb64(ot.key, 'one_time.key') } : null,
        low: b.low === true,
      };
    });
    return { version: int(j.version, 'version'), bundles };
  }

  /**
   * POST /v1/messages: one envelope per current device of `to` and per other
   * device of our own user, stored all or nothing; idempotent on messageId
   * (16 bytes, chosen by the client: retry with the same one).
   */
  async send(to: string, messageId: Uint8Array, envelopes: Envelope[],
    opts: { targeted?: boolean } = {}): Promise<SendResult> {
    if (messageId.length !== 16) throw new TypeError('rbxd: messageId is 16 bytes');
    const body: Record<string, unknown> = {
      message_id: b64(messageId),
      to: pathUser(to),
      envelopes: envelopes.map((e) => ({ user: pathUser(e.user), device: e.device,
        registration_id: e.registrationId, body: b64(e.body) })),
    };
    // A retry request or a re-send names one device (SERVER.md 7.1).
    if (opts.targeted) body.targeted = true;
    const j = await this.json('POST', '/v1/messages', body);
    return { stored: int(j.stored, 'stored'), duplicate: j.duplicate === true };
  }

  /** GET .../mailbox: items after `after`, waiting up to `wait` seconds for one. */
  async mailbox(opts: { after?: number; limit?: number; wait?: number } = {}): Promise<MailboxResult> {
    const q: string[] = [];
    if (opts.after !== undefined) q.push(`after=${int(opts.after, 'after')}`);
    if (opts.limit !== undefined) q.push(`limit=${int(opts.limit, 'limit')}`);
    if (opts.wait !== undefined) q.push(`wait=${int(opts.wait, 'wait')}`);
    const target = `/v1/users/${this.user}/devices/${this.device}/mailbox` + (q.length ? `?${q.join('&')}` : '');
    const j = await this.json('GET', target);
    const items = (j.items as Record<string, unknown>[]).map((it) => ({
      id: int(it.id, 'id'),
      messageId: unb64(it.message_id, 'message_id'),
      senderUser: String(it.sender_user),
      senderDevice: int(it.sender_device, 'sender_device'),
      receivedAt: int(it.received_at, 'received_at'),
      body: unb64(it.body, 'body'),
    }));
    return { items, more: j.more === true };
  }

  /** POST .../mailbox/ack: delete delivered items; returns how many went. */
  async ack(ids: number[]): Promise<number> {
    const j = await this.json('POST', `/v1/users/${this.user}/devices/${this.device}/mailbox/ack`, { ids });
    return int(j.deleted, 'deleted');
  }

  // ---------------------------------------------------------------- users (PROTOCOL.md 21)

  /** Fetch user's device list and apply it in the store (verified from its pin, or pinned now). */
  async refreshUser(store: UserStore, user: string): Promise<void> {
    const l = await this.deviceList(user);
    if (l === null) return;
    await store.userUpdate(user, l.entries.map((e) => e.entry), l.devices);
  }

  /** Fetch and hold a bundle for every device a send to `to` needs. */
  async supply(store: UserStore, to: string, assemble: BundleAssembler): Promise<void> {
    const needs = await store.sendNeeds(to);
    const byUser = new Map<string, number[]>();
    for (const n of needs) byUser.set(n.user, [...(byUser.get(n.user) ?? []), n.device]);
    for (const [user, devices] of byUser) {
      const r = await this.bundles(user, devices);
      for (const b of r.bundles) {
        const full = b.oneTime ? assemble(b.bundle, b.oneTime.id, b.oneTime.key) : b.bundle;
        await store.userBundle(user, b.device, full);
      }
    }
  }

  /**
   * Post a send; each 409 device_mismatch updates the lists and rebuilds it
   * (at most 4 posts). A device the server calls extra that the verified
   * list still holds: RbxdError 'device_dropped', the send stays pending.
   */
  async postSend(store: UserStore, s: OutgoingSend, assemble: BundleAssembler): Promise<void> {
    let cur: OutgoingSend | null = s;
    for (let attempt = 0; attempt < 4 && cur !== null; attempt++) {
      let extra: unknown = [];
      try {
        await this.send(cur.to, cur.messageId, cur.envelopes, { targeted: cur.targeted });
        await store.sendDone(cur.id);
        return;
      } catch (e) {
        if (!(e instanceof RbxdError) || e.code !== 'device_mismatch') throw e;
        extra = e.body.extra;
      }
      await this.refreshUser(store, cur.to);
      if (cur.to !== this.user) await this.refreshUser(store, this.user);
      // A device the server will not deliver to that the verified list
      // still holds was dropped without a signed removal (PROTOCOL.md 21.4).
      for (const x of Array.isArray(extra) ? extra : []) {
        const u = (x as { user?: unknown }).user;
        const d = (x as { device?: unknown }).device;
        if (typeof u !== 'string' || typeof d !== 'number') continue;
        if ((await store.userDevices(u)).some((v) => v.device === d)) {
          throw new RbxdError(409, 'device_dropped', `rbxd: the server will not deliver to ${u} device ${d}, ` +
            `which ${u}'s verified device list holds; the send stays pending`, { user: u, device: d });
        }
      }
      if (!cur.targeted) await this.supply(store, cur.to, assemble);
      cur = await store.sendRebuild(cur.id, cur.targeted);
    }
    if (cur !== null) throw new RbxdError(409, 'device_mismatch', 'rbxd: the devices kept changing; the send stays pending', {});
  }

  /**
   * Encrypt plaintext to every device of `to` and, as sync copies, to our
   * own other devices, in one store transaction, and post the set.
   */
  async sendToUser(store: UserStore, to: string, plaintext: Uint8Array, assemble: BundleAssembler):
  Promise<OutgoingSend> {
    if ((await store.userPin(to)) === null) await this.refreshUser(store, to);
    if (to !== this.user && (await store.userPin(this.user)) === null) await this.refreshUser(store, this.user);
    await this.supply(store, to, assemble);
    let s: OutgoingSend;
    try {
      s = await store.send(to, plaintext);
    } catch (e) {
      if (rbxCode(e) !== 'RBX_E_NOT_FOUND') throw e;
      // A device appeared since: the lists again, then its bundle.
      await this.refreshUser(store, to);
      if (to !== this.user) await this.refreshUser(store, this.user);
      await this.supply(store, to, assemble);
      s = await store.send(to, plaintext);
    }
    await this.postSend(store, s, assemble);
    return s;
  }

  /** Post every pending send of the store (re-sends, retry requests, sends a crash left). */
  async flushPending(store: UserStore, assemble: BundleAssembler): Promise<number> {
    let n = 0;
    for (let s = await store.sendGet(); s !== null; s = await store.sendGet()) {
      await this.postSend(store, s, assemble);
      n++;
    }
    return n;
  }

  /**
   * One round: fetch the mailbox (waiting up to `wait` seconds), decrypt
   * each message with its sender verified, acknowledge it, ask for what
   * did not decrypt (one retry request per sender device), post re-sends.
   * Each plaintext goes to `deliver` (in mailbox order) once the store
   * holds it durably; the mailbox entries and the store's inbox entries are
   * acknowledged only after every deliver of the round has resolved (if
   * deliver throws, nothing is acknowledged and the round is fetched again).
   */
  async syncOnce(store: UserStore, assemble: BundleAssembler,
    deliver: (r: UserReceived) => void | Promise<void>, opts: { wait?: number } = {}): Promise<SyncResult> {
    const box = await this.mailbox({ limit: 100, wait: opts.wait ?? 0 });
    const out: SyncResult = { received: [], askedAgain: 0, lost: 0, refused: 0 };
    const failed = new Map<string, { user: string; device: number; ids: Uint8Array[] }>();
    for (const it of box.items) {
      const from = { user: it.senderUser, device: it.senderDevice };
      let r: UserReceived | null = null;
      for (let attempt = 0; attempt < 2 && r === null; attempt++) {
        try {
          r = await store.receive(it.body, from);
        } catch (e) {
          const code = rbxCode(e);
          if (attempt === 0 && code === 'RBX_E_NOT_FOUND') {
            await this.refreshUser(store, from.user);
          } else if (attempt === 0 && code === 'RBX_E_IDENTITY_CHANGED') {
            await this.refreshUser(store, from.user);
            const b = await this.bundles(from.user, [from.device]);
            for (const x of b.bundles) {
              await store.userBundle(from.user, x.device,
                x.oneTime ? assemble(x.bundle, x.oneTime.id, x.oneTime.key) : x.bundle);
            }
          } else if (['RBX_E_STATE', 'RBX_E_AUTH', 'RBX_E_UNKNOWN_PREKEY', 'RBX_E_PREKEY_REUSED',
            'RBX_E_ROLLBACK'].includes(code)) {
            const k = `${from.user}/${from.device}`;
            const f = failed.get(k) ?? { user: from.user, device: from.device, ids: [] };
            if (f.ids.length < 32) f.ids.push(it.messageId);
            failed.set(k, f);
            break;
          } else {
            if (code !== 'RBX_E_REPLAY') out.refused++;
            break;
          }
        }
      }
      if (r !== null && r.type !== 'retry') out.received.push(r);
    }
    for (const r of out.received) await deliver(r);
    if (box.items.length > 0) await this.ack(box.items.map((it) => it.id));
    for (const r of out.received) await store.ackInbox(r.inboxId);
    for (const f of failed.values()) {
      try {
        const b = await this.bundles(f.user, [f.device]);
        for (const x of b.bundles) {
          await store.userBundle(f.user, x.device, x.oneTime ? assemble(x.bundle, x.oneTime.id, x.oneTime.key) : x.bundle);
        }
        await store.retryRequest(f.user, f.device, f.ids);
        out.askedAgain += f.ids.length;
      } catch (e) {
        if (rbxCode(e) !== 'RBX_E_LIMIT') throw e;
        out.lost += f.ids.length;
      }
    }
    await this.flushPending(store, assemble);
    return out;
  }

  // ---------------------------------------------------------------- plumbing

  private async json(method: string, target: string, body?: unknown): Promise<Record<string, unknown>> {
    const bytes = body === undefined ? undefined : encoder.encode(JSON.stringify(body));
    return this.parse(await this.request(method, target, bytes));
  }

  private async parse(r: Response): Promise<Record<string, unknown>> {
    const text = await r.text();
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      throw new RbxdError(r.status, 'bad_response', `rbxd: HTTP ${r.status}, not JSON`, {});
    }
    if (typeof j !== 'object' || j === null || Array.isArray(j)) {
      throw new RbxdError(r.status, 'bad_response', `rbxd: HTTP ${r.status}, not a JSON object`, {});
    }
    const o = j as Record<string, unknown>;
    if (r.status !== 200) {
      const code = typeof o.error === 'string' ? o.error : 'http_' + r.status;
      const msg = typeof o.message === 'string' ? o.message : `HTTP ${r.status}`;
      throw new RbxdError(r.status, code, `rbxd: ${code}: ${msg}`, o);
    }
    return o;
  }

  /** Sign and send; one retry after a clock_skew refusal, on the server's clock. */
  private async request(method: string, target: string, body?: Uint8Array,
    headers: Record<string, string> = {}): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const ts = this.now() + this.clockOffset;
      const nonce = this.randomBytes(16);
      const sig = await this.signer.signRequest({ method, target, ts, nonce, body, user: this.user,
        device: this.device });
      const h: Record<string, string> = {
        ...headers,
        Authorization: `RBX-Sig user="${this.user}", device=${this.device}, ts=${ts}, ` +
          `nonce="${b64(nonce)}", sig="${b64(sig)}"`,
      };
      if (body !== undefined) h['Content-Type'] = 'application/json';
      const r = await this.fetchFn(this.baseUrl + target, { method, headers: h, body: body as BodyInit | undefined });
      if (r.status === 401 && attempt === 0) {
        const copy = r.clone();
        let j: Record<string, unknown> | null = null;
        try {
          j = (await copy.json()) as Record<string, unknown>;
        } catch {
          j = null;
        }
        if (j && j.error === 'clock_skew' && typeof j.server_time === 'number') {
          await r.arrayBuffer();
          this.clockOffset = j.server_time - this.now();
          continue;
        }
      }
      return r;
    }
  }
}
