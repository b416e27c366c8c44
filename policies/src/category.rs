//! Resource categories and the category database. Being written.
