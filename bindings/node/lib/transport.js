// SPDX-License-Identifier: MIT
// The transport line of rbx(1): standard base64 (with padding) of
//   0x01 || the sender's 32-byte identity public key || the wire message.
// The identity is clear metadata that lets the receiver pick the contact;
// the ratchet authenticates the message itself.
'use strict';

const VERSION = 1;
const HEADER = 33;
// A line carries at most RBX_MAX_WIRE (1 MiB + 512) bytes of wire message.
const MAX_WIRE = 1024 * 1024 + 512;

function invalid(message) {
  const e = new TypeError(message);
  e.code = 'RBX_E_INVALID';
  return e;
}

function malformed(message) {
  const { RbxError, codes } = require('../index.js');
  const e = new RbxError('bytes do not parse', 'RBX_E_MALFORMED', codes.RBX_E_MALFORMED);
  e.detail = message;
  return e;
}

/** base64(0x01 || sender || wire) */
function encode(sender, wire) {
  if (!(sender instanceof Uint8Array) || sender.length !== 32) throw invalid('sender: a 32-byte Uint8Array');
  if (!(wire instanceof Uint8Array) || wire.length === 0) throw invalid('wire: a non-empty Uint8Array');
  const buf = Buffer.allocUnsafe(HEADER + wire.length);
  buf[0] = VERSION;
  buf.set(sender, 1);
  buf.set(wire, HEADER);
  return buf.toString('base64');
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The sender and the wire message of a line; RBX_E_MALFORMED otherwise. */
function decode(line) {
  if (typeof line !== 'string') throw invalid('line: a string');
  const text = line.replace(/\r?\n$/, '');
  if (text.length > Math.ceil((HEADER + MAX_WIRE) / 3) * 4) throw malformed('too long');
  if (!B64.test(text)) throw malformed('bad base64');
  const buf = Buffer.from(text, 'base64');
  // Canonical encoding only (as libsodium's decoder in rbx): unused bits zero.
  if (buf.toString('base64') !== text) throw malformed('bad base64');
  if (buf.length <= HEADER) throw malformed('too short');
  if (buf[0] !== VERSION) throw malformed('unknown version');
  return {
    sender: new Uint8Array(buf.buffer.slice(buf.byteOffset + 1, buf.byteOffset + HEADER)),
    wire: new Uint8Array(buf.buffer.slice(buf.byteOffset + HEADER, buf.byteOffset + buf.length)),
  };
}

module.exports = { encode, decode };
