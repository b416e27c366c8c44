//! A workstation's network namespace joined to the host by a veth pair, addressed from
//! 198.51.100.0/24 (documentation range): the host side is 198.51.100.1, the catalogued
//! workstation .2 and a stranger .3. Removed on drop. Needs root.

use std::process::Command;

pub const HOST_SIDE: &str = "198.51.100.1";
pub const WORKSTATION: &str = "198.51.100.2";
pub const STRANGER: &str = "198.51.100.3";

/// Whether the tests run as root (network namespaces need it).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A network namespace joined to the host by a veth pair, removed on drop.
pub struct Netns {
    pub name: String,
    veth: String,
}

impl Netns {
    /// A namespace named `prefix` plus the process id (one per test binary), with
    /// the workstation and stranger addresses on its side.
    pub fn new(prefix: &str) -> Netns {
        let id = std::process::id() % 100_000;
        let tag = &prefix[prefix.len().saturating_sub(3)..];
        let (name, veth, peer) = (format!("{prefix}{id}"), format!("{tag}{id}h"), format!("{tag}{id}n"));
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        sh(&["ip", "netns", "add", &name]);
        sh(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        sh(&["ip", "link", "set", &peer, "netns", &name]);
        sh(&["ip", "addr", "add", &format!("{HOST_SIDE}/24"), "dev", &veth]);
        sh(&["ip", "link", "set", &veth, "up"]);
        for addr in [WORKSTATION, STRANGER] {
            sh(&["ip", "netns", "exec", &name, "ip", "addr", "add", &format!("{addr}/24"), "dev", &peer]);
        }
        sh(&["ip", "netns", "exec", &name, "ip", "link", "set", &peer, "up"]);
        sh(&["ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        Netns { name, veth }
    }

    /// curl inside the namespace from `source`; returns (exit ok, stdout, stderr).
    pub fn curl(&self, source: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "curl", "-sS", "--max-time", "10", "--interface", source])
            .args(args)
            .output()
            .expect("curl runs in the namespace");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.veth]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}
