//! Request bodies of the API and the console, read one way: a handler takes the body
//! as [`Unread`] (its last argument, which reads nothing), checks who asks and what
//! they may do, and only then opens it with the route's [`Route`] and the caller's name.
//! Opening takes a place among the bodies in flight (a few per caller, a bounded
//! number in all, anonymous ones in a pool of their own); reading goes at least at the
//! configured pace (a body that stalls or trickles is cut with 408 and its connection
//! closed), never past the route's limit (413), and what is kept in memory is reserved
//! from one budget shared by every body (503 when it is spent) and given back when the
//! reading ends. A multipart form must send its CSRF token as its first part: nothing
//! after it is read before the console has checked it (`multipart`).
//!
//! Must not: read a byte of a body before the handler opened it; hold more of a body
//! in memory than its route's limit or the shared budget allows.

mod multipart;
mod paced;
mod unread;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use multipart::{FormParts, error as multipart_error};
pub use paced::Pace;
pub use unread::{Reading, Unread};

/// How the API's and the console's request bodies must arrive (`[api.bodies]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BodyConfig {
    /// The longest wait for the next bytes of a body.
    #[serde(with = "policies::duration::one")]
    pub idle: Duration,
    /// Bytes per second a body must average once `grace` has passed ...
    pub min_rate: u64,
    /// ... counted from this long after the body began.
    #[serde(with = "policies::duration::one")]
    pub grace: Duration,
    /// Bodies one caller (a token, a person, or a client address before login) sends at once.
    pub per_caller: usize,
    /// Bodies of known callers in flight at once, all together ...
    pub in_flight: usize,
    /// ... and of login forms, whose senders are not known yet.
    pub anonymous_in_flight: usize,
    /// Memory all bodies read whole (JSON, forms, attachments) may hold at once, in MiB.
    pub memory_mib: usize,
}

impl Default for BodyConfig {
    fn default() -> BodyConfig {
        BodyConfig {
            idle: Duration::from_secs(10),
            min_rate: 4096,
            grace: Duration::from_secs(10),
            per_caller: 2,
            in_flight: 32,
            anonymous_in_flight: 16,
            memory_mib: 64,
        }
    }
}

impl BodyConfig {
    pub fn validate(&self, problems: &mut crate::app::problem::ConfigProblems) {
        if self.idle.is_zero() {
            problems.add("api.bodies.idle", "must be longer than nothing");
        }
        for (field, n) in [
            ("per_caller", self.per_caller),
            ("in_flight", self.in_flight),
            ("anonymous_in_flight", self.anonymous_in_flight),
            ("memory_mib", self.memory_mib),
        ] {
            if n == 0 {
                problems.add(format!("api.bodies.{field}"), "must be at least 1");
            }
        }
    }

    fn pace(&self) -> Pace {
        Pace { idle: self.idle, min_rate: self.min_rate, grace: self.grace }
    }
}

/// Every route that takes a body, with the most it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The console's login form, read before anyone is known: 16 KiB.
    Login,
    /// A console form of a few fields (a block list may be long): 1 MiB.
    Form,
    /// An API change of a few fields (an operator, a block, a mail system): 64 KiB.
    Change,
    /// A desk application or action: 1 MiB.
    Desk,
    /// A gateway's batch of observations: 16 MiB.
    Observations,
    /// An attachment sent alone (the API): 10 MiB.
    Attachment,
    /// An attachment in a multipart form (the console): 10 MiB and the form around it.
    AttachmentForm,
    /// An operator's IP list: `[api] max_body_mib`.
    List,
}

/// What a multipart form carries around its file.
const MULTIPART_SLACK: usize = 64 << 10;

impl Route {
    /// The most bytes this route reads.
    pub fn limit(self, list_bytes: usize) -> usize {
        match self {
            Route::Login => 16 << 10,
            Route::Form | Route::Desk => 1 << 20,
            Route::Change => 64 << 10,
            Route::Observations => 16 << 20,
            Route::Attachment => desk::attachment::MAX_BYTES,
            Route::AttachmentForm => desk::attachment::MAX_BYTES + MULTIPART_SLACK,
            Route::List => list_bytes,
        }
    }

    fn anonymous(self) -> bool {
        self == Route::Login
    }
}

/// Why a body was not read, or not whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than this request takes ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("the body arrived slower than {0} bytes per second; send it faster")]
    TooSlow(u64),
    #[error("no bytes of the body came for {0:?}")]
    Stalled(Duration),
    #[error("{0} already sends as many request bodies as one caller may at once; wait for them to finish")]
    Busy(String),
    #[error("the server takes no more request bodies just now; try again shortly")]
    Full,
    #[error("the memory for request bodies is spent just now; try again shortly")]
    Memory,
    #[error("the body broke off: {0}")]
    Broken(String),
    #[error("the body is not {0}")]
    Malformed(String),
    #[error("send the body as Content-Type: {0}")]
    ContentType(&'static str),
    #[error("{0}")]
    Form(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow(_) | BodyError::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            BodyError::Full | BodyError::Memory => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::Broken(_) | BodyError::Form(_) => StatusCode::BAD_REQUEST,
            BodyError::Malformed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            BodyError::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

impl From<BodyError> for crate::http::api::ApiError {
    fn from(e: BodyError) -> Self {
        crate::http::api::ApiError::new(e.status(), e.to_string())
    }
}

/// The bodies in flight on the listener, shared by the API and the console.
pub struct Bodies {
    config: BodyConfig,
    /// The `[api] max_body_mib` of lists, in bytes.
    list_bytes: usize,
    known: Arc<Semaphore>,
    anonymous: Arc<Semaphore>,
    callers: Mutex<HashMap<String, usize>>,
    /// KiB of memory.
    memory: Arc<Semaphore>,
}

impl Bodies {
    pub fn new(config: &BodyConfig, list_bytes: usize) -> Arc<Bodies> {
        let kib = (config.memory_mib.max(1) << 10).min(Semaphore::MAX_PERMITS);
        Arc::new(Bodies {
            config: config.clone(),
            list_bytes,
            known: Arc::new(Semaphore::new(config.in_flight.max(1))),
            anonymous: Arc::new(Semaphore::new(config.anonymous_in_flight.max(1))),
            callers: Mutex::new(HashMap::new()),
            memory: Arc::new(Semaphore::new(kib)),
        })
    }

    /// A place in flight for `who`'s body on `route`, or why there is none.
    fn enter(self: &Arc<Self>, who: &str, route: Route) -> Result<Slot, BodyError> {
        // The caller's own count first: a caller over it is told so, whatever the others do.
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        if callers.get(who).is_some_and(|&n| n >= self.config.per_caller.max(1)) {
            return Err(BodyError::Busy(who.to_string()));
        }
        let pool = if route.anonymous() { &self.anonymous } else { &self.known };
        let place = Arc::clone(pool).try_acquire_owned().map_err(|_| BodyError::Full)?;
        *callers.entry(who.to_string()).or_insert(0) += 1;
        Ok(Slot { bodies: Arc::clone(self), who: who.to_string(), _place: place, memory: None })
    }

    /// Bodies in flight now, all callers together.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }
}

/// One body's place in flight and the memory it holds, both given back when dropped.
pub struct Slot {
    bodies: Arc<Bodies>,
    who: String,
    _place: OwnedSemaphorePermit,
    memory: Option<OwnedSemaphorePermit>,
}

impl Slot {
    /// Reserves `bytes` more of the shared memory for this body.
    pub fn hold(&mut self, bytes: usize) -> Result<(), BodyError> {
        let kib = u32::try_from(bytes.div_ceil(1024)).map_err(|_| BodyError::Memory)?;
        let permit = Arc::clone(&self.bodies.memory).try_acquire_many_owned(kib).map_err(|_| BodyError::Memory)?;
        match &mut self.memory {
            Some(held) => held.merge(permit),
            None => self.memory = Some(permit),
        }
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut callers = self.bodies.callers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = callers.get_mut(&self.who) {
            *count -= 1;
            if *count == 0 {
                callers.remove(&self.who);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_caller_and_in_all_and_given_back() {
        let config = BodyConfig { per_caller: 2, in_flight: 3, anonymous_in_flight: 1, ..BodyConfig::default() };
        let bodies = Bodies::new(&config, 1 << 20);
        let a1 = bodies.enter("token:a", Route::Change).unwrap();
        let _a2 = bodies.enter("token:a", Route::Change).unwrap();
        assert!(matches!(bodies.enter("token:a", Route::Change), Err(BodyError::Busy(_))));
        let _b1 = bodies.enter("token:b", Route::Change).unwrap();
        assert!(matches!(bodies.enter("token:c", Route::Change), Err(BodyError::Full)), "three in all");
        let _anon = bodies.enter("address:192.0.2.1", Route::Login).unwrap();
        assert!(matches!(bodies.enter("address:192.0.2.2", Route::Login), Err(BodyError::Full)));
        drop(a1);
        assert_eq!(bodies.in_flight(), 3);
        let _c1 = bodies.enter("token:c", Route::Change).expect("a place given back is taken again");
    }

    #[test]
    fn memory_is_reserved_from_one_budget_and_returned() {
        let config = BodyConfig { memory_mib: 1, ..BodyConfig::default() };
        let bodies = Bodies::new(&config, 1 << 20);
        let mut one = bodies.enter("token:a", Route::Desk).unwrap();
        one.hold(700 << 10).unwrap();
        let mut two = bodies.enter("token:b", Route::Desk).unwrap();
        assert!(matches!(two.hold(400 << 10), Err(BodyError::Memory)));
        drop(one);
        two.hold(1 << 20).expect("the first body's memory came back");
    }
}
