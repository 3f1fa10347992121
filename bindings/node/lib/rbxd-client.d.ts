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
    entries: {
        seq: number;
        entry: Uint8Array;
    }[];
    devices: {
        device: number;
        registrationId: number;
    }[];
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
    userUpdate(user: string, entries: Uint8Array[], devices?: {
        device: number;
        registrationId: number;
    }[]): Promise<unknown>;
    userPin(user: string): Promise<unknown | null>;
    sendNeeds(to: string): Promise<UserDeviceInfo[]>;
    userDevices(user: string): Promise<UserDeviceInfo[]>;
    userBundle(user: string, device: number, bundle: Uint8Array): Promise<void>;
    send(to: string, plaintext: Uint8Array): Promise<OutgoingSend>;
    sendGet(id?: number): Promise<OutgoingSend | null>;
    sendRebuild(id: number, targeted?: boolean): Promise<OutgoingSend | null>;
    sendDone(id: number): Promise<void>;
    receive(wire: Uint8Array, from: {
        user: string;
        device: number;
    }): Promise<UserReceived>;
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
/** A refusal by the server: status, its stable `error` code, and its JSON. */
export declare class RbxdError extends Error {
    readonly status: number;
    readonly code: string;
    readonly body: Record<string, unknown>;
    constructor(status: number, code: string, message: string, body: Record<string, unknown>);
}
export declare class RbxdClient {
    readonly baseUrl: string;
    readonly user: string;
    readonly device: number;
    private readonly signer;
    private readonly fetchFn;
    private readonly now;
    private readonly randomBytes;
    /** Seconds added to now(): learned from a clock_skew refusal. */
    private clockOffset;
    constructor(opts: RbxdClientOptions);
    /** GET /healthz (unsigned): true when the server is up and not draining. */
    health(): Promise<boolean>;
    /** POST /v1/users/{user}/devices: enroll this device (or re-register). */
    enroll(req: EnrollRequest): Promise<EnrollResult>;
    /** GET /v1/users/{user}/devicelist: null when etag matches (304). */
    deviceList(user: string, opts?: {
        since?: number;
        etag?: string;
    }): Promise<DeviceListResult | null>;
    /** POST /v1/users/{user}/devicelist: append a remove or rotate entry. */
    appendDeviceList(entry: Uint8Array, opts?: {
        bundle?: Uint8Array;
        certificate?: Uint8Array;
    }): Promise<number>;
    /** PUT .../devices/{device}/keys: a new base bundle and/or one-time prekeys. */
    putKeys(keys: {
        bundle?: Uint8Array;
        oneTime?: OneTimePrekey[];
    }): Promise<number>;
    /** GET .../devices/{device}/keys: what the server holds of our prekeys. */
    keyStatus(): Promise<KeyStatus>;
    /** POST /v1/users/{user}/bundles: claim a bundle per device (all, or those listed). */
    bundles(user: string, devices?: number[]): Promise<{
        version: number;
        bundles: FetchedBundle[];
    }>;
    /**
     * POST /v1/messages: one envelope per current device of `to` and per other
     * device of our own user, stored all or nothing; idempotent on messageId
     * (16 bytes, chosen by the client: retry with the same one).
     */
    send(to: string, messageId: Uint8Array, envelopes: Envelope[], opts?: {
        targeted?: boolean;
    }): Promise<SendResult>;
    /** GET .../mailbox: items after `after`, waiting up to `wait` seconds for one. */
    mailbox(opts?: {
        after?: number;
        limit?: number;
        wait?: number;
    }): Promise<MailboxResult>;
    /** POST .../mailbox/ack: delete delivered items; returns how many went. */
    ack(ids: number[]): Promise<number>;
    /** Fetch user's device list and apply it in the store (verified from its pin, or pinned now). */
    refreshUser(store: UserStore, user: string): Promise<void>;
    /** Fetch and hold a bundle for every device a send to `to` needs. */
    supply(store: UserStore, to: string, assemble: BundleAssembler): Promise<void>;
    /**
     * Post a send; each 409 device_mismatch updates the lists and rebuilds it
     * (at most 4 posts). A device the server calls extra that the verified
     * list still holds: RbxdError 'device_dropped', the send stays pending.
     */
    postSend(store: UserStore, s: OutgoingSend, assemble: BundleAssembler): Promise<void>;
    /**
     * Encrypt plaintext to every device of `to` and, as sync copies, to our
     * own other devices, in one store transaction, and post the set.
     */
    sendToUser(store: UserStore, to: string, plaintext: Uint8Array, assemble: BundleAssembler): Promise<OutgoingSend>;
    /** Post every pending send of the store (re-sends, retry requests, sends a crash left). */
    flushPending(store: UserStore, assemble: BundleAssembler): Promise<number>;
    /**
     * One round: fetch the mailbox (waiting up to `wait` seconds), decrypt
     * each message with its sender verified, acknowledge it, ask for what
     * did not decrypt (one retry request per sender device), post re-sends.
     * Each plaintext goes to `deliver` (in mailbox order) once the store
     * holds it durably; the mailbox entries and the store's inbox entries are
     * acknowledged only after every deliver of the round has resolved (if
     * deliver throws, nothing is acknowledged and the round is fetched again).
     */
    syncOnce(store: UserStore, assemble: BundleAssembler, deliver: (r: UserReceived) => void | Promise<void>, opts?: {
        wait?: number;
    }): Promise<SyncResult>;
    private json;
    private parse;
    /** Sign and send; one retry after a clock_skew refusal, on the server's clock. */
    private request;
}
