//! What `perimeter up` runs and the helpers they share, one room per subject: each
//! holds its configuration section, starts its work and says how it stops. The rooms
//! wire the library crates together (the catalog's publisher and reconciler, the web
//! proxy with its rules and threat feeds, the mail relay with its registry and traffic
//! watch, the packet gate, the request desk); `http/` and `cli/` sit on top of them.
//!
//! Must not: name `http/`, `cli/` or the assembled configuration (`config.rs`); a room
//! takes the sections it needs, never the whole file.

pub mod ca;
pub mod calendar;
pub mod catalog;
pub mod feeds;
pub mod gate;
pub mod grant;
pub mod log;
pub mod mail;
pub mod output;
pub mod problem;
pub mod reconcile;
pub mod requests;
pub mod service;
pub mod signals;
pub mod store;
pub mod systemd;
pub mod web;
