//! Pure policy model: resource categories, the category database, per-organisation policies and the working-day calendar. No I/O.
