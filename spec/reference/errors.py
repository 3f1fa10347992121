# SPDX-License-Identifier: MIT
"""The error codes of spec/PROTOCOL.md section 12, as the reference raises them."""

CODES = {
    "RBX_E_INVALID": -1, "RBX_E_NOMEM": -2, "RBX_E_MALFORMED": -3, "RBX_E_VERSION": -4,
    "RBX_E_AUTH": -5, "RBX_E_SIGNATURE": -6, "RBX_E_KEY": -7, "RBX_E_UNKNOWN_PREKEY": -8,
    "RBX_E_PREKEY_REUSED": -9, "RBX_E_IDENTITY_CHANGED": -10, "RBX_E_REPLAY": -11,
    "RBX_E_LIMIT": -12, "RBX_E_TOO_BIG": -13, "RBX_E_BUFFER": -14, "RBX_E_STATE": -15,
    "RBX_E_IO": -16, "RBX_E_CORRUPT": -17, "RBX_E_STORAGE_KEY": -18, "RBX_E_SCHEMA": -19,
    "RBX_E_ROLLBACK": -20, "RBX_E_EXISTS": -21, "RBX_E_NOT_FOUND": -22, "RBX_E_CHAIN": -23,
    "RBX_E_STALE": -24, "RBX_E_UNCERTIFIED": -25, "RBX_E_REVOKED": -26, "RBX_E_EXPIRED": -27,
    "RBX_E_POLICY": -28, "RBX_E_TAMPERED": -29, "RBX_E_UNSAFE": -30,
}
NAMES = {v: k for k, v in CODES.items()}

INVALID, MALFORMED, VERSION, AUTH, SIGNATURE, KEY = (
    "RBX_E_INVALID", "RBX_E_MALFORMED", "RBX_E_VERSION", "RBX_E_AUTH", "RBX_E_SIGNATURE",
    "RBX_E_KEY")
UNKNOWN_PREKEY, PREKEY_REUSED, IDENTITY_CHANGED, REPLAY, LIMIT, TOO_BIG = (
    "RBX_E_UNKNOWN_PREKEY", "RBX_E_PREKEY_REUSED", "RBX_E_IDENTITY_CHANGED", "RBX_E_REPLAY",
    "RBX_E_LIMIT", "RBX_E_TOO_BIG")
BUFFER, STATE, CHAIN, STALE, UNCERTIFIED, EXPIRED = (
    "RBX_E_BUFFER", "RBX_E_STATE", "RBX_E_CHAIN", "RBX_E_STALE", "RBX_E_UNCERTIFIED",
    "RBX_E_EXPIRED")


class RbxError(Exception):
    """A refusal with its RBX_E_* name (PROTOCOL.md 12)."""

    def __init__(self, name, detail=""):
        super().__init__("%s%s" % (name, ": " + detail if detail else ""))
        self.name = name
        self.code = CODES[name]

# The text of each code (PROTOCOL.md section 12), as rbx_strerror gives it.
TEXT = {
    'RBX_E_INVALID': 'invalid argument',
    'RBX_E_NOMEM': 'out of memory',
    'RBX_E_MALFORMED': 'malformed input',
    'RBX_E_VERSION': 'unsupported version',
    'RBX_E_AUTH': 'authentication failed',
    'RBX_E_SIGNATURE': 'bad signature',
    'RBX_E_KEY': 'invalid key',
    'RBX_E_UNKNOWN_PREKEY': 'unknown prekey',
    'RBX_E_PREKEY_REUSED': 'one-time prekey already used',
    'RBX_E_IDENTITY_CHANGED': 'peer identity changed',
    'RBX_E_REPLAY': 'message already received or its key discarded',
    'RBX_E_LIMIT': 'limit reached',
    'RBX_E_TOO_BIG': 'input too large',
    'RBX_E_BUFFER': 'output buffer too small',
    'RBX_E_STATE': 'operation not possible in this state',
    'RBX_E_IO': 'storage error',
    'RBX_E_CORRUPT': 'database or key file damaged',
    'RBX_E_STORAGE_KEY': 'wrong storage key',
    'RBX_E_SCHEMA': 'database written by a newer version',
    'RBX_E_ROLLBACK': 'database rolled back: re-establish the session',
    'RBX_E_EXISTS': 'already exists',
    'RBX_E_NOT_FOUND': 'not found',
    'RBX_E_CHAIN': 'rotation records do not form a chain',
    'RBX_E_STALE': 'rotation replayed or rolled back',
    'RBX_E_UNCERTIFIED': 'key not certified by the organisation',
    'RBX_E_REVOKED': 'key revoked by the organisation',
    'RBX_E_EXPIRED': 'key past its allowed age',
    'RBX_E_POLICY': 'policy value out of range',
    'RBX_E_TAMPERED': 'database changed without the storage key',
    'RBX_E_UNSAFE': 'unsafe state file: other users may read or change it, or not a regular file',
}
