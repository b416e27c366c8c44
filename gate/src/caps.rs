//! Whether this process may program the kernel: CAP_NET_ADMIN for nftables and for
//! attaching XDP, CAP_BPF for loading the XDP program (CAP_SYS_ADMIN covers both on
//! older kernels). Read from `/proc/self/status`, so the error can say what is missing
//! before any syscall fails obscurely.
//!
//! Must not: change capabilities.

use super::{BackendKind, GateError};

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process.
fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

fn has(set: u64, cap: u32) -> bool {
    set & (1 << cap) != 0
}

/// The capabilities `backend` needs and this process lacks, as an error that says how to
/// grant them.
pub fn check_privileges(backend: BackendKind) -> Result<(), GateError> {
    let Some(set) = effective() else { return Ok(()) };
    let admin = has(set, CAP_SYS_ADMIN);
    let mut missing = Vec::new();
    if !has(set, CAP_NET_ADMIN) && !admin {
        missing.push("CAP_NET_ADMIN");
    }
    if backend == BackendKind::Xdp && !has(set, CAP_BPF) && !admin {
        missing.push("CAP_BPF");
    }
    match missing.is_empty() {
        true => Ok(()),
        false => Err(GateError::Privileges(format!(
            "the packet gate ({backend} backend) needs {} and this process lacks {}: run `perimeter up` as root, \
             or grant them (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_BPF; or setcap cap_net_admin,cap_bpf+ep \
             on the binary), or remove the interfaces from [gate]",
            if backend == BackendKind::Xdp { "CAP_NET_ADMIN and CAP_BPF" } else { "CAP_NET_ADMIN" },
            missing.join(" and ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_bits() {
        assert!(has(1 << 12, CAP_NET_ADMIN));
        assert!(!has(1 << 12, CAP_BPF));
        assert!(has(1 << 39, CAP_BPF));
    }
}
