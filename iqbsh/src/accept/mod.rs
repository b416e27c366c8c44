//! Accepting connections: the listeners and their accept loops (`server`), the
//! explicit proxy's requests (`explicit`: plain HTTP and `CONNECT`), admission of a
//! client by its source address (`admission`), the context of one connection
//! (`conn`) and the watch on its source's standing that cuts it when the catalog
//! changes (`standing`).
//!
//! Must not: relay bytes to an origin itself (the `tls` and `http` stages do) or decide
//! categories (the rules in `decide` do).

pub(crate) mod admission;
pub(crate) mod conn;
pub(crate) mod explicit;
pub(crate) mod server;
pub(crate) mod standing;
