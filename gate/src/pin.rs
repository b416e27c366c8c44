//! Keeping the XDP gate in force when the process dies without stopping it (SIGKILL, a
//! crash, the OOM killer): each interface's XDP link is pinned in bpffs, so the kernel
//! keeps the program and its tries attached after the process is gone, enforcing the
//! last catalog it had. A gate that starts on an interface with such a link takes it
//! over, replacing the program atomically (no moment without a gate). A gate stopped
//! properly unpins and detaches, as before. Pins are named by the network namespace
//! and the interface index, so gates in different namespaces never meet.
//!
//! The pins live in `[gate] pin_dir` (default `/sys/fs/bpf/perimeter`; bpffs is mounted
//! at `/sys/fs/bpf` if it is not). Without bpffs there the links are not pinned: the
//! gate then fails open when killed, and says so at start.
//!
//! Must not: take over a link of another namespace or interface, or leave a pin behind
//! on a proper stop.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::XdpLink;

/// Where bpffs is usually mounted (and is mounted if it is not), and the default
/// directory of the gate's pins in it.
const BPFFS: &str = "/sys/fs/bpf";
pub(super) const DEFAULT_DIR: &str = "/sys/fs/bpf/perimeter";
/// `BPF_FS_MAGIC`, the file system type of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The pin of one interface's link in this network namespace, in `dir`; `None` when
/// `dir` is not on bpffs.
pub(super) fn path(dir: &Path, ifindex: u32) -> Option<PathBuf> {
    let ready = ensure_bpffs(dir);
    ready.map_err(|e| tracing::warn!(error = %e, "no bpffs for the gate's pins: it fails open if killed")).ok()?;
    let netns = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).unwrap_or(0);
    Some(dir.join(format!("gate-{netns}-{ifindex}")))
}

fn on_bpffs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == BPF_FS_MAGIC)
}

/// `dir` on bpffs, created; bpffs mounted at `/sys/fs/bpf` first if `dir` is under it.
fn ensure_bpffs(dir: &Path) -> Result<(), String> {
    if dir.starts_with(BPFFS) && !on_bpffs(Path::new(BPFFS)) {
        rustix::mount::mount("bpf", BPFFS, "bpf", rustix::mount::MountFlags::empty(), None)
            .map_err(|e| format!("mounting bpffs at {BPFFS}: {e}"))?;
    }
    // Only a directory on bpffs is made: nothing is created anywhere else.
    let parent = dir.parent().unwrap_or(dir);
    if !on_bpffs(dir) && !on_bpffs(parent) {
        return Err(format!("{} is not on bpffs", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))
}

/// The link a gate that was killed left pinned at `pin`, to take over; `None` when
/// there is none (or it is no XDP link, or its interface is gone: the stale pin is
/// removed).
pub(super) fn left_behind(pin: &Path) -> Option<XdpLink> {
    if !pin.exists() {
        return None;
    }
    let taken = PinnedLink::from_pin(pin)
        .map_err(|e| e.to_string())
        .and_then(|p| p.unpin().map_err(|e| e.to_string()))
        .and_then(|fd| XdpLink::try_from(fd).map_err(|e| e.to_string()));
    match taken {
        Ok(link) => Some(link),
        Err(e) => {
            tracing::warn!(pin = %pin.display(), error = %e, "a stale gate pin is removed");
            let _ = std::fs::remove_file(pin);
            None
        }
    }
}

/// Pins `link` at `pin`; the pinned link, or why not (the link is then dropped, which
/// detaches it: the caller attaches again unpinned).
pub(super) fn pin(link: XdpLink, pin: &Path) -> Result<PinnedLink, String> {
    let fd = FdLink::try_from(link).map_err(|e| format!("not a bpf link (kernel before 5.9?): {e}"))?;
    fd.pin(pin).map_err(|e| format!("pinning at {}: {e}", pin.display()))
}

/// Unpins and detaches `links` (a proper stop).
pub(super) fn release(links: Vec<PinnedLink>) {
    for link in links {
        match link.unpin() {
            Ok(fd) => drop(fd),
            Err(e) => tracing::warn!(error = %e, "a gate pin could not be removed"),
        }
    }
}
