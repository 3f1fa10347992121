// SPDX-License-Identifier: MIT
// Library codes as JS errors, and the argument readers. The code table is
// generated from ratchetbox.h at build time (scripts/gen-errors.js), so a new
// RBX_E_* gets its `code` without a hand edit.
#include <cstring>

#include "addon.h"
#include "rbx_errors.h"

static_assert(RBX_ERROR_LIST_COUNT == RBX_E_COUNT_ - 1,
              "scripts/gen-errors.js found another number of codes than RBX_E_COUNT_ - 1");

namespace rbxnode {

std::atomic<long> g_live_secrets{0};
std::atomic<long> g_live_jobs{0};

namespace {

struct CodeEntry {
  int value;
  const char* name;
};

#define RBX_ENTRY(n) {n, #n},
const CodeEntry kCodes[] = {RBX_ERROR_LIST(RBX_ENTRY)};
#undef RBX_ENTRY

}  // namespace

const char* CodeName(int rc) {
  for (const CodeEntry& c : kCodes)
    if (c.value == rc) return c.name;
  return "RBX_E_UNKNOWN";
}

Napi::Error RbxError(Napi::Env env, int rc) {
  AddonData* d = Addon(env);
  Napi::String msg = Napi::String::New(env, rbx_strerror(rc));
  Napi::String code = Napi::String::New(env, CodeName(rc));
  Napi::Number num = Napi::Number::New(env, rc);
  if (d != nullptr && !d->rbx_error.IsEmpty()) {
    Napi::Object e = d->rbx_error.New({msg, code, num});
    return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, rbx_strerror(rc));
  e.Set("code", code);
  e.Set("errno", num);
  return e;
}

Napi::Error InvalidArg(Napi::Env env, const std::string& what) {
  Napi::Error e = Napi::TypeError::New(env, what);
  e.Set("code", Napi::String::New(env, "RBX_E_INVALID"));
  e.Set("errno", Napi::Number::New(env, RBX_E_INVALID));
  return e;
}

// setErrorClass(RbxError): index.js hands its class over once.
static Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw InvalidArg(env, "setErrorClass: a class");
  Addon(env)->rbx_error = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

// errorFor(code): the error the binding raises for a library code (tests
// check every code of the header through it).
static Napi::Value ErrorFor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw InvalidArg(env, "errorFor: a number");
  return RbxError(env, info[0].As<Napi::Number>().Int32Value()).Value();
}

// stats(): what is alive now (the leak test compares it before and after).
static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("secretBuffers", Napi::Number::New(info.Env(), static_cast<double>(g_live_secrets.load())));
  o.Set("pendingCalls", Napi::Number::New(info.Env(), static_cast<double>(g_live_jobs.load())));
  return o;
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  Napi::Object codes = Napi::Object::New(env);
  for (const CodeEntry& c : kCodes) codes.Set(c.name, Napi::Number::New(env, c.value));
  exports.Set("codes", codes);
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("errorFor", Napi::Function::New(env, ErrorFor, "errorFor"));
}

// ---------------------------------------------------------------- arguments

ByteView Bytes(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw InvalidArg(v.Env(), std::string(what) + ": expected a Uint8Array");
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  return ByteView{a.Data(), a.ByteLength()};
}

ByteView BytesN(const Napi::Value& v, size_t n, const char* what) {
  ByteView b = Bytes(v, what);
  if (b.n != n)
    throw InvalidArg(v.Env(), std::string(what) + ": expected " + std::to_string(n) + " bytes");
  return b;
}

std::vector<uint8_t> CopyBytes(const Napi::Value& v, const char* what) {
  ByteView b = Bytes(v, what);
  return std::vector<uint8_t>(b.p, b.p + b.n);
}

std::string Str(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw InvalidArg(v.Env(), std::string(what) + ": expected a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos)
    throw InvalidArg(v.Env(), std::string(what) + ": contains a NUL character");
  return s;
}

uint32_t U32(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw InvalidArg(v.Env(), std::string(what) + ": expected a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw InvalidArg(v.Env(), std::string(what) + ": expected an integer 0..2^32-1");
  return static_cast<uint32_t>(d);
}

uint64_t U64(const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw InvalidArg(v.Env(), std::string(what) + ": out of range");
    return x;
  }
  if (!v.IsNumber()) throw InvalidArg(v.Env(), std::string(what) + ": expected a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw InvalidArg(v.Env(), std::string(what) + ": expected a safe integer >= 0");
  return static_cast<uint64_t>(d);
}

bool IsSet(const Napi::Object& o, const char* key) {
  if (!o.Has(key)) return false;
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

Napi::Uint8Array NewBytes(Napi::Env env, const uint8_t* p, size_t n) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
  if (n) std::memcpy(ab.Data(), p, n);
  return Napi::Uint8Array::New(env, n, ab, 0);
}

Napi::Uint8Array SecretToJs(Napi::Env env, SecretBytes&& s) {
  size_t n = s.size();
  if (n == 0) return Napi::Uint8Array::New(env, 0);
  size_t cap = 0;
  uint8_t* p = s.Take(&cap);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, p, n,
      [](Napi::Env, void* data, size_t* capp) {
        SecretBytes::ReleaseTaken(static_cast<uint8_t*>(data), *capp);
        delete capp;
      },
      new size_t(cap));
  return Napi::Uint8Array::New(env, n, ab, 0);
}

std::string Hex(const uint8_t* p, size_t n) {
  std::string s(2 * n + 1, '\0');
  sodium_bin2hex(&s[0], s.size(), p, n);
  s.resize(2 * n);
  return s;
}

}  // namespace rbxnode
