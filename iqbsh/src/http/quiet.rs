//! When a multiplexed (HTTP/2) client connection has gone quiet: no request
//! in flight, from its arrival until its response body is done, for the idle
//! limit. HTTP/1.1 gets this from hyper's header-read timer between requests;
//! HTTP/2 has no such timer, so a bumped HTTP/2 connection would otherwise
//! stay open for ever. [`Busy::enter`] marks a request in flight; the guard
//! rides on the response body so a long download is not idle.
//!
//! Must not: look at the requests; it only counts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use http::Response;
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::http::page::ProxyBody;

/// Requests in flight on one connection, and since when there have been none.
pub(crate) struct Busy {
    epoch: Instant,
    inflight: AtomicUsize,
    /// Milliseconds after `epoch` when the last request ended.
    idle_since: AtomicU64,
}

/// One request in flight; dropping it ends the request.
pub(crate) struct InFlight(Arc<Busy>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Relaxed) == 1 {
            self.0.idle_since.store(self.0.elapsed_ms(), Relaxed);
        }
    }
}

impl Busy {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self { epoch: Instant::now(), inflight: AtomicUsize::new(0), idle_since: AtomicU64::new(0) })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks a request in flight until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Completes once no request has been in flight for `limit`.
    pub(crate) async fn idle_for(&self, limit: Duration) {
        loop {
            if self.inflight.load(Relaxed) == 0 {
                let since = self.epoch + Duration::from_millis(self.idle_since.load(Relaxed));
                let Some(quiet_at) = since.checked_add(limit) else { return std::future::pending().await };
                if quiet_at <= Instant::now() && self.inflight.load(Relaxed) == 0 {
                    return;
                }
                tokio::time::sleep_until(quiet_at).await;
            } else {
                tokio::time::sleep(limit).await;
            }
        }
    }
}

/// Keeps `guard` alive until the response body is done or dropped.
pub(crate) fn hold(response: Response<ProxyBody>, guard: InFlight) -> Response<ProxyBody> {
    response.map(|body| {
        body.map_frame(move |frame| {
            let _ = &guard;
            frame
        })
        .boxed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quiet_only_after_the_last_request_ends() {
        let busy = Busy::new();
        let (first, second) = (busy.enter(), busy.enter());
        let limit = Duration::from_millis(20);
        let waited = tokio::time::timeout(Duration::from_millis(200), busy.idle_for(limit)).await;
        assert!(waited.is_err(), "requests in flight are never idle");
        drop(first);
        let waited = tokio::time::timeout(Duration::from_millis(200), busy.idle_for(limit)).await;
        assert!(waited.is_err(), "one request still in flight");
        drop(second);
        tokio::time::timeout(Duration::from_secs(10), busy.idle_for(limit)).await.expect("idle");
    }
}
