//! Pure policy model: the Kazakhstan working-day calendar (and, to come, resource
//! categories, the category database and per-organisation access policies). No I/O:
//! callers pass text in and get values out.

pub mod calendar;
