//! A network namespace of the test's own, every party on its loopback interface: the
//! relay, its clients from the documentation ranges (whole IPv4 /24s, single IPv6
//! addresses) and the peers it delivers to. Nothing is added to the host's namespace;
//! the name carries the process id, and the namespace is removed on drop. Needs root (a
//! test fails without it).
//!
//! [`Netns::run`] runs a test body on a thread moved into the namespace with a runtime
//! of its own: every socket the body, the relay and the processes it starts (swaks,
//! smtp-sink) open is in the namespace.

use std::future::Future;
use std::os::fd::AsFd;
use std::process::Command;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// A network namespace with its loopback up; removed on drop.
pub struct Netns {
    pub name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Netns {
    /// A namespace named `prefix` and the process id, with `addrs` on its loopback
    /// (`ADDR/LEN`; an IPv4 prefix makes its whole network local).
    pub fn new(prefix: &str, addrs: &[&str]) -> Netns {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(root, "this test needs root to create a network namespace");
        let name = format!("{prefix}{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for addr in addrs {
            match addr.contains(':') {
                true => ip(&["-n", &ns.name, "addr", "add", addr, "dev", "lo", "nodad"]),
                false => ip(&["-n", &ns.name, "addr", "add", addr, "dev", "lo"]),
            }
        }
        ns
    }

    /// Runs `body` to its end on a thread inside the namespace (a two-worker runtime);
    /// a panic in it is the caller's.
    pub fn run<F, Fut>(&self, body: F) -> Fut::Output
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            let inside = scope.spawn(move || {
                let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                // Worker and blocking threads are started from here: in the namespace too.
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(body())
            });
            inside.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}
