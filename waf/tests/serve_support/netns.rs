//! Network namespaces of a test, joined by veth pairs and addressed from the
//! documentation ranges: a client (203.0.113.2) facing the WAF (203.0.113.1), and the
//! WAF (198.51.100.1) facing an origin (198.51.100.2). Names carry the process id; all
//! are removed on drop. Code runs in a namespace on a thread of its own
//! ([`Namespaces::run_in`]): sockets, tasks of runtimes built there and processes started
//! there stay in it. Needs root.

use std::os::fd::AsFd;
use std::process::Command;

pub const CLIENT: &str = "203.0.113.2";
pub const WAF_FRONT: &str = "203.0.113.1";
pub const WAF_BACK: &str = "198.51.100.1";
pub const ORIGIN: &str = "198.51.100.2";

/// Whether the tests run as root.
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The three namespaces.
pub struct Namespaces {
    pub client: String,
    pub waf: String,
    pub origin: String,
}

impl Namespaces {
    /// Creates them, `tag` (a letter or two) telling this test's from another's.
    pub fn new(tag: &str) -> Namespaces {
        let id = std::process::id() % 100_000;
        let ns =
            Namespaces { client: format!("w{tag}c{id}"), waf: format!("w{tag}w{id}"), origin: format!("w{tag}o{id}") };
        ns.remove();
        for name in [&ns.client, &ns.waf, &ns.origin] {
            sh(&["ip", "netns", "add", name]);
            sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
        }
        ns.join(&ns.client, CLIENT, &ns.waf, WAF_FRONT, "a");
        ns.join(&ns.waf, WAF_BACK, &ns.origin, ORIGIN, "b");
        ns
    }

    /// A veth pair between `left` and `right` with an address /24 on each end.
    fn join(&self, left: &str, left_addr: &str, right: &str, right_addr: &str, pair: &str) {
        let (l, r) = (format!("{}{pair}l", self.waf), format!("{}{pair}r", self.waf));
        sh(&["ip", "link", "add", &l, "netns", left, "type", "veth", "peer", "name", &r, "netns", right]);
        sh(&["ip", "-n", left, "addr", "add", &format!("{left_addr}/24"), "dev", &l]);
        sh(&["ip", "-n", right, "addr", "add", &format!("{right_addr}/24"), "dev", &r]);
        sh(&["ip", "-n", left, "link", "set", &l, "up"]);
        sh(&["ip", "-n", right, "link", "set", &r, "up"]);
    }

    /// Runs `f` on a new thread inside namespace `name` and returns its result.
    pub fn run_in<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{name}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            rustix::thread::move_into_link_name_space(file.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .expect("setns");
            f()
        })
        .join()
        .expect("the thread in the namespace")
    }

    /// A command run inside namespace `name`.
    pub fn command(name: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", name, program]);
        cmd
    }

    fn remove(&self) {
        for name in [&self.client, &self.waf, &self.origin] {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        self.remove();
    }
}
