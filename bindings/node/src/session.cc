// SPDX-License-Identifier: MIT
// The sans-I/O part of the library, synchronous: pure functions (bundles,
// fingerprints, device ids, request verification) and the in-memory
// Identity, Prekeys and Session objects. These calls do no I/O and take
// microseconds (a symmetric ratchet step is about 5 us), less than a hop to
// the thread pool would cost, so they run on the calling thread, as
// node:crypto's hashes do. Secret keys stay in native memory, wiped when
// the object is destroyed (destroy() or garbage collection).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "addon.h"
#include "common.h"

namespace rbxnode {

// ---------------------------------------------------------------- key sources

KeySource ReadKeySource(Napi::Env env, const Napi::Object& o) {
  int sources = IsSet(o, "keyFile") + IsSet(o, "keyPairJson") + IsSet(o, "secretKey");
  if (sources != 1) throw InvalidArg(env, "give exactly one of keyFile, keyPairJson, secretKey");
  KeySource k;
  if (IsSet(o, "secretKey")) {
    ByteView s = BytesN(o.Get("secretKey"), 32, "secretKey");
    ByteView p = BytesN(o.Get("publicKey"), 32, "publicKey");
    k.bytes = SecretBytes(64);
    std::memcpy(k.bytes.data(), p.p, 32);
    std::memcpy(k.bytes.data() + 32, s.p, 32);
    k.bytes.set_size(64);
  } else if (IsSet(o, "keyFile")) {
    k.path = Str(o.Get("keyFile"), "keyFile");
    k.from_file = true;
  } else {
    ByteView j = Bytes(o.Get("keyPairJson"), "keyPairJson");
    k.bytes = SecretBytes(j.p, j.n);
  }
  return k;
}

// Any thread. A key file is read with read(2) into wiped memory (4 KiB at
// most: the product's JSON is about 100 bytes).
int KeySource::Load(uint8_t pk[32], uint8_t sk[32]) {
  if (from_file) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? RBX_E_NOT_FOUND : RBX_E_IO;
    SecretBytes buf(4097);
    size_t n = 0;
    int rc = 0;
    for (;;) {
      ssize_t r = read(fd, buf.data() + n, buf.capacity() - n);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        rc = RBX_E_IO;
        break;
      }
      if (r == 0) break;
      n += static_cast<size_t>(r);
      if (n == buf.capacity()) {
        rc = RBX_E_MALFORMED;  // longer than any key file
        break;
      }
    }
    close(fd);
    if (rc != 0) return rc;
    buf.set_size(n);
    bytes = std::move(buf);
  }
  // As rbx init --import: 64 raw bytes (public key, secret key), else JSON.
  int rc = bytes.size() == 64
               ? rbx_keypair_from_raw(pk, sk, bytes.data(), 64)
               : rbx_keypair_from_json(pk, sk, reinterpret_cast<const char*>(bytes.data()),
                                       bytes.size());
  bytes.Release();
  return rc;
}

// ---------------------------------------------------------------- pure functions

static Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rbx_version());
}

static Napi::Value Fingerprint(const Napi::CallbackInfo& info) {
  ByteView pk = BytesN(info[0], 32, "publicKey");
  char fp[RBX_FINGERPRINT_HEXBYTES];
  rbx_fingerprint(fp, pk.p);
  return Napi::String::New(info.Env(), fp);
}

static Napi::Value DeviceId(const Napi::CallbackInfo& info) {
  ByteView pk = BytesN(info[0], 32, "identity");
  return Napi::Number::New(info.Env(), rbx_device_id(pk.p));
}

static Napi::Value UserIdOk(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return Napi::Boolean::New(info.Env(), false);
  std::string u = info[0].As<Napi::String>().Utf8Value();
  return Napi::Boolean::New(info.Env(),
                            u.find('\0') == std::string::npos && rbx_user_id_ok(u.c_str()) == 1);
}

static Napi::Value ParseBundle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ByteView b = Bytes(info[0], "bundle");
  rbx_bundle pb;
  Check(env, rbx_bundle_parse(&pb, b.p, b.n));
  Napi::Object o = Napi::Object::New(env);
  o.Set("identity", NewBytes(env, pb.identity, 32));
  o.Set("signedPrekeyId", Napi::Number::New(env, pb.signed_prekey_id));
  o.Set("signedPrekeyCreated", Napi::Number::New(env, static_cast<double>(pb.signed_prekey_created)));
  o.Set("onetimePrekeyId", pb.has_onetime ? Napi::Number::New(env, pb.onetime_prekey_id)
                                          : env.Null());
  o.Set("rotationRecords", Napi::Number::New(env, static_cast<double>(pb.chain_len)));
  return o;
}

static Napi::Value BundleWithOnetime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ByteView base = Bytes(info[0], "bundle");
  uint32_t id = U32(info[1], "id");
  ByteView key = BytesN(info[2], 32, "key");
  uint8_t out[RBX_BUNDLE_MAXBYTES];
  size_t n = 0;
  Check(env, rbx_bundle_with_onetime(out, sizeof out, &n, base.p, base.n, id, key.p));
  return NewBytes(env, out, n);
}

// messageKind(wire): 'prekey' (a first message, with its claimed sender
// identity) or 'message'.
static Napi::Value MessageInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ByteView w = Bytes(info[0], "wire");
  rbx_prekey_info pi;
  int rc = rbx_message_prekey_info(&pi, w.p, w.n);
  if (rc < 0) throw RbxError(env, rc);
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", Napi::String::New(env, rc == 1 ? "prekey" : "message"));
  if (rc == 1) {
    o.Set("initiatorIdentity", NewBytes(env, pi.initiator_identity, 32));
    o.Set("signedPrekeyId", Napi::Number::New(env, pi.signed_prekey_id));
    o.Set("onetimePrekeyId", pi.has_onetime ? Napi::Number::New(env, pi.onetime_prekey_id)
                                            : env.Null());
  }
  return o;
}

Request ReadRequest(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) throw InvalidArg(env, "request: expected an object");
  Napi::Object o = v.As<Napi::Object>();
  Request r;
  r.method = Str(o.Get("method"), "method");
  r.target = Str(o.Get("target"), "target");
  r.user = Str(o.Get("user"), "user");
  r.ts = U64(o.Get("ts"), "ts");
  ByteView n = BytesN(o.Get("nonce"), RBX_REQUEST_NONCEBYTES, "nonce");
  std::memcpy(r.nonce, n.p, sizeof r.nonce);
  if (IsSet(o, "body")) r.body = CopyBytes(o.Get("body"), "body");
  r.device = U32(o.Get("device"), "device");
  return r;
}

static Napi::Value VerifyRequest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request r = ReadRequest(env, info[0]);
  ByteView sig = BytesN(info[1], RBX_SIGNATUREBYTES, "signature");
  ByteView pk = BytesN(info[2], 32, "publicKey");
  static const uint8_t empty[1] = {0};
  int rc = rbx_request_verify(sig.p, r.method.c_str(), r.target.c_str(), r.ts, r.nonce,
                              r.body.empty() ? empty : r.body.data(), r.body.size(),
                              r.user.c_str(), r.device, pk.p);
  if (rc == RBX_E_SIGNATURE) return Napi::Boolean::New(env, false);
  Check(env, rc);
  return Napi::Boolean::New(env, true);
}

// ---------------------------------------------------------------- Identity

class IdentityWrap : public Napi::ObjectWrap<IdentityWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Identity",
                       {StaticMethod<&IdentityWrap::Generate>("generate"),
                        StaticMethod<&IdentityWrap::Import>("import"),
                        InstanceAccessor<&IdentityWrap::PublicKey>("publicKey"),
                        InstanceAccessor<&IdentityWrap::Fp>("fingerprint"),
                        InstanceMethod<&IdentityWrap::Destroy>("destroy")});
  }
  explicit IdentityWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IdentityWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal() ||
        info[0].As<Napi::External<void>>().Data() != Token())
      throw InvalidArg(info.Env(), "use Identity.generate() or Identity.import()");
  }
  static void* Token() {
    static int t;
    return &t;
  }
  static IdentityWrap* Unwrap(const Napi::Value& v) {
    AddonData* d = Addon(v.Env());
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(d->identity.Value()))
      throw InvalidArg(v.Env(), "expected an Identity");
    IdentityWrap* w = Napi::ObjectWrap<IdentityWrap>::Unwrap(v.As<Napi::Object>());
    if (!w->live_) throw RbxError(v.Env(), RBX_E_STATE);
    return w;
  }

  uint8_t pk_[32];
  SecretKey sk_;
  bool live_ = false;

 private:
  static Napi::Object Make(Napi::Env env) {
    AddonData* d = Addon(env);
    return d->identity.New({Napi::External<void>::New(env, Token())});
  }
  static Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Object o = Make(info.Env());
    IdentityWrap* w = Napi::ObjectWrap<IdentityWrap>::Unwrap(o);
    Check(info.Env(), rbx_keypair_generate(w->pk_, w->sk_.b));
    w->live_ = true;
    return o;
  }
  static Napi::Value Import(const Napi::CallbackInfo& info) {
    if (!info[0].IsObject()) throw InvalidArg(info.Env(), "Identity.import: expected options");
    KeySource k = ReadKeySource(info.Env(), info[0].As<Napi::Object>());
    Napi::Object o = Make(info.Env());
    IdentityWrap* w = Napi::ObjectWrap<IdentityWrap>::Unwrap(o);
    Check(info.Env(), k.Load(w->pk_, w->sk_.b));
    w->live_ = true;
    return o;
  }
  Napi::Value PublicKey(const Napi::CallbackInfo& info) {
    if (!live_) throw RbxError(info.Env(), RBX_E_STATE);
    return NewBytes(info.Env(), pk_, 32);
  }
  Napi::Value Fp(const Napi::CallbackInfo& info) {
    if (!live_) throw RbxError(info.Env(), RBX_E_STATE);
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, pk_);
    return Napi::String::New(info.Env(), fp);
  }
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    sodium_memzero(sk_.b, sizeof sk_.b);
    live_ = false;
    return info.Env().Undefined();
  }
};

// ---------------------------------------------------------------- Prekeys

class PrekeysWrap : public Napi::ObjectWrap<PrekeysWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Prekeys",
                       {InstanceMethod<&PrekeysWrap::AddSigned>("addSigned"),
                        InstanceMethod<&PrekeysWrap::AddOnetime>("addOnetime"),
                        InstanceMethod<&PrekeysWrap::Bundle>("bundle"),
                        InstanceAccessor<&PrekeysWrap::OnetimeCount>("onetimeCount"),
                        InstanceMethod<&PrekeysWrap::Destroy>("destroy")});
  }
  explicit PrekeysWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PrekeysWrap>(info) {
    IdentityWrap* id = IdentityWrap::Unwrap(info[0]);
    Check(info.Env(), rbx_prekeys_new(&pk_, id->pk_, id->sk_.b));
  }
  ~PrekeysWrap() override { rbx_prekeys_free(pk_); }
  static PrekeysWrap* Unwrap(const Napi::Value& v) {
    AddonData* d = Addon(v.Env());
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(d->prekeys.Value()))
      throw InvalidArg(v.Env(), "expected Prekeys");
    PrekeysWrap* w = Napi::ObjectWrap<PrekeysWrap>::Unwrap(v.As<Napi::Object>());
    if (w->pk_ == nullptr) throw RbxError(v.Env(), RBX_E_STATE);
    return w;
  }
  rbx_prekeys* pk_ = nullptr;

 private:
  Napi::Value AddSigned(const Napi::CallbackInfo& info) {
    Live(info.Env());
    Check(info.Env(), rbx_prekeys_add_signed(pk_, U32(info[0], "id"), nullptr));
    return info.Env().Undefined();
  }
  Napi::Value AddOnetime(const Napi::CallbackInfo& info) {
    Live(info.Env());
    Check(info.Env(), rbx_prekeys_add_onetime(pk_, U32(info[0], "id"), nullptr));
    return info.Env().Undefined();
  }
  Napi::Value Bundle(const Napi::CallbackInfo& info) {
    Live(info.Env());
    uint32_t spk = U32(info[0], "signedPrekeyId");
    uint32_t otk = info[1].IsUndefined() || info[1].IsNull() ? RBX_NO_PREKEY
                                                             : U32(info[1], "onetimePrekeyId");
    uint8_t out[RBX_BUNDLE_MAXBYTES];
    size_t n = 0;
    Check(info.Env(), rbx_prekeys_bundle(out, sizeof out, &n, pk_, spk, otk));
    return NewBytes(info.Env(), out, n);
  }
  Napi::Value OnetimeCount(const Napi::CallbackInfo& info) {
    Live(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(rbx_prekeys_onetime_count(pk_)));
  }
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    rbx_prekeys_free(pk_);
    pk_ = nullptr;
    return info.Env().Undefined();
  }
  void Live(Napi::Env env) {
    if (pk_ == nullptr) throw RbxError(env, RBX_E_STATE);
  }
};

// ---------------------------------------------------------------- Session

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Session",
                       {StaticMethod<&SessionWrap::Initiate>("initiate"),
                        StaticMethod<&SessionWrap::Accept>("accept"),
                        InstanceMethod<&SessionWrap::Encrypt>("encrypt"),
                        InstanceMethod<&SessionWrap::Decrypt>("decrypt"),
                        InstanceMethod<&SessionWrap::EncryptInto>("encryptInto"),
                        InstanceMethod<&SessionWrap::DecryptInto>("decryptInto"),
                        InstanceMethod<&SessionWrap::WireSize>("wireSize"),
                        InstanceMethod<&SessionWrap::Info>("info"),
                        InstanceMethod<&SessionWrap::Destroy>("destroy")});
  }
  explicit SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal() ||
        info[0].As<Napi::External<void>>().Data() != Token())
      throw InvalidArg(info.Env(), "use Session.initiate() or Session.accept()");
  }
  ~SessionWrap() override { rbx_session_free(s_); }

 private:
  static void* Token() {
    static int t;
    return &t;
  }
  static Napi::Object Wrap(Napi::Env env, rbx_session* s) {
    Napi::Object o;
    try {
      o = Addon(env)->session.New({Napi::External<void>::New(env, Token())});
    } catch (...) {
      rbx_session_free(s);
      throw;
    }
    Napi::ObjectWrap<SessionWrap>::Unwrap(o)->s_ = s;
    return o;
  }
  static rbx_session_opts Opts(Napi::Env env, const Napi::Value& v) {
    rbx_session_opts o{};
    o.profile = RBX_PROFILE_DEFAULT;
    if (v.IsUndefined() || v.IsNull()) return o;
    if (!v.IsObject()) throw InvalidArg(env, "options: expected an object");
    Napi::Object obj = v.As<Napi::Object>();
    if (IsSet(obj, "headerEncryption")) o.header_encryption = obj.Get("headerEncryption").ToBoolean();
    return o;
  }
  static Napi::Value Initiate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    IdentityWrap* id = IdentityWrap::Unwrap(info[0]);
    ByteView b = Bytes(info[1], "bundle");
    rbx_session_opts o = Opts(env, info[2]);
    rbx_bundle pb;
    Check(env, rbx_bundle_parse(&pb, b.p, b.n));
    rbx_session* s = nullptr;
    Check(env, rbx_session_initiate(&s, id->pk_, id->sk_.b, &pb, &o));
    return Wrap(env, s);
  }
  static Napi::Value Accept(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PrekeysWrap* pk = PrekeysWrap::Unwrap(info[0]);
    ByteView w = Bytes(info[1], "wire");
    const uint8_t* pinned = nullptr;
    if (!info[2].IsUndefined() && !info[2].IsNull()) pinned = BytesN(info[2], 32, "pinned").p;
    SecretBytes pt(w.n ? w.n : 1);
    size_t ptlen = 0;
    uint32_t used = 0;
    rbx_session* s = nullptr;
    Check(env, rbx_session_accept(&s, pt.data(), pt.capacity(), &ptlen, &used, pk->pk_, pinned,
                                  w.p, w.n));
    pt.set_size(ptlen);
    Napi::Object r = Napi::Object::New(env);
    r.Set("session", Wrap(env, s));
    r.Set("plaintext", SecretToJs(env, std::move(pt)));
    r.Set("consumedOnetime", used == RBX_NO_PREKEY ? env.Null() : Napi::Number::New(env, used));
    return r;
  }
  void Live(Napi::Env env) {
    if (s_ == nullptr) throw RbxError(env, RBX_E_STATE);
  }
  Napi::Value Encrypt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ByteView pt = Bytes(info[0], "plaintext");
    if (pt.n > RBX_MAX_PLAINTEXT) throw RbxError(env, RBX_E_TOO_BIG);
    size_t cap = rbx_session_wire_size(s_, pt.n), n = 0;
    // The ciphertext is written straight into the ArrayBuffer handed back.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, cap);
    static const uint8_t empty[1] = {0};
    Check(env, rbx_session_encrypt(s_, static_cast<uint8_t*>(ab.Data()), cap, &n,
                                   pt.n ? pt.p : empty, pt.n));
    return Napi::Uint8Array::New(env, n, ab, 0);
  }
  Napi::Value Decrypt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ByteView w = Bytes(info[0], "wire");
    SecretBytes pt(w.n);
    size_t n = 0;
    Check(env, rbx_session_decrypt(s_, pt.data(), pt.capacity(), &n, w.p, w.n));
    pt.set_size(n);
    return SecretToJs(env, std::move(pt));
  }
  // The allocation-free forms: into an array the caller owns (and wipes),
  // for a stream that reuses one buffer. Return the bytes written.
  static uint8_t* Writable(const Napi::Value& v, size_t* cap) {
    ByteView b = Bytes(v, "out");
    *cap = b.n;
    return const_cast<uint8_t*>(b.p);
  }
  Napi::Value EncryptInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ByteView pt = Bytes(info[0], "plaintext");
    size_t cap = 0, n = 0;
    uint8_t* out = Writable(info[1], &cap);
    if (pt.n > RBX_MAX_PLAINTEXT) throw RbxError(env, RBX_E_TOO_BIG);
    if (out < pt.p + pt.n && pt.p < out + cap) throw InvalidArg(env, "out overlaps plaintext");
    static const uint8_t empty[1] = {0};
    Check(env, rbx_session_encrypt(s_, out, cap, &n, pt.n ? pt.p : empty, pt.n));
    return Napi::Number::New(env, static_cast<double>(n));
  }
  Napi::Value DecryptInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ByteView w = Bytes(info[0], "wire");
    size_t cap = 0, n = 0;
    uint8_t* out = Writable(info[1], &cap);
    if (out < w.p + w.n && w.p < out + cap) throw InvalidArg(env, "out overlaps wire");
    Check(env, rbx_session_decrypt(s_, out, cap, &n, w.p, w.n));
    return Napi::Number::New(env, static_cast<double>(n));
  }
  Napi::Value WireSize(const Napi::CallbackInfo& info) {
    Live(info.Env());
    return Napi::Number::New(info.Env(),
                             static_cast<double>(rbx_session_wire_size(s_, U32(info[0], "length"))));
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Live(info.Env());
    rbx_session_info si;
    rbx_session_get_info(&si, s_);
    return SessionInfoToJs(info.Env(), si);
  }
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    rbx_session_free(s_);
    s_ = nullptr;
    return info.Env().Undefined();
  }
  rbx_session* s_ = nullptr;
};

Napi::Object SessionInfoToJs(Napi::Env env, const rbx_session_info& si) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ownIdentity", NewBytes(env, si.own_identity, 32));
  o.Set("peerIdentity", NewBytes(env, si.peer_identity, 32));
  o.Set("initiator", Napi::Boolean::New(env, si.initiator != 0));
  o.Set("headerEncryption", Napi::Boolean::New(env, si.header_encryption != 0));
  o.Set("profile", Napi::Number::New(env, si.profile));
  o.Set("awaitingReply", Napi::Boolean::New(env, si.awaiting_reply != 0));
  o.Set("sendCount", Napi::Number::New(env, si.send_count));
  o.Set("recvCount", Napi::Number::New(env, si.recv_count));
  o.Set("prevSendCount", Napi::Number::New(env, si.prev_send_count));
  o.Set("dhSteps", Napi::Number::New(env, si.dh_steps));
  o.Set("skippedKeys", Napi::Number::New(env, static_cast<double>(si.skipped_keys)));
  o.Set("skippedChains", Napi::Number::New(env, static_cast<double>(si.skipped_chains)));
  return o;
}

void InitSession(Napi::Env env, Napi::Object exports, AddonData* d) {
  Napi::Function identity = IdentityWrap::Init(env);
  Napi::Function prekeys = PrekeysWrap::Init(env);
  Napi::Function session = SessionWrap::Init(env);
  d->identity = Napi::Persistent(identity);
  d->prekeys = Napi::Persistent(prekeys);
  d->session = Napi::Persistent(session);
  exports.Set("Identity", identity);
  exports.Set("Prekeys", prekeys);
  exports.Set("Session", session);
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("fingerprint", Napi::Function::New(env, Fingerprint, "fingerprint"));
  exports.Set("deviceId", Napi::Function::New(env, DeviceId, "deviceId"));
  exports.Set("userIdOk", Napi::Function::New(env, UserIdOk, "userIdOk"));
  exports.Set("parseBundle", Napi::Function::New(env, ParseBundle, "parseBundle"));
  exports.Set("bundleWithOnetime", Napi::Function::New(env, BundleWithOnetime, "bundleWithOnetime"));
  exports.Set("messageInfo", Napi::Function::New(env, MessageInfo, "messageInfo"));
  exports.Set("verifyRequest", Napi::Function::New(env, VerifyRequest, "verifyRequest"));
}

}  // namespace rbxnode
