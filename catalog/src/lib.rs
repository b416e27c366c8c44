//! The IP catalog's own logic: operators' list formats (CSV, JSON) and their checked,
//! all-or-nothing import; the reconciler that turns unknown source addresses into
//! notices to operators and, past the five-working-day deadline, into blocks; the
//! writer that receives the gateways' observations; and the publisher that keeps the
//! data plane's [`snapshot::Snapshot`] in step with the store.
//!
//! Must not: hold records itself (the `store` crate does) or run in the data plane (the
//! gateways read only the `snapshot` crate).

pub mod format;
pub mod import;
pub mod ingest;
pub mod publish;
pub mod reconcile;

pub use format::{Format, Problem, RawRow};
pub use import::{Disclosure, ImportError, ImportOutcome, Request as ImportRequest, import};
