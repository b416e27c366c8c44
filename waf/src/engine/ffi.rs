//! The binding of libmodsecurity 3's C API (`msc_*`), opened at run time with `dlopen`:
//! one Rust type per C object (`Library` for the library and its `ModSecurity`, `RuleSet`
//! for a `RulesSet`, `RawTransaction` for a `Transaction`), each freed by its `Drop`.
//! This is the crate's only module with `unsafe` code.
//!
//! Must not: decide anything (it passes bytes in and interventions and log lines out);
//! hand a raw pointer outside this module.
//!
//! # Safety rules (every `unsafe` block below relies on these)
//!
//! 1. **Symbols.** Every function pointer is read from the library once, in
//!    [`Library::open`], with the C signature declared in `modsecurity/*.h` of 3.0.x
//!    (the API is unchanged across 3.0.x). The pointers live in [`Api`], which is only
//!    reachable through an `Arc<Library>` that also owns the `libloading::Library`: the
//!    code they point to stays mapped as long as anything can call it.
//! 2. **Ownership and order of frees.** A `RuleSet` holds an `Arc<Library>`; a
//!    `RawTransaction` holds an `Arc<RuleSet>`. So a transaction is cleaned up before its
//!    rule set, a rule set before `msc_cleanup`, and `msc_cleanup` before `dlclose`.
//! 3. **Threads.** The `ModSecurity` object is written only in `Library::open` (connector
//!    name, log callback) and read afterwards; its shared collections take their own
//!    lock. A `RulesSet` is read-only once loaded and is shared by transactions on any
//!    thread (libmodsecurity's multi-threaded connectors do the same). The rule parser
//!    (bison/flex with global state) is not re-entrant: every `msc_rules_add` runs under
//!    the process-wide [`PARSER`] lock. A `RawTransaction` is used by one thread at a time
//!    (`&mut self` on every call), hence `Send` and not `Sync`.
//! 4. **Strings.** Every string passed to C is a `CString` (no interior NUL) or a pointer
//!    and a length that outlive the call; libmodsecurity copies what it keeps. Strings C
//!    allocates for us (`msc_rules_add`'s error, an intervention's `url` and `log`) are
//!    copied into Rust and released with `free(3)`, exactly once.
//! 5. **The log callback** is called synchronously, on the thread inside an `msc_*` call
//!    of the transaction whose `logCbData` it receives. That pointer is the `Collector` the
//!    transaction owns (a `Box` turned into a raw pointer at creation, freed after
//!    `msc_transaction_cleanup`), and nothing else touches the sink during an `msc_*`
//!    call. The callback never unwinds into C (`catch_unwind`).

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::collect::Collector;

/// `ModSecurityIntervention` of `modsecurity/intervention.h`.
#[repr(C)]
struct Intervention {
    status: c_int,
    pause: c_int,
    url: *mut c_char,
    log: *mut c_char,
    disruptive: c_int,
}

type LogCb = unsafe extern "C" fn(*mut c_void, *const c_void);
type Msc = *mut c_void;
type Rules = *mut c_void;
type Tx = *mut c_void;

/// The C functions the binding calls, read from the library once (rule 1).
struct Api {
    init: unsafe extern "C" fn() -> Msc,
    who_am_i: unsafe extern "C" fn(Msc) -> *const c_char,
    set_connector_info: unsafe extern "C" fn(Msc, *const c_char),
    set_log_cb: unsafe extern "C" fn(Msc, LogCb),
    cleanup: unsafe extern "C" fn(Msc),
    create_rules_set: unsafe extern "C" fn() -> Rules,
    rules_add: unsafe extern "C" fn(Rules, *const c_char, *mut *const c_char) -> c_int,
    rules_cleanup: unsafe extern "C" fn(Rules) -> c_int,
    new_transaction_with_id: unsafe extern "C" fn(Msc, Rules, *mut c_char, *mut c_void) -> Tx,
    process_connection: unsafe extern "C" fn(Tx, *const c_char, c_int, *const c_char, c_int) -> c_int,
    process_uri: unsafe extern "C" fn(Tx, *const c_char, *const c_char, *const c_char) -> c_int,
    add_n_request_header: unsafe extern "C" fn(Tx, *const u8, usize, *const u8, usize) -> c_int,
    process_request_headers: unsafe extern "C" fn(Tx) -> c_int,
    append_request_body: unsafe extern "C" fn(Tx, *const u8, usize) -> c_int,
    process_request_body: unsafe extern "C" fn(Tx) -> c_int,
    add_n_response_header: unsafe extern "C" fn(Tx, *const u8, usize, *const u8, usize) -> c_int,
    process_response_headers: unsafe extern "C" fn(Tx, c_int, *const c_char) -> c_int,
    append_response_body: unsafe extern "C" fn(Tx, *const u8, usize) -> c_int,
    process_response_body: unsafe extern "C" fn(Tx) -> c_int,
    update_status_code: unsafe extern "C" fn(Tx, c_int) -> c_int,
    intervention: unsafe extern "C" fn(Tx, *mut Intervention) -> c_int,
    process_logging: unsafe extern "C" fn(Tx) -> c_int,
    transaction_cleanup: unsafe extern "C" fn(Tx),
}

/// The rule parser of libmodsecurity keeps global state: one load at a time (rule 3).
static PARSER: Mutex<()> = Mutex::new(());

/// The opened library and its one `ModSecurity` object.
pub(crate) struct Library {
    api: Api,
    msc: Msc,
    version: String,
    // Dropped last: the code `api` points to (rule 1).
    _lib: libloading::Library,
}

// SAFETY: rule 3 — the ModSecurity object is read-only after `open`, its collections
// lock themselves; the function pointers are plain code addresses.
unsafe impl Send for Library {}
// SAFETY: as above.
unsafe impl Sync for Library {}

/// Copies a C string into Rust and frees it with free(3) (rule 4).
fn take_c_string(ptr: *mut c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` is a NUL-terminated string libmodsecurity allocated with strdup and
    // handed to us; it is read once here and freed once.
    let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned();
    // SAFETY: allocated with malloc (strdup) by the library, not freed elsewhere.
    unsafe { libc::free(ptr.cast()) };
    Some(text)
}

impl Library {
    /// Opens libmodsecurity, reads its symbols, creates the `ModSecurity` object and sets
    /// the log callback that routes each line to its transaction's sink.
    pub(crate) fn open(path: &Path, connector: &str) -> Result<Arc<Library>, String> {
        // SAFETY: loading a shared library runs its initialisers; libmodsecurity's are
        // ordinary C++ static constructors.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: rule 1 — the declared type is the header's signature of $name.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.map_err(|e| format!("{}: {e}", $name))?
            };
        }
        let api = Api {
            init: sym!("msc_init"),
            who_am_i: sym!("msc_who_am_i"),
            set_connector_info: sym!("msc_set_connector_info"),
            set_log_cb: sym!("msc_set_log_cb"),
            cleanup: sym!("msc_cleanup"),
            create_rules_set: sym!("msc_create_rules_set"),
            rules_add: sym!("msc_rules_add"),
            rules_cleanup: sym!("msc_rules_cleanup"),
            new_transaction_with_id: sym!("msc_new_transaction_with_id"),
            process_connection: sym!("msc_process_connection"),
            process_uri: sym!("msc_process_uri"),
            add_n_request_header: sym!("msc_add_n_request_header"),
            process_request_headers: sym!("msc_process_request_headers"),
            append_request_body: sym!("msc_append_request_body"),
            process_request_body: sym!("msc_process_request_body"),
            add_n_response_header: sym!("msc_add_n_response_header"),
            process_response_headers: sym!("msc_process_response_headers"),
            append_response_body: sym!("msc_append_response_body"),
            process_response_body: sym!("msc_process_response_body"),
            update_status_code: sym!("msc_update_status_code"),
            intervention: sym!("msc_intervention"),
            process_logging: sym!("msc_process_logging"),
            transaction_cleanup: sym!("msc_transaction_cleanup"),
        };
        // SAFETY: msc_init takes nothing and returns a new object or NULL.
        let msc = unsafe { (api.init)() };
        if msc.is_null() {
            return Err("msc_init returned no object".into());
        }
        let connector = CString::new(connector).map_err(|e| e.to_string())?;
        // SAFETY: `msc` is live; the connector string is copied by the library; the
        // callback has the ModSecLogCb signature (rule 5). Nothing else uses `msc` yet.
        let version = unsafe {
            (api.set_connector_info)(msc, connector.as_ptr());
            (api.set_log_cb)(msc, on_log);
            let who = (api.who_am_i)(msc);
            if who.is_null() { String::new() } else { CStr::from_ptr(who).to_string_lossy().into_owned() }
        };
        Ok(Arc::new(Library { api, msc, version, _lib: lib }))
    }

    /// What the library calls itself, e.g. `ModSecurity v3.0.9 (Linux)`.
    pub(crate) fn version(&self) -> &str {
        &self.version
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: rule 2 — every rule set (and so every transaction) holding this library
        // is gone; `msc` was created by msc_init and is freed once.
        unsafe { (self.api.cleanup)(self.msc) };
    }
}

/// The log callback: hands the line to the transaction's sink (rule 5).
unsafe extern "C" fn on_log(data: *mut c_void, line: *const c_void) {
    if data.is_null() || line.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: rule 5 — `data` is the `*mut Collector` of the transaction inside whose
        // msc_* call we are, and nothing else holds a reference to it now; with
        // TextLogProperty `line` is a NUL-terminated C string valid for this call.
        let (sink, text) = unsafe { (&mut *(data as *mut Collector), CStr::from_ptr(line as *const c_char)) };
        sink.line(text.to_bytes());
    }));
}

/// A loaded `RulesSet`.
pub(crate) struct RuleSet {
    lib: Arc<Library>,
    rules: Rules,
}

// SAFETY: rule 3 — a loaded RulesSet is only read by transactions.
unsafe impl Send for RuleSet {}
// SAFETY: as above.
unsafe impl Sync for RuleSet {}

impl RuleSet {
    /// Loads `parts` in turn into one new rule set. The first part the parser refuses
    /// stops the load: its index and the parser's own message come back, and the
    /// half-built set is freed.
    pub(crate) fn load(lib: &Arc<Library>, parts: &[&str]) -> Result<Arc<RuleSet>, (usize, String)> {
        // SAFETY: msc_create_rules_set takes nothing and returns a new set.
        let rules = unsafe { (lib.api.create_rules_set)() };
        if rules.is_null() {
            return Err((0, "msc_create_rules_set returned no object".into()));
        }
        let set = RuleSet { lib: lib.clone(), rules };
        let _parser = PARSER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (index, part) in parts.iter().enumerate() {
            let text = CString::new(*part).map_err(|_| (index, "the rules contain a NUL byte".to_string()))?;
            let mut error: *const c_char = std::ptr::null();
            // SAFETY: rule 3 — under the parser lock; `set.rules` is live and not yet
            // shared; `text` outlives the call; `error` is set only on failure.
            let loaded = unsafe { (lib.api.rules_add)(set.rules, text.as_ptr(), &mut error) };
            if loaded < 0 {
                let message = take_c_string(error.cast_mut()).unwrap_or_else(|| "the rules do not load".into());
                return Err((index, message.trim().to_string()));
            }
        }
        Ok(Arc::new(set))
    }
}

impl Drop for RuleSet {
    fn drop(&mut self) {
        // SAFETY: rule 2 — no transaction uses this set any more; freed once.
        unsafe { (self.lib.api.rules_cleanup)(self.rules) };
    }
}

/// One libmodsecurity transaction and the sink its log lines go to.
pub(crate) struct RawTransaction {
    set: Arc<RuleSet>,
    tx: Tx,
    sink: *mut Collector,
}

// SAFETY: rule 3 — used by one thread at a time through `&mut self`; the collector is
// plain owned data.
unsafe impl Send for RawTransaction {}

/// A disruptive action the engine asks for.
pub(crate) struct Disruption {
    pub(crate) status: u16,
    pub(crate) log: Option<String>,
}

impl RawTransaction {
    /// Starts a transaction on `set` whose log lines go to `sink`; `id` becomes the
    /// engine's UNIQUE_ID.
    pub(crate) fn new(set: &Arc<RuleSet>, id: &CStr, sink: Collector) -> RawTransaction {
        let sink = Box::into_raw(Box::new(sink));
        let api = &set.lib.api;
        // SAFETY: `msc` and `rules` are live (rule 2); the id is copied by the library
        // (it takes `char *` but does not write to it); the sink pointer stays valid
        // until `drop` frees it after msc_transaction_cleanup (rule 5).
        let tx = unsafe { (api.new_transaction_with_id)(set.lib.msc, set.rules, id.as_ptr().cast_mut(), sink.cast()) };
        assert!(!tx.is_null(), "msc_new_transaction_with_id returned no transaction");
        RawTransaction { set: set.clone(), tx, sink }
    }

    fn api(&self) -> &Api {
        &self.set.lib.api
    }

    pub(crate) fn connection(&mut self, client: &CStr, client_port: u16, server: &CStr, server_port: u16) {
        // SAFETY: live transaction, strings valid for the call (rule 4).
        unsafe {
            (self.api().process_connection)(
                self.tx,
                client.as_ptr(),
                c_int::from(client_port),
                server.as_ptr(),
                c_int::from(server_port),
            )
        };
    }

    pub(crate) fn uri(&mut self, uri: &CStr, method: &CStr, version: &CStr) {
        // SAFETY: live transaction, strings valid for the call (rule 4).
        unsafe { (self.api().process_uri)(self.tx, uri.as_ptr(), method.as_ptr(), version.as_ptr()) };
    }

    pub(crate) fn request_header(&mut self, name: &[u8], value: &[u8]) {
        // SAFETY: pointer and length of live slices; the library copies them (rule 4).
        unsafe { (self.api().add_n_request_header)(self.tx, name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
    }

    pub(crate) fn request_headers_done(&mut self) {
        // SAFETY: live transaction.
        unsafe { (self.api().process_request_headers)(self.tx) };
    }

    pub(crate) fn request_body(&mut self, body: &[u8]) {
        // SAFETY: pointer and length of a live slice, copied by the library (rule 4).
        unsafe { (self.api().append_request_body)(self.tx, body.as_ptr(), body.len()) };
    }

    pub(crate) fn request_body_done(&mut self) {
        // SAFETY: live transaction.
        unsafe { (self.api().process_request_body)(self.tx) };
    }

    pub(crate) fn response_header(&mut self, name: &[u8], value: &[u8]) {
        // SAFETY: pointer and length of live slices; the library copies them (rule 4).
        unsafe { (self.api().add_n_response_header)(self.tx, name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
    }

    pub(crate) fn response_headers_done(&mut self, status: u16, protocol: &CStr) {
        // SAFETY: live transaction, string valid for the call.
        unsafe { (self.api().process_response_headers)(self.tx, c_int::from(status), protocol.as_ptr()) };
    }

    pub(crate) fn response_body(&mut self, body: &[u8]) {
        // SAFETY: pointer and length of a live slice, copied by the library (rule 4).
        unsafe { (self.api().append_response_body)(self.tx, body.as_ptr(), body.len()) };
    }

    pub(crate) fn response_body_done(&mut self) {
        // SAFETY: live transaction.
        unsafe { (self.api().process_response_body)(self.tx) };
    }

    pub(crate) fn status_code(&mut self, status: u16) {
        // SAFETY: live transaction.
        unsafe { (self.api().update_status_code)(self.tx, c_int::from(status)) };
    }

    pub(crate) fn logging(&mut self) {
        // SAFETY: live transaction.
        unsafe { (self.api().process_logging)(self.tx) };
    }

    /// Asks whether the engine wants the transaction stopped (after every phase, as the
    /// nginx connector does).
    pub(crate) fn intervention(&mut self) -> Option<Disruption> {
        let mut it =
            Intervention { status: 200, pause: 0, url: std::ptr::null_mut(), log: std::ptr::null_mut(), disruptive: 0 };
        // SAFETY: live transaction; `it` is a valid ModSecurityIntervention the library
        // fills, possibly with strdup'ed `url` and `log` that we free (rule 4).
        let disruptive = unsafe { (self.api().intervention)(self.tx, &mut it) };
        let _ = take_c_string(it.url);
        let log = take_c_string(it.log);
        (disruptive != 0 || it.disruptive != 0).then(|| Disruption {
            status: u16::try_from(it.status).ok().filter(|s| (100..=599).contains(s)).unwrap_or(403),
            log,
        })
    }

    /// The sink, for reading what was collected once no `msc_*` call is running.
    pub(crate) fn sink(&mut self) -> &mut Collector {
        // SAFETY: rule 5 — no msc_* call is in progress (we hold `&mut self`), so this is
        // the only reference; the box lives until `drop`.
        unsafe { &mut *self.sink }
    }
}

impl Drop for RawTransaction {
    fn drop(&mut self) {
        // SAFETY: rule 2 — freed once, before its rule set; then the sink, which the
        // library no longer references.
        unsafe {
            (self.api().transaction_cleanup)(self.tx);
            drop(Box::from_raw(self.sink));
        }
    }
}
