//! The catalog as the data plane reads it, with no database behind it: IP prefixes
//! ([`Net`]), the longest-prefix tables ([`lpm`]), the immutable [`Snapshot`] that
//! answers "who owns this source address" on every packet, connection and session, the
//! [`SnapshotHandle`] it is swapped through, the services organisations are granted
//! besides the web proxy ([`grants`]) and the operator of each link, and the sending half of the observation
//! sink ([`observe`]) through which the gateways report unknown sources.
//!
//! Must not: open a database, send mail or block. The control plane (the `catalog`
//! crate) builds snapshots from the store and feeds them in; the proxy, the packet gate
//! and the relay only read.

pub mod grants;
pub mod lpm;
pub mod net;
pub mod observe;
mod snapshot;

pub use grants::{Grant, Opens, Ports, Proto, Service};
pub use net::{Family, Net, NetError};
pub use observe::{Observation, ObservationSink, now_ms};
pub use snapshot::{BlockRef, Class, OrgRef, Owned, Snapshot, SnapshotError, SnapshotHandle};
