//! Keeping the XDP gate in force when the process dies without stopping it (SIGKILL, a
//! crash, the OOM killer): each interface's XDP link is pinned in bpffs, so the kernel
//! keeps the program and its tries attached after the process is gone, enforcing the
//! last catalog it had. A gate that starts on an interface with such a link takes it
//! over, replacing the program atomically (no moment without a gate). A gate stopped
//! properly unpins and detaches, as before. Pins are named by the network namespace
//! and the interface index, so gates in different namespaces never meet.
//!
//! The pins must outlive the process, or they protect nothing: a bpffs mounted in a mount
//! namespace of the process's own (`ip netns exec` gives every command one) disappears
//! with the process and takes the pinned links along. So the pins go where PID 1's mount
//! namespace has a bpffs: `[gate] pin_dir` itself when it is on such a bpffs (a mount
//! made outside `/sys`, which `ip netns exec` replaces, is inherited) or when this
//! process shares PID 1's mounts (bpffs is then mounted at `/sys/fs/bpf` if it is not),
//! else the same path seen through `/proc/1/root` where that can be read. Where neither is
//! possible the XDP backend refuses to start ([`durable_dir`] says why), so no set-up
//! fails open silently; `auto` then enforces with nftables, whose table stays in the
//! kernel after a kill.
//!
//! Must not: take over a link of another namespace or interface, leave a pin behind
//! on a proper stop, or mount anything where the mount would die with the process.

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

/// The pin of one interface's link in this network namespace, in `dir` (a directory
/// [`durable_dir`] gave).
pub(super) fn path(dir: &Path, ifindex: u32) -> PathBuf {
    let netns = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).unwrap_or(0);
    dir.join(format!("gate-{netns}-{ifindex}"))
}

/// Where pins made in `dir` outlive this process, created; why there is no such place.
pub(super) fn durable_dir(dir: &Path) -> Result<PathBuf, String> {
    if shares_init_mounts() {
        // PID 1's own mounts: what is mounted here stays after this process.
        ensure_bpffs(dir)?;
        return Ok(dir.to_path_buf());
    }
    // A mount namespace of our own: mount nothing, find a bpffs PID 1's namespace holds.
    if let Some(dev) = bpffs_device(dir)
        && init_bpffs_devices().contains(&dev)
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        return Ok(dir.to_path_buf());
    }
    let through = Path::new("/proc/1/root").join(dir.strip_prefix("/").unwrap_or(dir));
    if bpffs_device(&through).is_some() {
        std::fs::create_dir_all(&through).map_err(|e| format!("creating {}: {e}", through.display()))?;
        return Ok(through);
    }
    Err(format!(
        "no bpffs at {} outlives this process: it runs in a mount namespace of its own (as under `ip netns exec`), \
         where a bpffs would disappear with it and a killed gate would fail open; mount bpffs in the host's \
         namespace where this one inherits it (outside /sys, which `ip netns exec` replaces: `mount -t bpf bpf \
         /run/perimeter-pins`) and set [gate] pin_dir there, or use backend = \"nftables\"",
        dir.display()
    ))
}

/// Whether this process's mounts are PID 1's: the same mount namespace, or (where PID 1's
/// namespace cannot be read) the same mounts, by their IDs, which a copy never shares.
fn shares_init_mounts() -> bool {
    let ns = |pid: &str| std::fs::metadata(format!("/proc/{pid}/ns/mnt")).ok().map(|m| m.ino());
    match (ns("self"), ns("1")) {
        (Some(own), Some(init)) => own == init,
        _ => mount_ids("self").is_some_and(|own| Some(own) == mount_ids("1")),
    }
}

/// The IDs of a process's mounts (the first field of each `mountinfo` line).
fn mount_ids(pid: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    text.lines().map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

/// The device of the bpffs `dir` is on (or would be created on, for a missing `dir`).
fn bpffs_device(dir: &Path) -> Option<u64> {
    let on = |p: &Path| on_bpffs(p).then(|| std::fs::metadata(p).ok().map(|m| m.dev())).flatten();
    on(dir).or_else(|| dir.parent().and_then(on))
}

/// The devices of the bpffs mounts in PID 1's mount namespace (`/proc/1/mountinfo`:
/// the third field is the device, the type follows the " - " separator).
fn init_bpffs_devices() -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/1/mountinfo").unwrap_or_default();
    text.lines().filter_map(bpffs_line_device).collect()
}

/// The device of one mountinfo line when it is a bpffs mount.
fn bpffs_line_device(line: &str) -> Option<u64> {
    let (fields, rest) = line.split_once(" - ")?;
    if rest.split_whitespace().next()? != "bpf" {
        return None;
    }
    let (major, minor) = fields.split_whitespace().nth(2)?.split_once(':')?;
    Some(rustix::fs::makedev(major.parse().ok()?, minor.parse().ok()?))
}

fn on_bpffs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == BPF_FS_MAGIC)
}

/// `dir` on bpffs, created; bpffs mounted at `/sys/fs/bpf` first if `dir` is under it
/// (only called where that mount outlives the process).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpffs_mounts_are_read_from_mountinfo() {
        let bpf = "41 23 0:37 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:15 - bpf bpf rw,mode=700";
        assert_eq!(bpffs_line_device(bpf), Some(rustix::fs::makedev(0, 37)));
        let sysfs = "23 29 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw";
        assert_eq!(bpffs_line_device(sysfs), None);
        assert_eq!(bpffs_line_device("garbage"), None);
    }

    #[test]
    fn a_directory_on_no_bpffs_is_refused() {
        let dir = std::env::temp_dir().join(format!("perimeter-pin-test-{}", std::process::id()));
        let err = durable_dir(&dir).expect_err("a temporary directory is not on bpffs");
        assert!(err.contains("outlives this process") || err.contains("not on bpffs"), "{err}");
        assert!(!dir.exists(), "nothing is created off bpffs");
    }
}
