//! A site's files: the SFTP session (`remote`), the names it accepts (`names`), the
//! listing of a root (`walk`), the reference copy on this machine (`reference`), a look
//! compared with the reference (`scan`) and the restore (`restore`).
//!
//! Must not: write on a server outside the site's root, or remove a file it has not kept.

pub mod names;
pub mod reference;
pub mod remote;
pub mod restore;
pub mod scan;
pub mod walk;
