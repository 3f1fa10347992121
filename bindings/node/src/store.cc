// SPDX-License-Identifier: MIT
// Store: rbx_store behind Promises. Every call that touches the database
// (SQLite, fsync) runs on the libuv thread pool, through Node-API async work;
// the event loop only copies arguments in and results out.
//
// A handle is for one thread at a time (ratchetbox.h), so each Store has a
// queue: calls run one after another, in the order they were made, while
// different Stores run in parallel on different pool threads. One async work
// drains up to kBatch queued calls back to back (the next call starts as soon
// as the previous one returns, without a trip through the event loop), and
// hands each result to the event loop through a thread-safe function as soon
// as it is ready. The bound keeps a busy Store from holding a pool thread
// that other work (fs, other Stores) needs.
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "addon.h"

namespace rbxnode {

namespace {

constexpr int kBatch = 64;

// Room for a ciphertext of a plaintext of n bytes: the session's wire
// overhead is a few hundred bytes at most (RBX_MAX_WIRE - RBX_MAX_PLAINTEXT).
size_t WireCap(size_t n) { return n + (RBX_MAX_WIRE - RBX_MAX_PLAINTEXT); }

struct Job {
  Job() { g_live_jobs++; }
  ~Job() { g_live_jobs--; }
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  napi_deferred deferred = nullptr;
  int rc = 0;
  bool close = false;
  std::function<int(rbx_store*)> run;           // pool thread
  std::function<Napi::Value(Napi::Env)> done;   // event loop, when rc == 0
};

// What the pool thread and the thread-safe function's finalizer share with
// the Store object.
struct Shared {
  std::mutex mu;
  std::deque<Job*> queue;
  rbx_store* st = nullptr;
  bool tsfn_alive = true;
};

std::string ReadName(const Napi::Value& v) {
  std::string s = Str(v, "name");
  return s;
}

rbx_session_opts ReadOpts(Napi::Env env, const Napi::Value& v) {
  rbx_session_opts o{};
  o.profile = RBX_PROFILE_DEFAULT;
  if (v.IsUndefined() || v.IsNull()) return o;
  if (!v.IsObject()) throw InvalidArg(env, "options: expected an object");
  Napi::Object obj = v.As<Napi::Object>();
  if (IsSet(obj, "headerEncryption")) o.header_encryption = obj.Get("headerEncryption").ToBoolean();
  return o;
}

Napi::Value Id(Napi::Env env, uint64_t id) { return Napi::Number::New(env, static_cast<double>(id)); }

}  // namespace

class StoreWrap : public Napi::ObjectWrap<StoreWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit StoreWrap(const Napi::CallbackInfo& info);
  ~StoreWrap() override;

 private:
  static void* Token() {
    static int t;
    return &t;
  }
  // ------------------------------------------------ queue
  Napi::Value Enqueue(Napi::Env env, std::function<int(rbx_store*)> run,
                      std::function<Napi::Value(Napi::Env)> done, bool close = false);
  void StartDrain(Napi::Env env);
  static void Execute(napi_env env, void* data);
  static void Complete(napi_env env, napi_status status, void* data);
  static void Deliver(napi_env env, napi_value js_cb, void* context, void* data);
  static void TsfnFinalize(napi_env env, void* data, void* hint);
  void Delivered(Napi::Env env);

  // ------------------------------------------------ methods
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value CreateIdentity(const Napi::CallbackInfo& info);
  Napi::Value Identity(const Napi::CallbackInfo& info);
  Napi::Value Bundle(const Napi::CallbackInfo& info);
  Napi::Value AddContact(const Napi::CallbackInfo& info);
  Napi::Value Contacts(const Napi::CallbackInfo& info);
  Napi::Value ContactByIdentity(const Napi::CallbackInfo& info);
  Napi::Value Encrypt(const Napi::CallbackInfo& info);
  Napi::Value EncryptBatch(const Napi::CallbackInfo& info);
  Napi::Value Decrypt(const Napi::CallbackInfo& info);
  Napi::Value OutboxNext(const Napi::CallbackInfo& info);
  Napi::Value AckOutbox(const Napi::CallbackInfo& info);
  Napi::Value AckInbox(const Napi::CallbackInfo& info);
  Napi::Value ResetSession(const Napi::CallbackInfo& info);
  Napi::Value EraseNow(const Napi::CallbackInfo& info);
  Napi::Value Idle(const Napi::CallbackInfo& info);
  Napi::Value SessionInfo(const Napi::CallbackInfo& info);
  Napi::Value PrekeyStats(const Napi::CallbackInfo& info);
  Napi::Value Maintain(const Napi::CallbackInfo& info);
  Napi::Value RotateIdentity(const Napi::CallbackInfo& info);
  Napi::Value Rotations(const Napi::CallbackInfo& info);
  Napi::Value History(const Napi::CallbackInfo& info);
  Napi::Value RotateArchive(const Napi::CallbackInfo& info);
  Napi::Value ImportHistory(const Napi::CallbackInfo& info);
  Napi::Value Policy(const Napi::CallbackInfo& info);
  Napi::Value SetPolicy(const Napi::CallbackInfo& info);
  Napi::Value Audit(const Napi::CallbackInfo& info);
  Napi::Value AuditVerify(const Napi::CallbackInfo& info);
  Napi::Value SignRequest(const Napi::CallbackInfo& info);
  Napi::Value DeviceListFirstEntry(const Napi::CallbackInfo& info);
  // users with several devices (PROTOCOL.md 21)
  Napi::Value AccountInit(const Napi::CallbackInfo& info);
  Napi::Value Account(const Napi::CallbackInfo& info);
  Napi::Value DeviceListSign(const Napi::CallbackInfo& info);
  Napi::Value DeviceListCosign(const Napi::CallbackInfo& info);
  Napi::Value DeviceListEntry(const Napi::CallbackInfo& info);
  Napi::Value UserUpdate(const Napi::CallbackInfo& info);
  Napi::Value UserPin(const Napi::CallbackInfo& info);
  Napi::Value UserOrg(const Napi::CallbackInfo& info);
  Napi::Value UserDevices(const Napi::CallbackInfo& info);
  Napi::Value SendNeeds(const Napi::CallbackInfo& info);
  Napi::Value UserBundle(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SendGet(const Napi::CallbackInfo& info);
  Napi::Value SendRebuild(const Napi::CallbackInfo& info);
  Napi::Value SendDone(const Napi::CallbackInfo& info);
  Napi::Value Receive(const Napi::CallbackInfo& info);
  Napi::Value RetryRequest(const Napi::CallbackInfo& info);
  Napi::Value OnetimeExport(const Napi::CallbackInfo& info);
  Napi::Value OrgInit(const Napi::CallbackInfo& info);
  Napi::Value OrgKey(const Napi::CallbackInfo& info);
  Napi::Value OrgCertify(const Napi::CallbackInfo& info);
  Napi::Value OrgRevoke(const Napi::CallbackInfo& info);
  Napi::Value AddRevocation(const Napi::CallbackInfo& info);
  Napi::Value SetCertificate(const Napi::CallbackInfo& info);
  Napi::Value Certificate(const Napi::CallbackInfo& info);
  Napi::Value Revocations(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), closed_);
  }

  std::shared_ptr<Shared> sh_;
  napi_threadsafe_function tsfn_ = nullptr;
  bool draining_ = false;   // an async work is queued or running
  bool closed_ = false;     // close() was called: nothing more is queued
  size_t outstanding_ = 0;  // queued and not yet delivered
};

// ---------------------------------------------------------------- queue

StoreWrap::StoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StoreWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsExternal() ||
      info[0].As<Napi::External<void>>().Data() != Token() || !info[1].IsExternal())
    throw InvalidArg(env, "use Store.open()");
  sh_ = std::make_shared<Shared>();
  sh_->st = info[1].As<Napi::External<rbx_store>>().Data();
  napi_value name;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, "ratchetbox.Store", NAPI_AUTO_LENGTH, &name));
  auto* fin = new std::shared_ptr<Shared>(sh_);
  napi_status s = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, fin,
                                                  TsfnFinalize, this, Deliver, &tsfn_);
  if (s != napi_ok) {
    delete fin;
    rbx_store_close(sh_->st);
    sh_->st = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, s);
  }
  // Idle: the Store does not keep the process alive.
  napi_unref_threadsafe_function(env, tsfn_);
}

// Only reached when nothing is queued (each queued call holds a reference).
// A Store that was never closed is closed here, on the event loop: close it
// with close() instead.
StoreWrap::~StoreWrap() {
  if (sh_->st != nullptr) rbx_store_close(sh_->st);
  sh_->st = nullptr;
  if (sh_->tsfn_alive && tsfn_ != nullptr) napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
}

void StoreWrap::TsfnFinalize(napi_env, void* data, void*) {
  auto* sh = static_cast<std::shared_ptr<Shared>*>(data);
  (*sh)->tsfn_alive = false;
  delete sh;
}

Napi::Value StoreWrap::Enqueue(Napi::Env env, std::function<int(rbx_store*)> run,
                               std::function<Napi::Value(Napi::Env)> done, bool close) {
  if (closed_) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(RbxError(env, RBX_E_STATE).Value());
    return d.Promise();
  }
  auto job = std::make_unique<Job>();
  job->run = std::move(run);
  job->done = std::move(done);
  job->close = close;
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &job->deferred, &promise), Napi::Value());
  if (close) closed_ = true;
  {
    std::lock_guard<std::mutex> lock(sh_->mu);
    sh_->queue.push_back(job.release());
  }
  if (outstanding_++ == 0) {
    Ref();
    napi_ref_threadsafe_function(env, tsfn_);
  }
  if (!draining_) StartDrain(env);
  return Napi::Value(env, promise);
}

void StoreWrap::StartDrain(Napi::Env env) {
  napi_value name;
  napi_async_work work;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, "ratchetbox.Store", NAPI_AUTO_LENGTH, &name));
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_async_work(env, nullptr, name, Execute, Complete, this, &work));
  napi_status s = napi_queue_async_work(env, work);
  if (s != napi_ok) {
    napi_delete_async_work(env, work);
    NAPI_THROW_IF_FAILED_VOID(env, s);
  }
  draining_ = true;
  Ref();  // until Complete
}

// Pool thread: run queued calls back to back. Only sh_ and tsfn_ are touched
// here; the object itself stays alive (referenced until Complete).
void StoreWrap::Execute(napi_env, void* data) {
  StoreWrap* self = static_cast<StoreWrap*>(data);
  Shared* sh = self->sh_.get();
  for (int i = 0; i < kBatch; i++) {
    Job* j;
    {
      std::lock_guard<std::mutex> lock(sh->mu);
      if (sh->queue.empty()) break;
      j = sh->queue.front();
      sh->queue.pop_front();
    }
    if (sh->st == nullptr) {
      j->rc = RBX_E_STATE;
    } else {
      j->rc = j->run(sh->st);
      if (j->close) sh->st = nullptr;  // run closed it
    }
    napi_call_threadsafe_function(self->tsfn_, j, napi_tsfn_nonblocking);
  }
}

void StoreWrap::Complete(napi_env env, napi_status, void* data) {
  StoreWrap* self = static_cast<StoreWrap*>(data);
  self->draining_ = false;
  bool more;
  {
    std::lock_guard<std::mutex> lock(self->sh_->mu);
    more = !self->sh_->queue.empty();
  }
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  if (more) {
    try {
      self->StartDrain(e);
    } catch (const Napi::Error&) {
      // Cannot happen short of the environment going away: the calls stay
      // queued and reject nothing; nothing else can be done here.
    }
  }
  self->Unref();
}

// Event loop: settle one call's promise.
void StoreWrap::Deliver(napi_env env, napi_value, void* context, void* data) {
  std::unique_ptr<Job> j(static_cast<Job*>(data));
  if (env == nullptr) return;  // the environment is going away
  StoreWrap* self = static_cast<StoreWrap*>(context);
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  napi_value v;
  bool ok = false;
  try {
    if (j->rc == 0) {
      v = j->done ? j->done(e) : e.Undefined();
      ok = true;
    } else {
      v = RbxError(e, j->rc).Value();
    }
  } catch (const Napi::Error& err) {
    v = err.Value();
    ok = false;
  } catch (const std::bad_alloc&) {
    v = RbxError(e, RBX_E_NOMEM).Value();
    ok = false;
  }
  // Release what the call held (its closures own plaintext copies and
  // other buffers, wiped by their destructors) before settling.
  j->run = nullptr;
  j->done = nullptr;
  if (ok) napi_resolve_deferred(env, j->deferred, v);
  else napi_reject_deferred(env, j->deferred, v);
  self->Delivered(e);
}

void StoreWrap::Delivered(Napi::Env env) {
  if (--outstanding_ == 0) {
    napi_unref_threadsafe_function(env, tsfn_);
    if (closed_ && sh_->tsfn_alive) {
      napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
      sh_->tsfn_alive = false;  // released: the destructor must not release it again
    }
    Unref();
  }
}

// ---------------------------------------------------------------- open and close

struct OpenWork {
  std::string path, key_path, gen_path;
  bool has_key_path = false, has_gen_path = false, has_key = false;
  SecretBytes key;
  rbx_store_opts opts{};
  rbx_store* st = nullptr;
  int rc = 0;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

Napi::Value StoreWrap::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto w = std::make_unique<OpenWork>();
  w->path = Str(info[0], "path");
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) throw InvalidArg(env, "Store.open: options must be an object");
    Napi::Object o = info[1].As<Napi::Object>();
    if (IsSet(o, "create")) w->opts.create = o.Get("create").ToBoolean() ? 1 : 0;
    if (IsSet(o, "mode")) {
      std::string m = Str(o.Get("mode"), "mode");
      if (m == "bounded") w->opts.mode = RBX_STORE_BOUNDED;
      else if (m == "strict") w->opts.mode = RBX_STORE_STRICT;
      else throw InvalidArg(env, "mode: 'bounded' or 'strict'");
    }
    if (IsSet(o, "eraseCommits")) w->opts.erase_commits = U32(o.Get("eraseCommits"), "eraseCommits");
    if (IsSet(o, "eraseSeconds")) w->opts.erase_seconds = U32(o.Get("eraseSeconds"), "eraseSeconds");
    if (IsSet(o, "keyPath")) {
      w->key_path = Str(o.Get("keyPath"), "keyPath");
      w->has_key_path = true;
    }
    if (IsSet(o, "generationPath")) {
      w->gen_path = Str(o.Get("generationPath"), "generationPath");
      w->has_gen_path = true;
    }
    if (IsSet(o, "storageKey")) {
      ByteView k = BytesN(o.Get("storageKey"), RBX_STORAGE_KEYBYTES, "storageKey");
      w->key = SecretBytes(k.p, k.n);
      w->has_key = true;
    }
  }
  napi_value promise, name;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &w->deferred, &promise), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, "ratchetbox.Store.open", NAPI_AUTO_LENGTH, &name),
                       Napi::Value());
  auto execute = [](napi_env, void* data) {
    OpenWork* w = static_cast<OpenWork*>(data);
    w->opts.key_path = w->has_key_path ? w->key_path.c_str() : nullptr;
    w->opts.generation_path = w->has_gen_path ? w->gen_path.c_str() : nullptr;
    w->opts.storage_key = w->has_key ? w->key.data() : nullptr;
    w->rc = rbx_store_open(&w->st, w->path.c_str(), &w->opts);
    w->key.Release();  // rbx_store_open keeps its own copy (wiped by close)
  };
  auto complete = [](napi_env env, napi_status, void* data) {
    std::unique_ptr<OpenWork> w(static_cast<OpenWork*>(data));
    napi_delete_async_work(env, w->work);
    Napi::Env e(env);
    Napi::HandleScope scope(e);
    if (w->rc != 0) {
      napi_reject_deferred(env, w->deferred, RbxError(e, w->rc).Value());
      return;
    }
    try {
      Napi::Object o = Addon(e)->store.New(
          {Napi::External<void>::New(e, Token()), Napi::External<rbx_store>::New(e, w->st)});
      w->st = nullptr;  // the Store owns it now
      napi_resolve_deferred(env, w->deferred, o);
    } catch (const Napi::Error& err) {
      if (w->st != nullptr) rbx_store_close(w->st);
      napi_reject_deferred(env, w->deferred, err.Value());
    }
  };
  NAPI_THROW_IF_FAILED(env, napi_create_async_work(env, nullptr, name, execute, complete, w.get(), &w->work),
                       Napi::Value());
  napi_status s = napi_queue_async_work(env, w->work);
  if (s != napi_ok) {
    napi_delete_async_work(env, w->work);
    NAPI_THROW_IF_FAILED(env, s, Napi::Value());
  }
  w.release();
  return Napi::Value(env, promise);
}

Napi::Value StoreWrap::Close(const Napi::CallbackInfo& info) {
  return Enqueue(
      info.Env(),
      [](rbx_store* st) {
        rbx_store_close(st);
        return 0;
      },
      nullptr, true);
}

// ---------------------------------------------------------------- identity and bundles

struct KeyOut {
  uint8_t pk[32];
};

Napi::Value StoreWrap::CreateIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ks = std::make_shared<KeySource>();
  bool imported = false;
  if (!info[0].IsUndefined() && !info[0].IsNull()) {
    if (!info[0].IsObject()) throw InvalidArg(env, "createIdentity: options must be an object");
    *ks = ReadKeySource(env, info[0].As<Napi::Object>());
    imported = true;
  }
  auto out = std::make_shared<KeyOut>();
  return Enqueue(
      env,
      [ks, out, imported](rbx_store* st) {
        int rc;
        if (imported) {
          SecretKey sk;
          uint8_t pk[32];
          if ((rc = ks->Load(pk, sk.b)) != 0) return rc;
          rc = rbx_store_identity_create(st, pk, sk.b);
        } else {
          rc = rbx_store_identity_create(st, nullptr, nullptr);
        }
        return rc != 0 ? rc : rbx_store_identity(st, out->pk);
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->pk, 32); });
}

Napi::Value StoreWrap::Identity(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<KeyOut>();
  return Enqueue(
      info.Env(), [out](rbx_store* st) { return rbx_store_identity(st, out->pk); },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->pk, 32); });
}

struct Blob {
  std::vector<uint8_t> b;
};

Napi::Value StoreWrap::Bundle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned onetime = 1;
  if (info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (IsSet(o, "onetime")) onetime = o.Get("onetime").ToBoolean() ? 1 : 0;
  }
  auto out = std::make_shared<Blob>();
  return Enqueue(
      env,
      [out, onetime](rbx_store* st) {
        out->b.resize(RBX_BUNDLE_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_bundle(st, out->b.data(), out->b.size(), &n, onetime);
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->b.data(), out->b.size()); });
}

Napi::Value StoreWrap::AddContact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ReadName(info[0]);
  uint32_t device = U32(info[1], "device");
  auto bundle = std::make_shared<std::vector<uint8_t>>(CopyBytes(info[2], "bundle"));
  auto org = std::make_shared<std::vector<uint8_t>>();
  if (info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    if (IsSet(o, "org")) {
      ByteView k = BytesN(o.Get("org"), 32, "org");
      org->assign(k.p, k.p + 32);
    }
  }
  return Enqueue(
      env,
      [name, device, bundle, org](rbx_store* st) {
        if (!org->empty())
          return rbx_store_add_contact_org(st, name.c_str(), device, bundle->data(), bundle->size(),
                                           org->data());
        return rbx_store_add_contact(st, name.c_str(), device, bundle->data(), bundle->size());
      },
      nullptr);
}

// ---------------------------------------------------------------- contacts

Napi::Value StoreWrap::Contacts(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<std::vector<rbx_contact_info>>();
  return Enqueue(
      info.Env(),
      [out](rbx_store* st) {
        // The count may grow between the two calls (another process): retry.
        for (;;) {
          size_t count = 0;
          int rc = rbx_store_contacts(st, out->empty() ? nullptr : out->data(), out->size(), &count);
          if (rc != 0) return rc;
          if (count <= out->size()) {
            out->resize(count);
            return 0;
          }
          out->resize(count);
        }
      },
      [out](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, out->size());
        for (size_t i = 0; i < out->size(); i++) {
          const rbx_contact_info& c = (*out)[i];
          Napi::Object o = Napi::Object::New(e);
          o.Set("name", Napi::String::New(e, c.name));
          o.Set("device", Napi::Number::New(e, c.device));
          o.Set("identity", NewBytes(e, c.identity, 32));
          o.Set("hasBundle", Napi::Boolean::New(e, c.has_bundle != 0));
          o.Set("session", c.has_session ? Napi::Value(SessionInfoToJs(e, c.session)) : e.Null());
          o.Set("rolledBack", Napi::Boolean::New(e, c.rolled_back != 0));
          o.Set("generation", Id(e, c.generation));
          o.Set("rotationSeq", Id(e, c.rotation_seq));
          o.Set("org", c.has_org ? Napi::Value(NewBytes(e, c.org, 32)) : e.Null());
          o.Set("graceSessions", Napi::Number::New(e, static_cast<double>(c.grace_sessions)));
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}

struct ContactRef {
  char name[RBX_NAME_MAX];
  uint32_t device = 0;
  bool found = false;
};

Napi::Value StoreWrap::ContactByIdentity(const Napi::CallbackInfo& info) {
  ByteView k = BytesN(info[0], 32, "identity");
  auto id = std::make_shared<std::vector<uint8_t>>(k.p, k.p + 32);
  auto out = std::make_shared<ContactRef>();
  return Enqueue(
      info.Env(),
      [id, out](rbx_store* st) {
        int rc = rbx_store_contact_by_identity(st, out->name, &out->device, id->data());
        if (rc == RBX_E_NOT_FOUND) return 0;
        out->found = rc == 0;
        return rc;
      },
      [out](Napi::Env e) -> Napi::Value {
        if (!out->found) return e.Null();
        Napi::Object o = Napi::Object::New(e);
        o.Set("name", Napi::String::New(e, out->name));
        o.Set("device", Napi::Number::New(e, out->device));
        return o;
      });
}

// ---------------------------------------------------------------- messages

struct EncryptCall {
  std::string name;
  uint32_t device = 0;
  rbx_session_opts opts{};
  std::vector<SecretBytes> pts;  // copies: JS may change its arrays meanwhile
  std::vector<uint8_t> out;
  std::vector<size_t> offsets, lens;
  std::vector<uint64_t> ids;
};

static Napi::Value EncryptResult(Napi::Env e, const EncryptCall& c, size_t i) {
  Napi::Object o = Napi::Object::New(e);
  o.Set("wire", NewBytes(e, c.out.data() + c.offsets[i], c.lens[i]));
  o.Set("outboxId", Id(e, c.ids[i]));
  return o;
}

Napi::Value StoreWrap::Encrypt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<EncryptCall>();
  c->name = ReadName(info[0]);
  c->device = U32(info[1], "device");
  ByteView pt = Bytes(info[2], "plaintext");
  c->opts = ReadOpts(env, info[3]);
  c->pts.emplace_back(pt.p, pt.n);
  return Enqueue(
      env,
      [c](rbx_store* st) {
        const SecretBytes& p = c->pts[0];
        if (p.size() > RBX_MAX_PLAINTEXT) return static_cast<int>(RBX_E_TOO_BIG);
        c->out.resize(WireCap(p.size()));
        c->offsets.assign(1, 0);
        c->lens.assign(1, 0);
        c->ids.assign(1, 0);
        int rc = rbx_store_encrypt(st, c->out.data(), c->out.size(), &c->lens[0], &c->ids[0],
                                   c->name.c_str(), c->device, p.data(), p.size(), &c->opts);
        c->pts.clear();  // wiped now, not when the promise settles
        return rc;
      },
      [c](Napi::Env e) -> Napi::Value { return EncryptResult(e, *c, 0); });
}

Napi::Value StoreWrap::EncryptBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<EncryptCall>();
  c->name = ReadName(info[0]);
  c->device = U32(info[1], "device");
  if (!info[2].IsArray()) throw InvalidArg(env, "plaintexts: expected an array of Uint8Array");
  Napi::Array a = info[2].As<Napi::Array>();
  if (a.Length() == 0) throw InvalidArg(env, "plaintexts: empty");
  c->opts = ReadOpts(env, info[3]);
  for (uint32_t i = 0; i < a.Length(); i++) {
    ByteView pt = Bytes(a.Get(i), "plaintexts[i]");
    c->pts.emplace_back(pt.p, pt.n);
  }
  return Enqueue(
      env,
      [c](rbx_store* st) {
        size_t n = c->pts.size(), cap = 0;
        std::vector<const uint8_t*> ptrs(n);
        std::vector<size_t> lens(n);
        for (size_t i = 0; i < n; i++) {
          if (c->pts[i].size() > RBX_MAX_PLAINTEXT) return static_cast<int>(RBX_E_TOO_BIG);
          ptrs[i] = c->pts[i].data();
          lens[i] = c->pts[i].size();
          cap += WireCap(lens[i]);
        }
        c->out.resize(cap);
        c->offsets.assign(n, 0);
        c->lens.assign(n, 0);
        c->ids.assign(n, 0);
        int rc = rbx_store_encrypt_batch(st, c->out.data(), c->out.size(), c->offsets.data(),
                                         c->lens.data(), c->ids.data(), c->name.c_str(), c->device,
                                         ptrs.data(), lens.data(), n, &c->opts);
        c->pts.clear();
        return rc;
      },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Array r = Napi::Array::New(e, c->ids.size());
        for (size_t i = 0; i < c->ids.size(); i++) r.Set(static_cast<uint32_t>(i), EncryptResult(e, *c, i));
        return r;
      });
}

struct DecryptCall {
  std::vector<uint8_t> wire;
  std::string name;
  uint32_t device = 1;
  bool has_name = false, has_sender = false;
  uint8_t sender[32];
  SecretBytes pt;
  rbx_received info{};
};

Napi::Value StoreWrap::Decrypt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<DecryptCall>();
  c->wire = CopyBytes(info[0], "wire");
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) throw InvalidArg(env, "decrypt: from must be an object");
    Napi::Object o = info[1].As<Napi::Object>();
    if (IsSet(o, "sender")) {
      ByteView s = BytesN(o.Get("sender"), 32, "sender");
      std::memcpy(c->sender, s.p, 32);
      c->has_sender = true;
    }
    if (IsSet(o, "name")) {
      if (c->has_sender) throw InvalidArg(env, "decrypt: give a name or a sender, not both");
      c->name = ReadName(o.Get("name"));
      c->has_name = true;
      c->device = IsSet(o, "device") ? U32(o.Get("device"), "device") : 1;
    }
  }
  return Enqueue(
      env,
      [c](rbx_store* st) {
        if (c->wire.size() > RBX_MAX_WIRE) return static_cast<int>(RBX_E_TOO_BIG);
        if (c->has_sender) {
          // As rbx recv: the transport's sender picks the contact; a first
          // message must name the same identity in its handshake.
          rbx_prekey_info pi;
          int kind = rbx_message_prekey_info(&pi, c->wire.data(), c->wire.size());
          if (kind < 0) return kind;
          if (kind == 1 && sodium_memcmp(pi.initiator_identity, c->sender, 32) != 0)
            return static_cast<int>(RBX_E_MALFORMED);
          char name[RBX_NAME_MAX];
          uint32_t device = 0;
          int rc = rbx_store_contact_by_identity(st, name, &device, c->sender);
          if (rc == RBX_E_NOT_FOUND && kind == 0) return rc;
          if (rc != 0 && rc != RBX_E_NOT_FOUND) return rc;
          if (rc == 0) {
            c->name = name;
            c->device = device;
            c->has_name = true;
          }
        }
        c->pt = SecretBytes(c->wire.size());
        size_t n = 0;
        int rc = rbx_store_decrypt(st, c->pt.data(), c->pt.capacity(), &n, &c->info,
                                   c->has_name ? c->name.c_str() : nullptr, c->device,
                                   c->wire.data(), c->wire.size());
        c->pt.set_size(rc == 0 ? n : 0);
        return rc;
      },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("plaintext", SecretToJs(e, std::move(c->pt)));
        o.Set("name", Napi::String::New(e, c->info.name));
        o.Set("device", Napi::Number::New(e, c->info.device));
        o.Set("peerIdentity", NewBytes(e, c->info.peer_identity, 32));
        o.Set("inboxId", Id(e, c->info.inbox_id));
        o.Set("newContact", Napi::Boolean::New(e, c->info.new_contact != 0));
        o.Set("redelivered", Napi::Boolean::New(e, c->info.redelivered != 0));
        return o;
      });
}

struct OutboxCall {
  std::vector<uint8_t> out;
  size_t len = 0;
  uint64_t id = 0;
  char name[RBX_NAME_MAX];
  uint32_t device = 0;
  bool found = false;
};

Napi::Value StoreWrap::OutboxNext(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<OutboxCall>();
  return Enqueue(
      info.Env(),
      [c](rbx_store* st) {
        c->out.resize(RBX_MAX_WIRE);
        int rc = rbx_store_outbox_next(st, c->out.data(), c->out.size(), &c->len, &c->id, c->name,
                                       &c->device);
        if (rc == RBX_E_NOT_FOUND) return 0;
        c->found = rc == 0;
        return rc;
      },
      [c](Napi::Env e) -> Napi::Value {
        if (!c->found) return e.Null();
        Napi::Object o = Napi::Object::New(e);
        o.Set("wire", NewBytes(e, c->out.data(), c->len));
        o.Set("outboxId", Id(e, c->id));
        o.Set("name", Napi::String::New(e, c->name));
        o.Set("device", Napi::Number::New(e, c->device));
        return o;
      });
}

Napi::Value StoreWrap::AckOutbox(const Napi::CallbackInfo& info) {
  uint64_t id = U64(info[0], "outboxId");
  return Enqueue(info.Env(), [id](rbx_store* st) { return rbx_store_ack_outbox(st, id); }, nullptr);
}

Napi::Value StoreWrap::AckInbox(const Napi::CallbackInfo& info) {
  uint64_t id = U64(info[0], "inboxId");
  return Enqueue(info.Env(), [id](rbx_store* st) { return rbx_store_ack_inbox(st, id); }, nullptr);
}

Napi::Value StoreWrap::ResetSession(const Napi::CallbackInfo& info) {
  std::string name = ReadName(info[0]);
  uint32_t device = U32(info[1], "device");
  return Enqueue(
      info.Env(), [name, device](rbx_store* st) { return rbx_store_reset_session(st, name.c_str(), device); },
      nullptr);
}

Napi::Value StoreWrap::EraseNow(const Napi::CallbackInfo& info) {
  return Enqueue(info.Env(), [](rbx_store* st) { return rbx_store_erase_now(st); }, nullptr);
}

// The application has nothing to do: the erase work a later encrypt or
// decrypt would carry runs now (PROTOCOL.md 15.5 "Idle handles"). Queued
// like every call, so it never overlaps one.
Napi::Value StoreWrap::Idle(const Napi::CallbackInfo& info) {
  return Enqueue(info.Env(), [](rbx_store* st) { return rbx_store_idle(st); }, nullptr);
}

// ---------------------------------------------------------------- status

struct SessionInfoCall {
  std::string name;
  uint32_t device = 0;
  rbx_session_info si{};
  uint64_t gen = 0;
};

Napi::Value StoreWrap::SessionInfo(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<SessionInfoCall>();
  c->name = ReadName(info[0]);
  c->device = U32(info[1], "device");
  return Enqueue(
      info.Env(),
      [c](rbx_store* st) { return rbx_store_session_info(st, &c->si, &c->gen, c->name.c_str(), c->device); },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Object o = SessionInfoToJs(e, c->si);
        o.Set("generation", Id(e, c->gen));
        return o;
      });
}

Napi::Value StoreWrap::PrekeyStats(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<rbx_prekey_stats>();
  return Enqueue(
      info.Env(), [c](rbx_store* st) { return rbx_store_prekey_stats(st, c.get()); },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("signedPrekeyId", Napi::Number::New(e, c->signed_prekey_id));
        o.Set("signedPrekeyCreated", Napi::Number::New(e, static_cast<double>(c->signed_prekey_created)));
        o.Set("onetimeUnoffered", Napi::Number::New(e, static_cast<double>(c->onetime_unoffered)));
        o.Set("onetimeOutstanding", Napi::Number::New(e, static_cast<double>(c->onetime_outstanding)));
        o.Set("onetimeConsumed", Napi::Number::New(e, static_cast<double>(c->onetime_consumed)));
        return o;
      });
}

// ---------------------------------------------------------------- rotation

Napi::Value StoreWrap::Maintain(const Napi::CallbackInfo& info) {
  int force = 0;
  if (info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (IsSet(o, "forceSignedPrekey")) force = o.Get("forceSignedPrekey").ToBoolean() ? 1 : 0;
  }
  auto r = std::make_shared<rbx_maintain_result>();
  return Enqueue(
      info.Env(), [r, force](rbx_store* st) { return rbx_store_maintain(st, force, r.get()); },
      [r](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("signedPrekeyMade", r->signed_prekey_made ? Napi::Value(Napi::Number::New(e, r->signed_prekey_made))
                                                        : e.Null());
        o.Set("signedPrekeysErased", Napi::Number::New(e, static_cast<double>(r->signed_prekeys_erased)));
        o.Set("onetimeMade", Napi::Number::New(e, static_cast<double>(r->onetime_made)));
        o.Set("oldIdentitiesErased", Napi::Number::New(e, static_cast<double>(r->old_identities_erased)));
        o.Set("sessionsRetired", Napi::Number::New(e, static_cast<double>(r->sessions_retired)));
        return o;
      });
}

Napi::Value StoreWrap::RotateIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string reason;
  auto ks = std::make_shared<KeySource>();
  bool imported = false;
  if (!info[0].IsUndefined() && !info[0].IsNull()) {
    if (!info[0].IsObject()) throw InvalidArg(env, "rotateIdentity: options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    if (IsSet(o, "reason")) reason = Str(o.Get("reason"), "reason");
    if (IsSet(o, "keyFile") || IsSet(o, "keyPairJson") || IsSet(o, "secretKey")) {
      *ks = ReadKeySource(env, o);
      imported = true;
    }
  }
  auto out = std::make_shared<KeyOut>();
  return Enqueue(
      env,
      [ks, out, imported, reason](rbx_store* st) {
        if (!imported) return rbx_store_rotate_identity(st, reason.c_str(), nullptr, nullptr, out->pk);
        SecretKey sk;
        uint8_t pk[32];
        int rc = ks->Load(pk, sk.b);
        return rc != 0 ? rc : rbx_store_rotate_identity(st, reason.c_str(), pk, sk.b, out->pk);
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->pk, 32); });
}

struct RotationsCall {
  std::vector<uint8_t> buf;
  std::vector<size_t> lens;
};

Napi::Value StoreWrap::Rotations(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<RotationsCall>();
  return Enqueue(
      info.Env(),
      [c](rbx_store* st) {
        for (;;) {
          size_t n = 0;
          c->buf.resize((c->lens.size() + 1) * RBX_ROTATION_MAXBYTES);
          int rc = rbx_store_rotations(st, c->buf.data(), c->buf.size(),
                                       c->lens.empty() ? nullptr : c->lens.data(), c->lens.size(), &n);
          if (rc != 0) return rc;
          if (n <= c->lens.size()) {
            c->lens.resize(n);
            return 0;
          }
          c->lens.resize(n);
        }
      },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, c->lens.size());
        size_t off = 0;
        for (size_t i = 0; i < c->lens.size(); i++) {
          a.Set(static_cast<uint32_t>(i), NewBytes(e, c->buf.data() + off, c->lens[i]));
          off += c->lens[i];
        }
        return a;
      });
}

struct HistoryRow {
  uint64_t id, seq, epoch;
  std::string peer;
  int direction, available;
  uint8_t session[32];
  int64_t created;
  SecretBytes pt;
};

Napi::Value StoreWrap::History(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto peer = std::make_shared<std::string>();
  bool all = true;
  if (info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (IsSet(o, "peer")) {
      *peer = ReadName(o.Get("peer"));
      all = false;
    }
  }
  auto rows = std::make_shared<std::vector<HistoryRow>>();
  return Enqueue(
      env,
      [rows, peer, all](rbx_store* st) {
        rows->clear();
        auto cb = [](const rbx_history_entry* e, void* ctx) -> int {
          auto* v = static_cast<std::vector<HistoryRow>*>(ctx);
          try {
            HistoryRow r;
            r.id = e->id;
            r.seq = e->seq;
            r.epoch = e->epoch;
            r.peer = e->peer;
            r.direction = e->direction;
            r.available = e->available;
            std::memcpy(r.session, e->session, 32);
            r.created = e->created;
            if (e->available && e->pt != nullptr) r.pt = SecretBytes(e->pt, e->ptlen);
            v->push_back(std::move(r));
          } catch (const std::bad_alloc&) {
            return RBX_E_NOMEM;
          }
          return 0;
        };
        return rbx_store_history(st, all ? nullptr : peer->c_str(), cb, rows.get());
      },
      [rows](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, rows->size());
        for (size_t i = 0; i < rows->size(); i++) {
          HistoryRow& r = (*rows)[i];
          Napi::Object o = Napi::Object::New(e);
          o.Set("id", Id(e, r.id));
          o.Set("peer", Napi::String::New(e, r.peer));
          o.Set("direction", Napi::String::New(e, r.direction ? "sent" : "received"));
          o.Set("session", NewBytes(e, r.session, 32));
          o.Set("seq", Id(e, r.seq));
          o.Set("epoch", Id(e, r.epoch));
          o.Set("created", Napi::Number::New(e, static_cast<double>(r.created)));
          o.Set("plaintext", r.available ? Napi::Value(SecretToJs(e, std::move(r.pt))) : e.Null());
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}

Napi::Value StoreWrap::RotateArchive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string m = Str(info[0], "mode");
  int mode;
  if (m == "reencrypt") mode = RBX_ARCHIVE_REENCRYPT;
  else if (m == "split") mode = RBX_ARCHIVE_SPLIT;
  else if (m == "shred") mode = RBX_ARCHIVE_SHRED;
  else throw InvalidArg(env, "mode: 'reencrypt', 'split' or 'shred'");
  auto r = std::make_shared<rbx_archive_result>();
  return Enqueue(
      env, [r, mode](rbx_store* st) { return rbx_store_rotate_archive(st, mode, r.get()); },
      [r](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("newEpoch", Id(e, r->new_epoch));
        o.Set("rewrapped", Id(e, r->rewrapped));
        o.Set("epochsErased", Id(e, r->epochs_erased));
        o.Set("entriesUnrecoverable", Id(e, r->entries_unrecoverable));
        return o;
      });
}

struct ImportRow {
  uint8_t peer[32];
  std::string session_id, content, nonce;
  bool has_session = false, has_nonce = false;
  uint64_t sequence = 0;
  int64_t timestamp = 0;
  int outgoing = 0;
};

struct ImportCall {
  std::vector<ImportRow> rows;
  std::vector<int> rcs;
  size_t imported = 0;
};

Napi::Value StoreWrap::ImportHistory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw InvalidArg(env, "importHistory: rows must be an array");
  if (!info[1].IsObject()) throw InvalidArg(env, "importHistory: the old key ({keyFile}, ...)");
  auto ks = std::make_shared<KeySource>(ReadKeySource(env, info[1].As<Napi::Object>()));
  auto c = std::make_shared<ImportCall>();
  Napi::Array a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsObject()) throw InvalidArg(env, "importHistory: rows[i] must be an object");
    Napi::Object o = v.As<Napi::Object>();
    ImportRow r;
    std::memcpy(r.peer, BytesN(o.Get("peerPublicKey"), 32, "peerPublicKey").p, 32);
    if (IsSet(o, "sessionId")) {
      r.session_id = Str(o.Get("sessionId"), "sessionId");
      r.has_session = true;
    }
    r.sequence = U64(o.Get("sequence"), "sequence");
    Napi::Value ts = o.Get("timestamp");
    if (!ts.IsNumber()) throw InvalidArg(env, "timestamp: expected a number");
    r.timestamp = ts.As<Napi::Number>().Int64Value();
    r.outgoing = IsSet(o, "outgoing") && o.Get("outgoing").ToBoolean() ? 1 : 0;
    r.content = Str(o.Get("content"), "content");
    if (IsSet(o, "nonce")) {
      r.nonce = Str(o.Get("nonce"), "nonce");
      r.has_nonce = true;
    }
    c->rows.push_back(std::move(r));
  }
  return Enqueue(
      env,
      [c, ks](rbx_store* st) {
        SecretKey sk;
        uint8_t pk[32];
        int rc = ks->Load(pk, sk.b);
        if (rc != 0) return rc;
        std::vector<rbx_import_row> rows(c->rows.size());
        for (size_t i = 0; i < rows.size(); i++) {
          const ImportRow& r = c->rows[i];
          rows[i].peer_pk = r.peer;
          rows[i].session_id = r.has_session ? r.session_id.c_str() : nullptr;
          rows[i].session_id_len = r.session_id.size();
          rows[i].sequence = r.sequence;
          rows[i].timestamp = r.timestamp;
          rows[i].outgoing = r.outgoing;
          rows[i].content = r.content.c_str();
          rows[i].content_len = r.content.size();
          rows[i].nonce = r.has_nonce ? r.nonce.c_str() : nullptr;
          rows[i].nonce_len = r.nonce.size();
        }
        c->rcs.assign(rows.size(), 0);
        return rbx_store_import_history(st, pk, sk.b, rows.empty() ? nullptr : rows.data(), rows.size(),
                                        c->rcs.empty() ? nullptr : c->rcs.data(), &c->imported);
      },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("imported", Napi::Number::New(e, static_cast<double>(c->imported)));
        Napi::Array a = Napi::Array::New(e, c->rcs.size());
        for (size_t i = 0; i < c->rcs.size(); i++)
          a.Set(static_cast<uint32_t>(i),
                c->rcs[i] == 0 ? e.Null() : Napi::Value(Napi::String::New(e, CodeName(c->rcs[i]))));
        o.Set("rows", a);
        return o;
      });
}

// ---------------------------------------------------------------- policy and audit

static Napi::Value PolicyToJs(Napi::Env e, const rbx_policy& p) {
  Napi::Object o = Napi::Object::New(e);
  for (size_t i = 0;; i++) {
    const char* k = rbx_policy_key(i);
    if (k == nullptr) break;
    char v[128];
    if (rbx_policy_format(v, sizeof v, &p, k) == 0) o.Set(k, Napi::String::New(e, v));
  }
  return o;
}

Napi::Value StoreWrap::Policy(const Napi::CallbackInfo& info) {
  auto p = std::make_shared<rbx_policy>();
  return Enqueue(
      info.Env(), [p](rbx_store* st) { return rbx_store_policy(st, p.get()); },
      [p](Napi::Env e) -> Napi::Value { return PolicyToJs(e, *p); });
}

Napi::Value StoreWrap::SetPolicy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw InvalidArg(env, "setPolicy: expected {key: value}");
  Napi::Object o = info[0].As<Napi::Object>();
  auto kv = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string k = Str(keys.Get(i), "policy key");
    Napi::Value v = o.Get(k);
    std::string s;
    if (v.IsBoolean()) s = v.ToBoolean() ? "on" : "off";
    else if (v.IsNumber()) s = std::to_string(U64(v, k.c_str()));
    else s = Str(v, k.c_str());
    kv->emplace_back(k, s);
  }
  auto p = std::make_shared<rbx_policy>();
  return Enqueue(
      env,
      [kv, p](rbx_store* st) {
        int rc = rbx_store_policy(st, p.get());
        for (size_t i = 0; rc == 0 && i < kv->size(); i++)
          rc = rbx_policy_set(p.get(), (*kv)[i].first.c_str(), (*kv)[i].second.c_str());
        return rc != 0 ? rc : rbx_store_set_policy(st, p.get());
      },
      [p](Napi::Env e) -> Napi::Value { return PolicyToJs(e, *p); });
}

Napi::Value StoreWrap::Audit(const Napi::CallbackInfo& info) {
  auto ev = std::make_shared<std::vector<rbx_audit_event>>();
  return Enqueue(
      info.Env(),
      [ev](rbx_store* st) {
        auto cb = [](const rbx_audit_event* e, void* ctx) -> int {
          try {
            static_cast<std::vector<rbx_audit_event>*>(ctx)->push_back(*e);
          } catch (const std::bad_alloc&) {
            return RBX_E_NOMEM;
          }
          return 0;
        };
        return rbx_store_audit(st, cb, ev.get());
      },
      [ev](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, ev->size());
        for (size_t i = 0; i < ev->size(); i++) {
          const rbx_audit_event& x = (*ev)[i];
          Napi::Object o = Napi::Object::New(e);
          o.Set("seq", Id(e, x.seq));
          o.Set("time", Napi::Number::New(e, static_cast<double>(x.time)));
          o.Set("event", Napi::String::New(e, x.event));
          o.Set("detail", Napi::String::New(e, x.detail));
          o.Set("hash", NewBytes(e, x.hash, 32));
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}

struct VerifyCall {
  uint64_t count = 0, bad = 0;
  bool ok = false;
};

Napi::Value StoreWrap::AuditVerify(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<VerifyCall>();
  return Enqueue(
      info.Env(),
      [c](rbx_store* st) {
        // A chain that does not hold is an answer, not a failure of the call.
        int rc = rbx_store_audit_verify(st, &c->count, &c->bad);
        c->ok = rc == 0;
        return rc == RBX_E_CORRUPT ? 0 : rc;
      },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("ok", Napi::Boolean::New(e, c->ok));
        o.Set("count", Id(e, c->count));
        o.Set("badSeq", c->bad ? Id(e, c->bad) : e.Null());
        return o;
      });
}

// ---------------------------------------------------------------- requests

struct SignCall {
  Request r;
  uint8_t sig[RBX_SIGNATUREBYTES];
};

Napi::Value StoreWrap::SignRequest(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<SignCall>();
  c->r = ReadRequest(info.Env(), info[0]);
  return Enqueue(
      info.Env(),
      [c](rbx_store* st) {
        static const uint8_t empty[1] = {0};
        const Request& r = c->r;
        return rbx_store_request_sign(st, c->sig, r.method.c_str(), r.target.c_str(), r.ts, r.nonce,
                                      r.body.empty() ? empty : r.body.data(), r.body.size(),
                                      r.user.c_str(), r.device);
      },
      [c](Napi::Env e) -> Napi::Value { return NewBytes(e, c->sig, sizeof c->sig); });
}

Napi::Value StoreWrap::DeviceListFirstEntry(const Napi::CallbackInfo& info) {
  std::string user = Str(info[0], "user");
  uint64_t created = info[1].IsUndefined() ? static_cast<uint64_t>(time(nullptr)) : U64(info[1], "created");
  auto out = std::make_shared<Blob>();
  return Enqueue(
      info.Env(),
      [out, user, created](rbx_store* st) {
        out->b.resize(RBX_DEVLIST_ENTRY_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_devlist_first_entry(st, out->b.data(), out->b.size(), &n, user.c_str(), created);
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->b.data(), out->b.size()); });
}

// ---------------------------------------------------------------- users (PROTOCOL.md 21)

namespace {

std::string UserArg(const Napi::Value& v, const char* what) {
  std::string u = Str(v, what);
  if (!rbx_user_id_ok(u.c_str())) throw InvalidArg(v.Env(), std::string(what) + ": not a user id");
  return u;
}

// A device-list entry's fields from {user, seq, prevHash, op, device,
// identity, created, signerKind?, signer}; op 'add' | 'remove' | 'rotate'.
rbx_devlist_entry ReadEntry(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) throw InvalidArg(env, "entry: expected an object");
  Napi::Object o = v.As<Napi::Object>();
  rbx_devlist_entry e{};
  std::string user = UserArg(o.Get("user"), "entry.user");
  std::memcpy(e.user, user.c_str(), user.size() + 1);
  e.seq = U64(o.Get("seq"), "entry.seq");
  if (IsSet(o, "prevHash")) std::memcpy(e.prev_hash, BytesN(o.Get("prevHash"), 32, "entry.prevHash").p, 32);
  std::string op = Str(o.Get("op"), "entry.op");
  e.op = op == "add" ? RBX_DEVLIST_ADD : op == "remove" ? RBX_DEVLIST_REMOVE : op == "rotate" ? RBX_DEVLIST_ROTATE : 0;
  if (e.op == 0) throw InvalidArg(env, "entry.op: 'add', 'remove' or 'rotate'");
  e.device = U32(o.Get("device"), "entry.device");
  std::memcpy(e.identity, BytesN(o.Get("identity"), 32, "entry.identity").p, 32);
  e.created = IsSet(o, "created") ? U64(o.Get("created"), "entry.created") : static_cast<uint64_t>(time(nullptr));
  e.signer_kind = IsSet(o, "signerKind") && Str(o.Get("signerKind"), "entry.signerKind") == "org" ? RBX_SIGNER_ORG
                                                                                                   : RBX_SIGNER_DEVICE;
  std::memcpy(e.signer, BytesN(o.Get("signer"), 32, "entry.signer").p, 32);
  return e;
}

Napi::Object AccountJs(Napi::Env e, const rbx_account& a) {
  Napi::Object o = Napi::Object::New(e);
  o.Set("user", a.user);
  o.Set("device", Napi::Number::New(e, a.device));
  o.Set("registrationId", Napi::Number::New(e, a.registration_id));
  o.Set("entry", NewBytes(e, a.entry, a.entry_len));
  return o;
}

Napi::Object PinJs(Napi::Env e, const rbx_devlist_pin& p) {
  Napi::Object o = Napi::Object::New(e);
  o.Set("firstHash", NewBytes(e, p.first_hash, 32));
  o.Set("seq", Napi::Number::New(e, static_cast<double>(p.seq)));
  o.Set("hash", NewBytes(e, p.hash, 32));
  return o;
}

Napi::Array DevicesJs(Napi::Env e, const std::vector<rbx_user_device>& v) {
  Napi::Array a = Napi::Array::New(e, v.size());
  for (size_t i = 0; i < v.size(); i++) {
    Napi::Object o = Napi::Object::New(e);
    o.Set("user", v[i].user);
    o.Set("device", Napi::Number::New(e, v[i].device));
    o.Set("identity", NewBytes(e, v[i].identity, 32));
    o.Set("addedSeq", Napi::Number::New(e, static_cast<double>(v[i].added_seq)));
    o.Set("registrationId", Napi::Number::New(e, v[i].registration_id));
    o.Set("self", Napi::Boolean::New(e, v[i].self));
    o.Set("hasSession", Napi::Boolean::New(e, v[i].has_session));
    o.Set("hasBundle", Napi::Boolean::New(e, v[i].has_bundle));
    o.Set("needsBundle", Napi::Boolean::New(e, v[i].needs_bundle));
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

// A send's envelopes, handed out as the library made them.
struct SendOut {
  rbx_send_info info{};
  std::vector<rbx_envelope> env;
  std::vector<uint8_t> buf;
  bool none = false;  // sendGet: nothing pending; sendRebuild: dropped
  // Call f with buffers of room for n envelopes of ptlen bytes, growing on RBX_E_BUFFER.
  int Run(size_t n, size_t ptlen, const std::function<int(SendOut&)>& f) {
    size_t per = RBX_ENVELOPE_MAXBYTES(ptlen);
    for (;;) {
      env.assign(RBX_SEND_MAX_ENVELOPES, rbx_envelope{});
      buf.assign(n * per, 0);
      int rc = f(*this);
      if (rc != RBX_E_BUFFER || n >= RBX_SEND_MAX_ENVELOPES) return rc;
      n = n * 2 > RBX_SEND_MAX_ENVELOPES ? RBX_SEND_MAX_ENVELOPES : n * 2;
      if (ptlen == 0) per *= 2;
    }
  }
};

Napi::Value SendJs(Napi::Env e, const SendOut& s) {
  if (s.none) return e.Null();
  static const char* const kinds[] = {"message", "retry", "resend"};
  Napi::Object o = Napi::Object::New(e);
  o.Set("id", Napi::Number::New(e, static_cast<double>(s.info.id)));
  o.Set("messageId", NewBytes(e, s.info.message_id, RBX_MESSAGE_IDBYTES));
  o.Set("to", s.info.to);
  o.Set("kind", kinds[s.info.kind <= RBX_SEND_RESEND ? s.info.kind : 0]);
  o.Set("targeted", Napi::Boolean::New(e, s.info.kind != RBX_SEND_FANOUT));
  Napi::Array a = Napi::Array::New(e, s.info.n);
  for (size_t i = 0; i < s.info.n; i++) {
    const rbx_envelope& v = s.env[i];
    Napi::Object x = Napi::Object::New(e);
    x.Set("user", v.user);
    x.Set("device", Napi::Number::New(e, v.device));
    x.Set("registrationId", Napi::Number::New(e, v.registration_id));
    x.Set("body", NewBytes(e, s.buf.data() + v.offset, v.len));
    a.Set(static_cast<uint32_t>(i), x);
  }
  o.Set("envelopes", a);
  return o;
}

}  // namespace

Napi::Value StoreWrap::AccountInit(const Napi::CallbackInfo& info) {
  auto entry = std::make_shared<std::vector<uint8_t>>(CopyBytes(info[0], "entry"));
  auto a = std::make_shared<rbx_account>();
  return Enqueue(
      info.Env(), [entry, a](rbx_store* st) { return rbx_store_account_init(st, a.get(), entry->data(), entry->size()); },
      [a](Napi::Env e) -> Napi::Value { return AccountJs(e, *a); });
}

Napi::Value StoreWrap::Account(const Napi::CallbackInfo& info) {
  auto a = std::make_shared<rbx_account>();
  auto found = std::make_shared<bool>(true);
  return Enqueue(
      info.Env(),
      [a, found](rbx_store* st) {
        int rc = rbx_store_account(st, a.get());
        if (rc == RBX_E_NOT_FOUND) *found = false;
        return rc == RBX_E_NOT_FOUND ? 0 : rc;
      },
      [a, found](Napi::Env e) -> Napi::Value { return *found ? AccountJs(e, *a) : e.Null(); });
}

Napi::Value StoreWrap::DeviceListSign(const Napi::CallbackInfo& info) {
  rbx_devlist_entry e = ReadEntry(info.Env(), info[0]);
  auto sig = std::make_shared<std::vector<uint8_t>>(RBX_SIGNATUREBYTES);
  return Enqueue(
      info.Env(), [e, sig](rbx_store* st) { return rbx_store_devlist_sign(st, sig->data(), &e); },
      [sig](Napi::Env env) -> Napi::Value { return NewBytes(env, sig->data(), sig->size()); });
}

Napi::Value StoreWrap::DeviceListCosign(const Napi::CallbackInfo& info) {
  rbx_devlist_entry e = ReadEntry(info.Env(), info[0]);
  ByteView sv = BytesN(info[1], RBX_SIGNATUREBYTES, "signature");
  std::vector<uint8_t> sig(sv.p, sv.p + sv.n);
  auto out = std::make_shared<Blob>();
  return Enqueue(
      info.Env(),
      [e, sig, out](rbx_store* st) {
        out->b.resize(RBX_DEVLIST_ENTRY_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_devlist_cosign(st, out->b.data(), out->b.size(), &n, &e, sig.data());
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env env) -> Napi::Value { return NewBytes(env, out->b.data(), out->b.size()); });
}

Napi::Value StoreWrap::DeviceListEntry(const Napi::CallbackInfo& info) {
  rbx_devlist_entry e = ReadEntry(info.Env(), info[0]);
  auto out = std::make_shared<Blob>();
  return Enqueue(
      info.Env(),
      [e, out](rbx_store* st) {
        out->b.resize(RBX_DEVLIST_ENTRY_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_devlist_entry(st, out->b.data(), out->b.size(), &n, &e);
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env env) -> Napi::Value { return NewBytes(env, out->b.data(), out->b.size()); });
}

struct UpdateCall {
  std::string user;
  std::vector<std::vector<uint8_t>> entries;
  std::vector<rbx_device_reg> regs;
  rbx_user_update res{};
};

Napi::Value StoreWrap::UserUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<UpdateCall>();
  c->user = UserArg(info[0], "user");
  if (!info[1].IsArray()) throw InvalidArg(env, "entries: expected an array of Uint8Array");
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) c->entries.push_back(CopyBytes(a.Get(i), "entries[i]"));
  if (!info[2].IsUndefined() && !info[2].IsNull()) {
    if (!info[2].IsArray()) throw InvalidArg(env, "devices: expected an array");
    Napi::Array d = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < d.Length(); i++) {
      if (!d.Get(i).IsObject()) throw InvalidArg(env, "devices[i]: expected {device, registrationId}");
      Napi::Object o = d.Get(i).As<Napi::Object>();
      c->regs.push_back({U32(o.Get("device"), "device"), U32(o.Get("registrationId"), "registrationId")});
    }
  }
  return Enqueue(
      env,
      [c](rbx_store* st) {
        std::vector<const uint8_t*> p;
        std::vector<size_t> l;
        for (auto& x : c->entries) {
          p.push_back(x.data());
          l.push_back(x.size());
        }
        return rbx_store_user_update(st, &c->res, c->user.c_str(), p.data(), l.data(), p.size(),
                                     c->regs.empty() ? nullptr : c->regs.data(), c->regs.size());
      },
      [c](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("head", PinJs(e, c->res.head));
        o.Set("first", Napi::Boolean::New(e, c->res.first));
        o.Set("selfListed", Napi::Boolean::New(e, c->res.self_listed));
        o.Set("devices", Napi::Number::New(e, static_cast<double>(c->res.ndevices)));
        o.Set("added", Napi::Number::New(e, static_cast<double>(c->res.added)));
        o.Set("removed", Napi::Number::New(e, static_cast<double>(c->res.removed)));
        o.Set("rotated", Napi::Number::New(e, static_cast<double>(c->res.rotated)));
        o.Set("reregistered", Napi::Number::New(e, static_cast<double>(c->res.reregistered)));
        return o;
      });
}

Napi::Value StoreWrap::UserPin(const Napi::CallbackInfo& info) {
  std::string user = UserArg(info[0], "user");
  auto pin = std::make_shared<rbx_devlist_pin>();
  auto found = std::make_shared<bool>(true);
  return Enqueue(
      info.Env(),
      [user, pin, found](rbx_store* st) {
        int rc = rbx_store_user_pin(st, pin.get(), user.c_str());
        if (rc == RBX_E_NOT_FOUND) *found = false;
        return rc == RBX_E_NOT_FOUND ? 0 : rc;
      },
      [pin, found](Napi::Env e) -> Napi::Value { return *found ? Napi::Value(PinJs(e, *pin)) : e.Null(); });
}

Napi::Value StoreWrap::UserOrg(const Napi::CallbackInfo& info) {
  std::string user = UserArg(info[0], "user");
  ByteView ov = BytesN(info[1], RBX_PUBLICKEYBYTES, "org");
  std::vector<uint8_t> org(ov.p, ov.p + ov.n);
  return Enqueue(
      info.Env(), [user, org](rbx_store* st) { return rbx_store_user_org(st, user.c_str(), org.data()); },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

static Napi::Value DevicesCall(StoreWrap* self, const Napi::CallbackInfo& info, bool needs,
                               const std::function<Napi::Value(Napi::Env, std::function<int(rbx_store*)>,
                                                               std::function<Napi::Value(Napi::Env)>)>& enqueue) {
  (void)self;
  std::string user = UserArg(info[0], needs ? "to" : "user");
  auto v = std::make_shared<std::vector<rbx_user_device>>();
  return enqueue(
      info.Env(),
      [user, v, needs](rbx_store* st) {
        size_t n = 0;
        v->resize(2 * RBX_DEVLIST_MAX_DEVICES);
        int rc = needs ? rbx_store_send_needs(st, v->data(), v->size(), &n, user.c_str())
                       : rbx_store_user_devices(st, v->data(), v->size(), &n, user.c_str());
        v->resize(rc == 0 && n < v->size() ? n : rc == 0 ? v->size() : 0);
        return rc;
      },
      [v](Napi::Env e) -> Napi::Value { return DevicesJs(e, *v); });
}

Napi::Value StoreWrap::UserDevices(const Napi::CallbackInfo& info) {
  return DevicesCall(this, info, false, [this](Napi::Env e, std::function<int(rbx_store*)> r,
                                               std::function<Napi::Value(Napi::Env)> d) {
    return Enqueue(e, std::move(r), std::move(d));
  });
}

Napi::Value StoreWrap::SendNeeds(const Napi::CallbackInfo& info) {
  return DevicesCall(this, info, true, [this](Napi::Env e, std::function<int(rbx_store*)> r,
                                              std::function<Napi::Value(Napi::Env)> d) {
    return Enqueue(e, std::move(r), std::move(d));
  });
}

Napi::Value StoreWrap::UserBundle(const Napi::CallbackInfo& info) {
  std::string user = UserArg(info[0], "user");
  uint32_t device = U32(info[1], "device");
  auto b = std::make_shared<std::vector<uint8_t>>(CopyBytes(info[2], "bundle"));
  return Enqueue(
      info.Env(), [user, device, b](rbx_store* st) { return rbx_store_user_bundle(st, user.c_str(), device, b->data(), b->size()); },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

Napi::Value StoreWrap::Send(const Napi::CallbackInfo& info) {
  std::string to = UserArg(info[0], "to");
  ByteView pv = Bytes(info[1], "plaintext");
  auto pt = std::make_shared<SecretBytes>(pv.p, pv.n);
  auto s = std::make_shared<SendOut>();
  return Enqueue(
      info.Env(),
      [to, pt, s](rbx_store* st) {
        if (pt->size() > RBX_MAX_PLAINTEXT) return static_cast<int>(RBX_E_TOO_BIG);
        size_t ptlen = pt->size();
        int rc = s->Run(8, ptlen, [&](SendOut& o) {
          return rbx_store_send(st, &o.info, o.env.data(), o.env.size(), o.buf.data(), o.buf.size(),
                                to.c_str(), pt->data(), ptlen, nullptr);
        });
        pt->Release();  // wiped now, not when the promise settles
        return rc;
      },
      [s](Napi::Env e) -> Napi::Value { return SendJs(e, *s); });
}

Napi::Value StoreWrap::SendGet(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].IsUndefined() || info[0].IsNull() ? 0 : U64(info[0], "id");
  auto s = std::make_shared<SendOut>();
  return Enqueue(
      info.Env(),
      [id, s](rbx_store* st) {
        int rc = s->Run(8, 4096, [&](SendOut& o) {
          return rbx_store_send_get(st, &o.info, o.env.data(), o.env.size(), o.buf.data(), o.buf.size(), id);
        });
        if (rc == RBX_E_NOT_FOUND) s->none = true;
        return rc == RBX_E_NOT_FOUND ? 0 : rc;
      },
      [s](Napi::Env e) -> Napi::Value { return SendJs(e, *s); });
}

Napi::Value StoreWrap::SendRebuild(const Napi::CallbackInfo& info) {
  uint64_t id = U64(info[0], "id");
  bool targeted = info[1].IsBoolean() && info[1].ToBoolean();
  auto s = std::make_shared<SendOut>();
  return Enqueue(
      info.Env(),
      [id, s, targeted](rbx_store* st) {
        int rc = s->Run(8, 4096, [&](SendOut& o) {
          return rbx_store_send_rebuild(st, &o.info, o.env.data(), o.env.size(), o.buf.data(), o.buf.size(),
                                        id, nullptr);
        });
        // A targeted send whose device is gone is dropped (PROTOCOL.md 21.5).
        if (rc == RBX_E_NOT_FOUND && targeted) {
          s->none = true;
          return 0;
        }
        return rc;
      },
      [s](Napi::Env e) -> Napi::Value { return SendJs(e, *s); });
}

Napi::Value StoreWrap::SendDone(const Napi::CallbackInfo& info) {
  uint64_t id = U64(info[0], "id");
  return Enqueue(
      info.Env(), [id](rbx_store* st) { return rbx_store_send_done(st, id); },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

struct ReceiveCall {
  std::vector<uint8_t> wire;
  std::string user;
  uint32_t device = 0;
  SecretBytes pt;
  rbx_user_received info{};
};

Napi::Value StoreWrap::Receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<ReceiveCall>();
  c->wire = CopyBytes(info[0], "wire");
  if (!info[1].IsObject()) throw InvalidArg(env, "receive: from must be {user, device}");
  Napi::Object o = info[1].As<Napi::Object>();
  c->user = UserArg(o.Get("user"), "from.user");
  c->device = U32(o.Get("device"), "from.device");
  return Enqueue(
      env,
      [c](rbx_store* st) {
        if (c->wire.size() > RBX_MAX_WIRE + 128U) return static_cast<int>(RBX_E_TOO_BIG);
        c->pt = SecretBytes(c->wire.size());
        size_t n = 0;
        int rc = rbx_store_receive(st, c->pt.data(), c->pt.capacity(), &n, &c->info, c->user.c_str(), c->device,
                                   c->wire.data(), c->wire.size());
        c->pt.set_size(rc == 0 ? n : 0);
        return rc;
      },
      [c](Napi::Env e) -> Napi::Value {
        static const char* const types[] = {"", "message", "sync", "retry"};
        Napi::Object r = Napi::Object::New(e);
        r.Set("user", c->info.user);
        r.Set("device", Napi::Number::New(e, c->info.device));
        r.Set("type", types[c->info.type <= RBX_CONTENT_RETRY ? c->info.type : 0]);
        r.Set("sync", Napi::Boolean::New(e, c->info.sync));
        r.Set("to", c->info.to);
        r.Set("resent", Napi::Boolean::New(e, (c->info.flags & RBX_CONTENT_RESENT) != 0));
        r.Set("messageId", NewBytes(e, c->info.message_id, RBX_MESSAGE_IDBYTES));
        r.Set("inboxId", Id(e, c->info.inbox_id));
        r.Set("redelivered", Napi::Boolean::New(e, c->info.redelivered));
        r.Set("resentCount", Napi::Number::New(e, static_cast<double>(c->info.resent)));
        r.Set("retryLimited", Napi::Boolean::New(e, c->info.retry_limited));
        r.Set("plaintext", SecretToJs(e, std::move(c->pt)));
        return r;
      });
}

Napi::Value StoreWrap::RetryRequest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string user = UserArg(info[0], "user");
  uint32_t device = U32(info[1], "device");
  if (!info[2].IsArray()) throw InvalidArg(env, "ids: expected an array of 16-byte message ids");
  Napi::Array a = info[2].As<Napi::Array>();
  if (a.Length() == 0 || a.Length() > RBX_RETRY_MAX_IDS) throw InvalidArg(env, "ids: 1 to 32 message ids");
  auto ids = std::make_shared<std::vector<uint8_t>>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    ByteView b = BytesN(a.Get(i), RBX_MESSAGE_IDBYTES, "ids[i]");
    ids->insert(ids->end(), b.p, b.p + b.n);
  }
  auto s = std::make_shared<SendOut>();
  return Enqueue(
      env,
      [user, device, ids, s](rbx_store* st) {
        return s->Run(1, 0, [&](SendOut& o) {
          return rbx_store_retry_request(st, &o.info, o.env.data(), o.env.size(), o.buf.data(), o.buf.size(),
                                         user.c_str(), device,
                                         reinterpret_cast<const uint8_t(*)[RBX_MESSAGE_IDBYTES]>(ids->data()),
                                         ids->size() / RBX_MESSAGE_IDBYTES);
        });
      },
      [s](Napi::Env e) -> Napi::Value { return SendJs(e, *s); });
}

Napi::Value StoreWrap::OnetimeExport(const Napi::CallbackInfo& info) {
  uint32_t n = U32(info[0], "count");
  if (n == 0 || n > 1000) throw InvalidArg(info.Env(), "count: 1 to 1000");
  auto ids = std::make_shared<std::vector<uint32_t>>(n);
  auto keys = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(n) * 32);
  auto got = std::make_shared<size_t>(0);
  return Enqueue(
      info.Env(),
      [n, ids, keys, got](rbx_store* st) {
        return rbx_store_onetime_export(st, ids->data(), reinterpret_cast<uint8_t(*)[32]>(keys->data()), n,
                                        got.get());
      },
      [ids, keys, got](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, *got);
        for (size_t i = 0; i < *got; i++) {
          Napi::Object o = Napi::Object::New(e);
          o.Set("id", Napi::Number::New(e, (*ids)[i]));
          o.Set("key", NewBytes(e, keys->data() + 32 * i, 32));
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}

// ---------------------------------------------------------------- organisation roots

Napi::Value StoreWrap::OrgInit(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<KeyOut>();
  return Enqueue(
      info.Env(), [out](rbx_store* st) { return rbx_store_org_init(st, out->pk); },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->pk, 32); });
}

Napi::Value StoreWrap::OrgKey(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<KeyOut>();
  return Enqueue(
      info.Env(), [out](rbx_store* st) { return rbx_store_org_key(st, out->pk); },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->pk, 32); });
}

Napi::Value StoreWrap::OrgCertify(const Napi::CallbackInfo& info) {
  ByteView k = BytesN(info[0], 32, "identity");
  auto id = std::make_shared<std::vector<uint8_t>>(k.p, k.p + 32);
  uint64_t expires = info[1].IsUndefined() ? 0 : U64(info[1], "expires");
  auto out = std::make_shared<Blob>();
  return Enqueue(
      info.Env(),
      [id, expires, out](rbx_store* st) {
        out->b.resize(RBX_CERT_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_org_certify(st, out->b.data(), out->b.size(), &n, id->data(), expires);
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->b.data(), out->b.size()); });
}

Napi::Value StoreWrap::OrgRevoke(const Napi::CallbackInfo& info) {
  ByteView k = BytesN(info[0], 32, "identity");
  auto id = std::make_shared<std::vector<uint8_t>>(k.p, k.p + 32);
  std::string reason = info[1].IsUndefined() ? std::string() : Str(info[1], "reason");
  auto out = std::make_shared<Blob>();
  return Enqueue(
      info.Env(),
      [id, reason, out](rbx_store* st) {
        out->b.resize(RBX_REVOCATION_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_org_revoke(st, out->b.data(), out->b.size(), &n, id->data(), reason.c_str());
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->b.data(), out->b.size()); });
}

Napi::Value StoreWrap::AddRevocation(const Napi::CallbackInfo& info) {
  auto rev = std::make_shared<std::vector<uint8_t>>(CopyBytes(info[0], "revocation"));
  return Enqueue(
      info.Env(), [rev](rbx_store* st) { return rbx_store_add_revocation(st, rev->data(), rev->size()); },
      nullptr);
}

Napi::Value StoreWrap::SetCertificate(const Napi::CallbackInfo& info) {
  auto cert = std::make_shared<std::vector<uint8_t>>(CopyBytes(info[0], "certificate"));
  return Enqueue(
      info.Env(), [cert](rbx_store* st) { return rbx_store_set_certificate(st, cert->data(), cert->size()); },
      nullptr);
}

Napi::Value StoreWrap::Certificate(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<Blob>();
  return Enqueue(
      info.Env(),
      [out](rbx_store* st) {
        out->b.resize(RBX_CERT_MAXBYTES);
        size_t n = 0;
        int rc = rbx_store_certificate(st, out->b.data(), out->b.size(), &n);
        out->b.resize(n);
        return rc;
      },
      [out](Napi::Env e) -> Napi::Value { return NewBytes(e, out->b.data(), out->b.size()); });
}

Napi::Value StoreWrap::Revocations(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<std::vector<rbx_org_revocation>>();
  return Enqueue(
      info.Env(),
      [out](rbx_store* st) {
        for (;;) {
          size_t count = 0;
          int rc = rbx_store_revocations(st, out->empty() ? nullptr : out->data(), out->size(), &count);
          if (rc != 0) return rc;
          bool fits = count <= out->size();
          out->resize(count);
          if (fits) return 0;
        }
      },
      [out](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, out->size());
        for (size_t i = 0; i < out->size(); i++) {
          const rbx_org_revocation& r = (*out)[i];
          Napi::Object o = Napi::Object::New(e);
          o.Set("org", NewBytes(e, r.org, 32));
          o.Set("identity", NewBytes(e, r.identity, 32));
          o.Set("revokedAt", Napi::Number::New(e, static_cast<double>(r.revoked_at)));
          o.Set("reason", Napi::String::New(e, r.reason));
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}

// ---------------------------------------------------------------- class

Napi::Function StoreWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "Store",
      {StaticMethod<&StoreWrap::Open>("open"),
       InstanceMethod<&StoreWrap::Close>("close"),
       InstanceAccessor<&StoreWrap::Closed>("closed"),
       InstanceMethod<&StoreWrap::CreateIdentity>("createIdentity"),
       InstanceMethod<&StoreWrap::Identity>("identity"),
       InstanceMethod<&StoreWrap::Bundle>("bundle"),
       InstanceMethod<&StoreWrap::AddContact>("addContact"),
       InstanceMethod<&StoreWrap::Contacts>("contacts"),
       InstanceMethod<&StoreWrap::ContactByIdentity>("contactByIdentity"),
       InstanceMethod<&StoreWrap::Encrypt>("encrypt"),
       InstanceMethod<&StoreWrap::EncryptBatch>("encryptBatch"),
       InstanceMethod<&StoreWrap::Decrypt>("decrypt"),
       InstanceMethod<&StoreWrap::OutboxNext>("outboxNext"),
       InstanceMethod<&StoreWrap::AckOutbox>("ackOutbox"),
       InstanceMethod<&StoreWrap::AckInbox>("ackInbox"),
       InstanceMethod<&StoreWrap::ResetSession>("resetSession"),
       InstanceMethod<&StoreWrap::EraseNow>("eraseNow"),
       InstanceMethod<&StoreWrap::Idle>("idle"),
       InstanceMethod<&StoreWrap::SessionInfo>("sessionInfo"),
       InstanceMethod<&StoreWrap::PrekeyStats>("prekeyStats"),
       InstanceMethod<&StoreWrap::Maintain>("maintain"),
       InstanceMethod<&StoreWrap::RotateIdentity>("rotateIdentity"),
       InstanceMethod<&StoreWrap::Rotations>("rotations"),
       InstanceMethod<&StoreWrap::History>("history"),
       InstanceMethod<&StoreWrap::RotateArchive>("rotateArchive"),
       InstanceMethod<&StoreWrap::ImportHistory>("importHistory"),
       InstanceMethod<&StoreWrap::Policy>("policy"),
       InstanceMethod<&StoreWrap::SetPolicy>("setPolicy"),
       InstanceMethod<&StoreWrap::Audit>("audit"),
       InstanceMethod<&StoreWrap::AuditVerify>("auditVerify"),
       InstanceMethod<&StoreWrap::SignRequest>("signRequest"),
       InstanceMethod<&StoreWrap::DeviceListFirstEntry>("deviceListFirstEntry"),
       InstanceMethod<&StoreWrap::AccountInit>("accountInit"),
       InstanceMethod<&StoreWrap::Account>("account"),
       InstanceMethod<&StoreWrap::DeviceListSign>("deviceListSign"),
       InstanceMethod<&StoreWrap::DeviceListCosign>("deviceListCosign"),
       InstanceMethod<&StoreWrap::DeviceListEntry>("deviceListEntry"),
       InstanceMethod<&StoreWrap::UserUpdate>("userUpdate"),
       InstanceMethod<&StoreWrap::UserPin>("userPin"),
       InstanceMethod<&StoreWrap::UserOrg>("userOrg"),
       InstanceMethod<&StoreWrap::UserDevices>("userDevices"),
       InstanceMethod<&StoreWrap::SendNeeds>("sendNeeds"),
       InstanceMethod<&StoreWrap::UserBundle>("userBundle"),
       InstanceMethod<&StoreWrap::Send>("send"),
       InstanceMethod<&StoreWrap::SendGet>("sendGet"),
       InstanceMethod<&StoreWrap::SendRebuild>("sendRebuild"),
       InstanceMethod<&StoreWrap::SendDone>("sendDone"),
       InstanceMethod<&StoreWrap::Receive>("receive"),
       InstanceMethod<&StoreWrap::RetryRequest>("retryRequest"),
       InstanceMethod<&StoreWrap::OnetimeExport>("onetimeExport"),
       InstanceMethod<&StoreWrap::OrgInit>("orgInit"),
       InstanceMethod<&StoreWrap::OrgKey>("orgKey"),
       InstanceMethod<&StoreWrap::OrgCertify>("orgCertify"),
       InstanceMethod<&StoreWrap::OrgRevoke>("orgRevoke"),
       InstanceMethod<&StoreWrap::AddRevocation>("addRevocation"),
       InstanceMethod<&StoreWrap::SetCertificate>("setCertificate"),
       InstanceMethod<&StoreWrap::Certificate>("certificate"),
       InstanceMethod<&StoreWrap::Revocations>("revocations")});
}

void InitStore(Napi::Env env, Napi::Object exports, AddonData* d) {
  Napi::Function store = StoreWrap::Init(env);
  d->store = Napi::Persistent(store);
  exports.Set("Store", store);
}

}  // namespace rbxnode
