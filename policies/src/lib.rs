//! Pure policy model: resource categories and the exempt set, the category database
//! (domain → categories), per-organisation access policies and their validity, and the
//! Kazakhstan working-day calendar. No I/O: callers pass text in and get values out.

pub mod calendar;
pub mod category;
pub mod policy;
