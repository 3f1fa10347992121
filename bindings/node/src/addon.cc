// SPDX-License-Identifier: MIT
// The ratchetbox addon's entry point: rbx_init, then the error table, the
// sans-I/O objects (session.cc) and the Store (store.cc).
#include "addon.h"

namespace rbxnode {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (rbx_init() != 0) throw Napi::Error::New(env, "ratchetbox: rbx_init failed");
  AddonData* d = new AddonData();
  env.SetInstanceData<AddonData>(d);
  InitErrors(env, exports);
  InitSession(env, exports, d);
  InitStore(env, exports, d);
  return exports;
}

}  // namespace rbxnode

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return rbxnode::Init(env, exports); }

NODE_API_MODULE(ratchetbox, InitAddon)
