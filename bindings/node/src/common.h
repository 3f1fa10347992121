// SPDX-License-Identifier: MIT
// Shared pieces of the addon: wiped buffers, argument readers, errors.
#ifndef RBXNODE_COMMON_H
#define RBXNODE_COMMON_H

#include <napi.h>
#include <sodium.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "ratchetbox.h"
}

namespace rbxnode {

// Live counts of what the binding allocates per call, for the leak test
// (stats() of the addon): secret buffers, and Store calls not yet settled.
extern std::atomic<long> g_live_secrets;
extern std::atomic<long> g_live_jobs;

// A malloc'ed byte buffer wiped (sodium_memzero) before it is released:
// plaintexts, key files, storage keys. Move-only, so that no copy is left
// behind unwiped.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t cap) { Alloc(cap); }
  SecretBytes(const uint8_t* p, size_t n) {
    Alloc(n);
    if (n) std::memcpy(p_, p, n);
    len_ = n;
  }
  ~SecretBytes() { Release(); }
  SecretBytes(SecretBytes&& o) noexcept : p_(o.p_), cap_(o.cap_), len_(o.len_) {
    o.p_ = nullptr;
    o.cap_ = o.len_ = 0;
  }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      Release();
      p_ = o.p_;
      cap_ = o.cap_;
      len_ = o.len_;
      o.p_ = nullptr;
      o.cap_ = o.len_ = 0;
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  size_t size() const { return len_; }
  size_t capacity() const { return cap_; }
  void set_size(size_t n) { len_ = n <= cap_ ? n : cap_; }
  // Hand the buffer over (to an external ArrayBuffer whose finalizer wipes it).
  // Its finalizer calls ReleaseTaken.
  uint8_t* Take(size_t* cap) {
    uint8_t* p = p_;
    *cap = cap_;
    p_ = nullptr;
    cap_ = len_ = 0;
    return p;
  }
  static void ReleaseTaken(uint8_t* p, size_t cap) {
    sodium_memzero(p, cap);
    std::free(p);
    g_live_secrets--;
  }
  void Release() {
    if (p_ != nullptr) ReleaseTaken(p_, cap_);
    p_ = nullptr;
    cap_ = len_ = 0;
  }

 private:
  void Alloc(size_t cap) {
    p_ = static_cast<uint8_t*>(std::malloc(cap ? cap : 1));
    if (p_ == nullptr) throw std::bad_alloc();
    g_live_secrets++;
    cap_ = cap ? cap : 1;
    len_ = 0;
  }
  uint8_t* p_ = nullptr;
  size_t cap_ = 0, len_ = 0;
};

// 32 secret bytes on the stack of an object, wiped by its destructor.
struct SecretKey {
  uint8_t b[32];
  SecretKey() { sodium_memzero(b, sizeof b); }
  ~SecretKey() { sodium_memzero(b, sizeof b); }
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
};

// ---------------------------------------------------------------- errors

// The RbxError for a library code: message rbx_strerror(rc), code its
// RBX_E_* name, errno the number (errors.cc).
Napi::Error RbxError(Napi::Env env, int rc);
// Programmer misuse found by the binding (wrong type, range): a TypeError
// with code RBX_E_INVALID.
Napi::Error InvalidArg(Napi::Env env, const std::string& what);
const char* CodeName(int rc);
void InitErrors(Napi::Env env, Napi::Object exports);

inline void Check(Napi::Env env, int rc) {
  if (rc != 0) throw RbxError(env, rc);
}

// ---------------------------------------------------------------- arguments

// A view of a Uint8Array (or Buffer) argument; valid while the value is.
struct ByteView {
  const uint8_t* p;
  size_t n;
};

ByteView Bytes(const Napi::Value& v, const char* what);
ByteView BytesN(const Napi::Value& v, size_t n, const char* what);
std::vector<uint8_t> CopyBytes(const Napi::Value& v, const char* what);
// A string without NUL bytes (names, paths, methods, targets).
std::string Str(const Napi::Value& v, const char* what);
uint32_t U32(const Napi::Value& v, const char* what);
uint64_t U64(const Napi::Value& v, const char* what);  // a safe integer >= 0
bool IsSet(const Napi::Object& o, const char* key);

// A copy in a new Uint8Array (public data: ciphertexts, keys, bundles).
Napi::Uint8Array NewBytes(Napi::Env env, const uint8_t* p, size_t n);
// Secret bytes handed to JS: an external ArrayBuffer over the binding's own
// buffer, wiped and freed by its finalizer when the GC collects it.
Napi::Uint8Array SecretToJs(Napi::Env env, SecretBytes&& s);
std::string Hex(const uint8_t* p, size_t n);

}  // namespace rbxnode

#endif
