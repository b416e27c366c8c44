//! An origin web server for the gateway tests: `openssl s_server -www` on a loopback
//! port with a certificate for the test hosts (bank.test, news.test, casino.test) from
//! a test CA (`origin-ca.pem` in the test's directory) that only the gateway trusts.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use super::{Env, eventually};

/// `openssl s_server -www` on a loopback port, killed on drop.
pub struct Origin(Child);

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(env: &Env, args: &[&str]) {
    let out = Command::new("openssl").current_dir(env.dir.path()).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA and one origin certificate for the three test hosts.
pub fn origin(env: &Env, port: u16) -> Origin {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        env,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "origin-ca.pem", "-days", "30", "-subj", "/CN=Test Origin CA"],
        ]
        .concat(),
    );
    openssl(env, &[&["req"], &ec[..], &["-keyout", "o.key", "-out", "o.csr", "-subj", "/CN=origin"]].concat());
    env.write("san.ext", "subjectAltName=DNS:bank.test,DNS:news.test,DNS:casino.test\n");
    openssl(
        env,
        &[
            "x509",
            "-req",
            "-in",
            "o.csr",
            "-CA",
            "origin-ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "o.pem",
            "-days",
            "30",
            "-extfile",
            "san.ext",
        ],
    );
    let child = Command::new("openssl")
        .current_dir(env.dir.path())
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "o.pem",
            "-key",
            "o.key",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    eventually("the origin listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Origin(child)
}
