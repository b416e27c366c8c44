//! Accepting connections: the listeners and their accept loops (`server`), the
//! explicit proxy's requests (`explicit`: plain HTTP and `CONNECT`), admission of a
//! client by its source address (`admission`), the context of one connection
//! (`conn`), the watch on its source's standing that cuts it when the catalog
//! changes (`standing`), and the lingering close every client connection ends with
//! (`linger`).
//!
//! Must not: relay bytes to an origin itself (the `tls` and `http` stages do) or decide
//! categories (the rules in `decide` do).

pub(crate) mod admission;
pub(crate) mod conn;
pub(crate) mod explicit;
pub(crate) mod linger;
pub(crate) mod server;
pub(crate) mod standing;
