// SPDX-License-Identifier: MIT
// make bench-node's C reference (built only with scripts/build.js --bench):
// the same per-message work as bench/bench.js does through the binding,
// done by direct C calls, compiled from the same rbx_static archive with the
// same flags, in the same process and run. Each function returns the
// elapsed nanoseconds of its timed loop.
#include <napi.h>
#include <sodium.h>
#include <time.h>

#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "ratchetbox.h"
}

namespace {

double NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

void Must(Napi::Env env, int rc, const char* what) {
  if (rc != 0) throw Napi::Error::New(env, std::string(what) + ": " + rbx_strerror(rc));
}

// symmetric(iterations, size): alice encrypts, bob decrypts, one direction,
// after the handshake and one reply (no PreKeyMessages in the loop).
Napi::Value Symmetric(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  size_t size = info[1].As<Napi::Number>().Uint32Value();
  uint8_t apk[32], ask[32], bpk[32], bsk[32], bundle[RBX_BUNDLE_MAXBYTES];
  size_t blen = 0, wlen = 0, ptlen = 0;
  uint32_t used = 0;
  rbx_prekeys* pre = nullptr;
  rbx_bundle b;
  rbx_session *alice = nullptr, *bob = nullptr;
  std::vector<uint8_t> pt(size, 0x61), wire(size + 1024), out(size + 1024);
  Must(env, rbx_keypair_generate(apk, ask), "keypair");
  Must(env, rbx_keypair_generate(bpk, bsk), "keypair");
  Must(env, rbx_prekeys_new(&pre, bpk, bsk), "prekeys");
  Must(env, rbx_prekeys_add_signed(pre, 1, nullptr), "signed prekey");
  Must(env, rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pre, 1, RBX_NO_PREKEY), "bundle");
  Must(env, rbx_bundle_parse(&b, bundle, blen), "bundle parse");
  Must(env, rbx_session_initiate(&alice, apk, ask, &b, nullptr), "initiate");
  Must(env, rbx_session_encrypt(alice, wire.data(), wire.size(), &wlen, pt.data(), pt.size()), "encrypt");
  Must(env, rbx_session_accept(&bob, out.data(), out.size(), &ptlen, &used, pre, nullptr, wire.data(), wlen),
       "accept");
  Must(env, rbx_session_encrypt(bob, wire.data(), wire.size(), &wlen, pt.data(), pt.size()), "reply");
  Must(env, rbx_session_decrypt(alice, out.data(), out.size(), &ptlen, wire.data(), wlen), "reply decrypt");
  double t0 = NowNs();
  for (uint32_t i = 0; i < n; i++) {
    if (rbx_session_encrypt(alice, wire.data(), wire.size(), &wlen, pt.data(), pt.size()) != 0 ||
        rbx_session_decrypt(bob, out.data(), out.size(), &ptlen, wire.data(), wlen) != 0 || ptlen != size)
      throw Napi::Error::New(env, "symmetric: round trip failed");
  }
  double t1 = NowNs();
  sodium_memzero(ask, sizeof ask);
  sodium_memzero(bsk, sizeof bsk);
  rbx_session_free(alice);
  rbx_session_free(bob);
  rbx_prekeys_free(pre);
  return Napi::Number::New(env, t1 - t0);
}

// durable(dir, iterations, size): two stores (bounded mode, the default) in
// dir; after the first message and a reply, each iteration is one
// rbx_store_encrypt at alice and one rbx_store_decrypt at bob, each a
// committed, fsynced transaction.
Napi::Value Durable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  size_t size = info[2].As<Napi::Number>().Uint32Value();
  rbx_store_opts o{};
  o.create = 1;
  rbx_store *a = nullptr, *b = nullptr;
  Must(env, rbx_store_open(&a, (dir + "/c-alice.db").c_str(), &o), "open alice");
  Must(env, rbx_store_open(&b, (dir + "/c-bob.db").c_str(), &o), "open bob");
  uint8_t bundle[RBX_BUNDLE_MAXBYTES];
  size_t blen = 0, wlen = 0, ptlen = 0;
  uint64_t id = 0;
  rbx_received rcv;
  std::vector<uint8_t> pt(size, 0x61), wire(size + 1024), out(size + 1024);
  Must(env, rbx_store_identity_create(a, nullptr, nullptr), "identity");
  Must(env, rbx_store_identity_create(b, nullptr, nullptr), "identity");
  Must(env, rbx_store_bundle(b, bundle, sizeof bundle, &blen, 1), "bundle");
  Must(env, rbx_store_add_contact(a, "bob", 1, bundle, blen), "add bob");
  Must(env, rbx_store_bundle(a, bundle, sizeof bundle, &blen, 1), "bundle");
  Must(env, rbx_store_add_contact(b, "alice", 1, bundle, blen), "add alice");
  Must(env, rbx_store_encrypt(a, wire.data(), wire.size(), &wlen, &id, "bob", 1, pt.data(), size, nullptr), "encrypt");
  Must(env, rbx_store_decrypt(b, out.data(), out.size(), &ptlen, &rcv, "alice", 1, wire.data(), wlen), "decrypt");
  Must(env, rbx_store_encrypt(b, wire.data(), wire.size(), &wlen, &id, "alice", 1, pt.data(), size, nullptr), "reply");
  Must(env, rbx_store_decrypt(a, out.data(), out.size(), &ptlen, &rcv, "bob", 1, wire.data(), wlen), "reply dec");
  double t0 = NowNs();
  for (uint32_t i = 0; i < n; i++) {
    if (rbx_store_encrypt(a, wire.data(), wire.size(), &wlen, &id, "bob", 1, pt.data(), size, nullptr) != 0 ||
        rbx_store_decrypt(b, out.data(), out.size(), &ptlen, &rcv, "alice", 1, wire.data(), wlen) != 0)
      throw Napi::Error::New(env, "durable: round trip failed");
  }
  double t1 = NowNs();
  rbx_store_close(a);
  rbx_store_close(b);
  return Napi::Number::New(env, t1 - t0);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (rbx_init() != 0) throw Napi::Error::New(env, "rbx_init failed");
  exports.Set("symmetric", Napi::Function::New(env, Symmetric, "symmetric"));
  exports.Set("durable", Napi::Function::New(env, Durable, "durable"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ratchetbox_bench, Init)
