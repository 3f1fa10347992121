// SPDX-License-Identifier: MIT
// Per-environment data of the addon (one per Node-API environment: the main
// thread and each worker thread that loads it).
#ifndef RBXNODE_ADDON_H
#define RBXNODE_ADDON_H

#include "common.h"

namespace rbxnode {

struct AddonData {
  Napi::FunctionReference rbx_error;  // the RbxError class of index.js
  Napi::FunctionReference identity, prekeys, session, store;
};

inline AddonData* Addon(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// A key pair named by {keyFile} | {keyPairJson} | {secretKey, publicKey}:
// read from the arguments on the main thread (no I/O), loaded on any thread.
struct KeySource {
  bool from_file = false;
  std::string path;
  SecretBytes bytes;
  int Load(uint8_t pk[32], uint8_t sk[32]);  // 0 or an RBX_E_* code; wipes bytes
};
KeySource ReadKeySource(Napi::Env env, const Napi::Object& o);

// The fields of rbx_request_sign / rbx_request_verify, read from an object.
struct Request {
  std::string method, target, user;
  uint64_t ts = 0;
  uint8_t nonce[RBX_REQUEST_NONCEBYTES];
  std::vector<uint8_t> body;
  uint32_t device = 0;
};
Request ReadRequest(Napi::Env env, const Napi::Value& v);

Napi::Object SessionInfoToJs(Napi::Env env, const rbx_session_info& si);
void InitSession(Napi::Env env, Napi::Object exports, AddonData* d);
void InitStore(Napi::Env env, Napi::Object exports, AddonData* d);

}  // namespace rbxnode

#endif
