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
    send(to: string, messageId: Uint8Array, envelopes: Envelope[]): Promise<SendResult>;
    /** GET .../mailbox: items after `after`, waiting up to `wait` seconds for one. */
    mailbox(opts?: {
        after?: number;
        limit?: number;
        wait?: number;
    }): Promise<MailboxResult>;
    /** POST .../mailbox/ack: delete delivered items; returns how many went. */
    ack(ids: number[]): Promise<number>;
    private json;
    private parse;
    /** Sign and send; one retry after a clock_skew refusal, on the server's clock. */
    private request;
}
