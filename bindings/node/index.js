// SPDX-License-Identifier: MIT
// ratchetbox for Node.js: the native addon (build/Release/ratchetbox.node)
// with the JS pieces around it. Types and documentation: index.d.ts.
'use strict';
const native = require('./build/Release/ratchetbox.node');
const transport = require('./lib/transport.js');

/** The error every failed library call rejects or throws with. */
class RbxError extends Error {
  constructor(message, code, errno) {
    super(message);
    this.name = 'RbxError';
    this.code = code;
    this.errno = errno;
  }
}
native.setErrorClass(RbxError);

const { RbxdClient, RbxdError } = require('./lib/rbxd-client.js');

module.exports = {
  Store: native.Store,
  Identity: native.Identity,
  Prekeys: native.Prekeys,
  Session: native.Session,
  RbxError,
  codes: Object.freeze({ ...native.codes }),
  version: native.version,
  fingerprint: native.fingerprint,
  deviceId: native.deviceId,
  userIdOk: native.userIdOk,
  parseBundle: native.parseBundle,
  bundleWithOnetime: native.bundleWithOnetime,
  messageInfo: native.messageInfo,
  verifyRequest: native.verifyRequest,
  encodeTransportLine: transport.encode,
  decodeTransportLine: transport.decode,
  RbxdClient,
  RbxdError,
  MAX_PLAINTEXT: 1024 * 1024,
};
