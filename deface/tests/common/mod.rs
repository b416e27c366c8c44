//! A protected site in a network namespace of its own: a private OpenSSH server (its own
//! host key and config, `internal-sftp` only, one system account made for the test with
//! both a key and a password, its document root in the test's temporary directory) and
//! nginx serving that root over HTTPS (a test CA); the service runs in a second
//! namespace joined to the first by a veth pair (203.0.113.1 ↔ 203.0.113.2). Everything
//! is named per process and lab, and removed on drop (processes, account, namespaces).

#![allow(dead_code)]

use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SERVICE_ADDR: &str = "203.0.113.1";
pub const SITE_ADDR: &str = "203.0.113.2";
pub const DOMAIN: &str = "site.example.kz";
/// Sites of the benchmark are `NAME.bench.example.kz`, served from `DIR/NAME` on port 8443.
pub const BENCH_SUFFIX: &str = "bench.example.kz";

static LABS: AtomicU32 = AtomicU32::new(0);

/// Whether `what` is there; in CI its absence fails the test, elsewhere it skips.
pub fn required(what: &str, present: bool) -> bool {
    if !present && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the defacement tests need {what} (the test script installs it)");
    }
    if !present {
        eprintln!("SKIPPED: the defacement tests need {what}");
    }
    present
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Root, sshd, nginx, ssh-keygen and useradd: all there (or skipped / failed in CI).
pub fn prerequisites() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    required("root (network namespaces, a test account)", root)
        && required("sshd (openssh-server)", Path::new("/usr/sbin/sshd").exists())
        && required("nginx", runs("nginx", &["-v"]))
        && required(
            "ssh-keygen (openssh-client)",
            runs("ssh-keygen", &["-?"]) || Path::new("/usr/bin/ssh-keygen").exists(),
        )
        && required("useradd (passwd)", Path::new("/usr/sbin/useradd").exists())
}

pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The site's lab; removed on drop.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub site_ns: String,
    pub service_ns: String,
    veth: String,
    pub user: String,
    pub password: String,
    /// The client's private key (OpenSSH format).
    pub key: String,
    /// The document root (owned by the test account).
    pub root: PathBuf,
    /// A folder outside the root the account can write to (links point there).
    pub outside: PathBuf,
    /// The test CA's certificate (PEM) the service trusts.
    pub ca: PathBuf,
    sshd: std::sync::Mutex<Option<Child>>,
    nginx: Option<Child>,
    many: std::sync::Mutex<Option<Child>>,
}

impl Lab {
    pub fn new() -> Lab {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let (site_ns, service_ns) = (format!("dfsite{id}"), format!("dfsvc{id}"));
        let (veth, peer) = (format!("dfv{id}a"), format!("dfv{id}b"));
        let user = format!("dfu{id}");
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut lab = Lab {
            root: dir.path().join("www"),
            outside: dir.path().join("outside"),
            ca: dir.path().join("ca.pem"),
            dir,
            site_ns,
            service_ns,
            veth,
            user,
            password: format!("pw-{id}-Secret"),
            key: String::new(),
            sshd: std::sync::Mutex::new(None),
            nginx: None,
            many: std::sync::Mutex::new(None),
        };
        for ns in [&lab.site_ns, &lab.service_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
        }
        sh(&[
            "ip",
            "link",
            "add",
            &lab.veth,
            "netns",
            &lab.service_ns,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &lab.site_ns,
        ]);
        for (ns, dev, addr) in [(&lab.service_ns, &lab.veth, SERVICE_ADDR), (&lab.site_ns, &peer, SITE_ADDR)] {
            sh(&["ip", "netns", "exec", ns, "ip", "addr", "add", &format!("{addr}/24"), "dev", dev]);
            sh(&["ip", "netns", "exec", ns, "ip", "link", "set", dev, "up"]);
        }
        lab.make_account();
        lab.make_site();
        lab.make_tls();
        lab.host_key(false);
        lab.start_sshd();
        lab.start_nginx();
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn make_account(&mut self) {
        let _ = Command::new("userdel").arg(&self.user).output();
        let home = self.path("home");
        sh(&["useradd", "-M", "-d", home.to_str().unwrap(), "-s", "/usr/sbin/nologin", &self.user]);
        let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().expect("chpasswd");
        use std::io::Write;
        writeln!(chpasswd.stdin.take().unwrap(), "{}:{}", self.user, self.password).unwrap();
        assert!(chpasswd.wait().unwrap().success(), "chpasswd");
        let key = self.path("client");
        sh(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()]);
        self.key = std::fs::read_to_string(&key).unwrap();
        std::fs::create_dir_all(self.path("keys")).unwrap();
        std::fs::copy(key.with_extension("pub"), self.path("keys").join(&self.user)).unwrap();
    }

    fn make_site(&self) {
        for d in ["www/css", "www/news", "outside", "home", "run"] {
            std::fs::create_dir_all(self.path(d)).unwrap();
        }
        std::fs::write(self.root.join("index.html"), INDEX).unwrap();
        std::fs::write(self.root.join("about.html"), ABOUT).unwrap();
        std::fs::write(self.root.join("css/site.css"), "body { color: #123; }\n").unwrap();
        std::fs::write(self.root.join("news/latest.html"), "<p>News of 1 June</p>").unwrap();
        std::fs::write(self.outside.join("secret.txt"), "outside the root\n").unwrap();
        for p in [&self.root, &self.outside] {
            sh(&["chown", "-R", &format!("{0}:{0}", self.user), p.to_str().unwrap()]);
        }
    }

    fn make_tls(&self) {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Defacement Test CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let names = vec![DOMAIN.to_string(), format!("*.{BENCH_SUFFIX}")];
        let leaf = rcgen::CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
        std::fs::write(&self.ca, ca.pem()).unwrap();
        std::fs::write(self.path("site.pem"), leaf.pem()).unwrap();
        std::fs::write(self.path("site.key"), key.serialize_pem()).unwrap();
    }

    /// Makes the server's host key (again, when `replace`).
    pub fn host_key(&self, replace: bool) {
        let key = self.path("host_ed25519");
        if replace {
            let _ = std::fs::remove_file(&key);
            let _ = std::fs::remove_file(key.with_extension("pub"));
        }
        sh(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()]);
    }

    pub fn start_sshd(&self) {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let d = self.dir.path().display();
        let config = format!(
            "Port 22\nListenAddress {SITE_ADDR}\nHostKey {d}/host_ed25519\nPidFile {d}/run/sshd.pid\n\
             AuthorizedKeysFile {d}/keys/%u\nStrictModes no\nUsePAM no\nPasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\nPermitRootLogin no\nMaxStartups 200\nMaxSessions 200\nAllowUsers {u}\nSubsystem sftp internal-sftp\n\
             Match User {u}\n  ForceCommand internal-sftp\n  AllowTcpForwarding no\n  X11Forwarding no\n",
            u = self.user
        );
        std::fs::write(self.path("sshd_config"), config).unwrap();
        let conf = self.path("sshd_config");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.site_ns, "/usr/sbin/sshd", "-f", conf.to_str().unwrap(), "-D", "-e"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        *self.sshd.lock().unwrap() = Some(child);
        self.wait_port(22);
    }

    pub fn stop_sshd(&self) {
        if let Some(c) = self.sshd.lock().unwrap().take() {
            stop(c);
        }
    }

    fn start_nginx(&mut self) {
        let d = self.dir.path().display();
        let config = format!(
            "worker_processes 1;\ndaemon off;\npid {d}/run/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/run/body;\n proxy_temp_path {d}/run/proxy;\n\
             fastcgi_temp_path {d}/run/fcgi;\n uwsgi_temp_path {d}/run/uwsgi;\n scgi_temp_path {d}/run/scgi;\n\
             types {{ text/html html; text/css css; }}\n\
             server {{\n  listen {SITE_ADDR}:443 ssl;\n  server_name {DOMAIN};\n  ssl_certificate {d}/site.pem;\n\
             ssl_certificate_key {d}/site.key;\n  root {root};\n  ssi on;\n }}\n}}\n",
            root = self.root.display()
        );
        std::fs::write(self.path("nginx.conf"), config).unwrap();
        let conf = self.path("nginx.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.site_ns, "nginx", "-c", conf.to_str().unwrap(), "-p", &d.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        self.nginx = Some(child);
        self.wait_port(443);
    }

    /// Serves every folder of `dir` as `FOLDER.bench.example.kz` on port 8443.
    pub fn serve_many(&self, dir: &Path) {
        let d = self.dir.path().display();
        let config = format!(
            "worker_processes 1;\ndaemon off;\npid {d}/run/many.pid;\nerror_log {d}/many-error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/run/mbody;\n proxy_temp_path {d}/run/mproxy;\n\
             fastcgi_temp_path {d}/run/mfcgi;\n uwsgi_temp_path {d}/run/muwsgi;\n scgi_temp_path {d}/run/mscgi;\n\
             types {{ text/html html; text/css css; }}\n\
             server {{\n  listen {SITE_ADDR}:8443 ssl;\n  server_name ~^(?<site>[a-z0-9]+)\\.bench\\.example\\.kz$;\n\
             ssl_certificate {d}/site.pem;\n  ssl_certificate_key {d}/site.key;\n  root {root}/$site;\n  ssi on;\n }}\n}}\n",
            root = dir.display()
        );
        std::fs::write(self.path("many.conf"), config).unwrap();
        let conf = self.path("many.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.site_ns, "nginx", "-c", conf.to_str().unwrap(), "-p", &d.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        *self.many.lock().unwrap() = Some(child);
        self.wait_port(8443);
    }

    /// The sshd's process id (its sessions' CPU shows in its children's times).
    pub fn sshd_pid(&self) -> Option<u32> {
        self.sshd.lock().unwrap().as_ref().map(Child::id)
    }

    fn wait_port(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let probe = format!("import socket; socket.create_connection(('{SITE_ADDR}', {port}), 1)");
        while Instant::now() < deadline {
            if runs("ip", &["netns", "exec", &self.site_ns, "python3", "-c", &probe]) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on {SITE_ADDR}:{port} in {}", self.site_ns);
    }

    /// Moves the calling thread into the service's namespace (threads it starts later
    /// follow it).
    pub fn enter_service(&self) {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.service_ns)).expect("the namespace file");
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
            .expect("setns into the service namespace");
    }

    /// A file of the root, written as the account would (owned by it).
    pub fn write(&self, rel: &str, content: &[u8]) {
        let path = self.root.join(rel);
        std::fs::write(&path, content).unwrap();
        sh(&["chown", &format!("{0}:{0}", self.user), path.to_str().unwrap()]);
    }

    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(rel)).ok()
    }

    /// The server's host key as `TYPE BASE64`.
    pub fn host_public_key(&self) -> String {
        let text = std::fs::read_to_string(self.path("host_ed25519.pub")).unwrap();
        text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }
}

/// Stops a server with SIGTERM (nginx's master then stops its workers), SIGKILL after 5 s.
fn stop(mut c: Child) {
    let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if c.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_sshd();
        for c in [self.nginx.take(), self.many.lock().unwrap().take()].into_iter().flatten() {
            stop(c);
        }
        // userdel refuses while a session of the account is still ending.
        for _ in 0..25 {
            if Command::new("userdel").arg(&self.user).status().is_ok_and(|s| s.success()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        for ns in [&self.site_ns, &self.service_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

pub const INDEX: &str = r#"<!DOCTYPE html>
<html><head><title>Akimat</title><link rel="stylesheet" href="/css/site.css"></head>
<body><h1>Welcome to the akimat</h1>
<div id="news"><!--# include file="/news/latest.html" --></div>
<p>Opening hours: 9 to 18.</p><a href="/about.html">About us</a>
</body></html>
"#;

pub const ABOUT: &str = "<!DOCTYPE html>\n<html><body><h1>About</h1><p>The akimat of the region.</p></body></html>\n";
