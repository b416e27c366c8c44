//! Defacement protection of rule 18 (appendix 4): a reference copy of each protected
//! site's files and pages, checks on a cycle, unauthorised changes put back automatically
//! and reported with their evidence.
//!
//! Must not: write outside a site's root or delete a file it did not see in the
//! reference; restore from a partial view of a site.
