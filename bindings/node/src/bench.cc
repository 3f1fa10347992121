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

void Must(Napi::Env env, int rc, const char* what) {  // symmetric's setup
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

// durable(dir, iterations, size) -> Promise<ns>: two stores (bounded mode,
// the default) in dir; after the first message and a reply, each iteration
// is one rbx_store_encrypt at alice and one rbx_store_decrypt at bob, each a
// committed, fsynced transaction. The loop runs on a thread of libuv's pool,
// as the binding's calls do: on a loaded machine the scheduler treats the
// event loop's thread (busy with JS) and an idle pool thread differently
// when they wake from fsync, and the comparison must not measure that.
class DurableWork : public Napi::AsyncWorker {
 public:
  DurableWork(Napi::Env env, std::string dir, uint32_t n, size_t size)
      : Napi::AsyncWorker(env), d_(Napi::Promise::Deferred::New(env)), dir_(std::move(dir)), n_(n),
        size_(size) {}
  Napi::Promise Promise() { return d_.Promise(); }
  void Execute() override {
    rbx_store_opts o{};
    o.create = 1;
    rbx_store *a = nullptr, *b = nullptr;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen = 0, wlen = 0, ptlen = 0;
    uint64_t id = 0;
    rbx_received rcv;
    std::vector<uint8_t> pt(size_, 0x61), wire(size_ + 1024), out(size_ + 1024);
    int rc = rbx_store_open(&a, (dir_ + "/c-alice.db").c_str(), &o);
    if (rc == 0) rc = rbx_store_open(&b, (dir_ + "/c-bob.db").c_str(), &o);
    if (rc == 0) rc = rbx_store_identity_create(a, nullptr, nullptr);
    if (rc == 0) rc = rbx_store_identity_create(b, nullptr, nullptr);
    if (rc == 0) rc = rbx_store_bundle(b, bundle, sizeof bundle, &blen, 1);
    if (rc == 0) rc = rbx_store_add_contact(a, "bob", 1, bundle, blen);
    if (rc == 0) rc = rbx_store_bundle(a, bundle, sizeof bundle, &blen, 1);
    if (rc == 0) rc = rbx_store_add_contact(b, "alice", 1, bundle, blen);
    if (rc == 0) rc = rbx_store_encrypt(a, wire.data(), wire.size(), &wlen, &id, "bob", 1, pt.data(), size_, nullptr);
    if (rc == 0) rc = rbx_store_decrypt(b, out.data(), out.size(), &ptlen, &rcv, "alice", 1, wire.data(), wlen);
    if (rc == 0) rc = rbx_store_encrypt(b, wire.data(), wire.size(), &wlen, &id, "alice", 1, pt.data(), size_, nullptr);
    if (rc == 0) rc = rbx_store_decrypt(a, out.data(), out.size(), &ptlen, &rcv, "bob", 1, wire.data(), wlen);
    double t0 = NowNs();
    for (uint32_t i = 0; rc == 0 && i < n_; i++) {
      rc = rbx_store_encrypt(a, wire.data(), wire.size(), &wlen, &id, "bob", 1, pt.data(), size_, nullptr);
      if (rc == 0) rc = rbx_store_decrypt(b, out.data(), out.size(), &ptlen, &rcv, "alice", 1, wire.data(), wlen);
    }
    ns_ = NowNs() - t0;
    rbx_store_close(a);
    rbx_store_close(b);
    if (rc != 0) SetError(std::string("durable: ") + rbx_strerror(rc));
  }
  void OnOK() override { d_.Resolve(Napi::Number::New(Env(), ns_)); }
  void OnError(const Napi::Error& e) override { d_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred d_;
  std::string dir_;
  uint32_t n_;
  size_t size_;
  double ns_ = 0;
};

Napi::Value Durable(const Napi::CallbackInfo& info) {
  auto* w = new DurableWork(info.Env(), info[0].As<Napi::String>().Utf8Value(),
                            info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Uint32Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (rbx_init() != 0) throw Napi::Error::New(env, "rbx_init failed");
  exports.Set("symmetric", Napi::Function::New(env, Symmetric, "symmetric"));
  exports.Set("durable", Napi::Function::New(env, Durable, "durable"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ratchetbox_bench, Init)
