//! A body read at a pace: each wait for the next bytes is bounded, the average rate is
//! checked after a grace, and the bytes counted against the route's limit.
//!
//! Must not: wait longer than `idle` for any bytes, or hand on a byte past the limit.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::BodyError;

/// How a body must arrive.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The longest wait for the next bytes.
    pub idle: Duration,
    /// Bytes per second the body must average once `grace` has passed.
    pub min_rate: u64,
    pub grace: Duration,
}

impl Pace {
    /// Whether `read` bytes after `elapsed` are too few.
    fn too_slow(&self, read: usize, elapsed: Duration) -> bool {
        elapsed > self.grace && (read as f64) < self.min_rate as f64 * (elapsed - self.grace).as_secs_f64()
    }
}

/// A body being read.
pub struct Paced {
    body: Body,
    pace: Pace,
    limit: usize,
    read: usize,
    start: Instant,
    done: bool,
}

impl Paced {
    pub fn new(body: Body, pace: Pace, limit: usize) -> Paced {
        Paced { body, pace, limit, read: 0, start: Instant::now(), done: false }
    }

    /// The next bytes of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        while !self.done {
            let waited = tokio::time::timeout(self.pace.idle, self.body.frame()).await;
            let frame = match waited {
                Err(_) => return Err(BodyError::Stalled(self.pace.idle)),
                Ok(None) => {
                    self.done = true;
                    return Ok(None);
                }
                Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            // Trailers carry nothing a route reads.
            let Ok(data) = frame.into_data() else { continue };
            self.read += data.len();
            if self.read > self.limit {
                return Err(BodyError::TooLarge { limit: self.limit });
            }
            if self.pace.too_slow(self.read, self.start.elapsed()) {
                return Err(BodyError::TooSlow(self.pace.min_rate));
            }
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// The most bytes this body may have.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_only_after_the_grace() {
        let pace = Pace { idle: Duration::from_secs(10), min_rate: 1000, grace: Duration::from_secs(5) };
        assert!(!pace.too_slow(0, Duration::from_secs(5)));
        assert!(!pace.too_slow(1000, Duration::from_secs(6)));
        assert!(pace.too_slow(999, Duration::from_secs(6)));
        assert!(pace.too_slow(10_000, Duration::from_secs(16)));
    }

    #[tokio::test]
    async fn a_body_past_its_limit_stops_there() {
        let mut paced = Paced::new(
            Body::from(vec![7u8; 100]),
            Pace { idle: Duration::from_secs(1), min_rate: 0, grace: Duration::ZERO },
            99,
        );
        assert!(matches!(paced.chunk().await, Err(BodyError::TooLarge { limit: 99 })));
        let mut paced = Paced::new(
            Body::from(vec![7u8; 99]),
            Pace { idle: Duration::from_secs(1), min_rate: 0, grace: Duration::ZERO },
            99,
        );
        assert_eq!(paced.chunk().await.unwrap().unwrap().len(), 99);
        assert!(paced.chunk().await.unwrap().is_none());
    }
}
