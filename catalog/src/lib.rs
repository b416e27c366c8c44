//! The IP catalog: which prefixes belong to which user organisation and which telecom
//! operator connects them. Holds the model, the store (SQLite or PostgreSQL), the
//! operator list formats and their checked import, and the immutable lookup snapshot
//! the gateways read on every connection.

pub mod format;
pub mod import;
pub mod ingest;
pub mod lpm;
pub mod model;
pub mod net;
pub mod reconcile;
pub mod snapshot;
pub mod store;

pub use format::{Format, Problem, RawRow};
pub use model::{Assignment, Bin, Change, Operator, Organisation, Role};
pub use net::Net;
pub use store::{Store, StoreError};
