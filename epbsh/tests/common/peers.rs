//! Real peers: install check, `smtp-sink` (Postfix's test server, dumping each transaction
//! to a file), a private Postfix instance delivering to a maildir, and dnsmasq serving
//! the test's DNS records.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use tempfile::TempDir;

static INSTALL: Once = Once::new();

/// Makes sure swaks, postfix (with smtp-sink) and dnsmasq are installed, installing them
/// as root when missing; panics (the test fails) when that is impossible.
pub fn ensure() {
    INSTALL.call_once(|| {
        let tools = ["/usr/bin/swaks", "/usr/sbin/smtp-sink", "/usr/sbin/postfix", "/usr/sbin/dnsmasq"];
        // swaks speaks IPv6 only through IO::Socket::INET6.
        let inet6 = Command::new("perl").args(["-MIO::Socket::INET6", "-e1"]).status().is_ok_and(|s| s.success());
        if inet6 && tools.iter().all(|p| Path::new(p).exists()) {
            return;
        }
        let packages = "swaks libio-socket-inet6-perl postfix dnsmasq-base";
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        assert!(root, "swaks, postfix and dnsmasq are needed; install them: apt-get install {packages}");
        let script = format!(
            "echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections \
             && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
             --no-install-recommends {packages} >/dev/null"
        );
        let ok = Command::new("sh").args(["-c", &script]).status().is_ok_and(|s| s.success());
        assert!(ok, "installing {packages} failed");
    });
}

/// A dnsmasq answering only from its command line (`--mx-host=…`, `--host-record=…`) for
/// names under `.test`, on 127.0.0.1 (UDP and TCP).
pub struct Dns {
    child: Child,
    pub addr: SocketAddr,
}

impl Dns {
    pub fn start(records: &[&str]) -> Dns {
        ensure();
        let port = super::free_port();
        let child = Command::new("/usr/sbin/dnsmasq")
            .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces", "--user=nobody"])
            .args(["--listen-address=127.0.0.1", "--pid-file=", "--local=/test/", "--conf-file=/dev/null"])
            .arg(format!("--port={port}"))
            .args(records)
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let addr = super::loopback(port);
        wait_listening(addr, "dnsmasq");
        Dns { child, addr }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `smtp-sink` that dumps every transaction into its own file.
pub struct Sink {
    child: Child,
    pub addr: SocketAddr,
    dir: TempDir,
}

impl Sink {
    /// Starts on a free port with extra smtp-sink options (e.g. `-f RCPT` to reject).
    pub fn start(extra: &[&str]) -> Sink {
        Sink::start_on(super::free_port(), extra)
    }

    /// Starts on `port` of 127.0.0.1.
    pub fn start_on(port: u16, extra: &[&str]) -> Sink {
        ensure();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
        let addr = super::loopback(port);
        let template = format!("{}/m.", dir.path().display());
        let child = Command::new("/usr/sbin/smtp-sink")
            .args(["-u", "nobody", "-h", "sink.test", "-d", &template])
            .args(extra)
            .arg(format!("127.0.0.1:{port}"))
            .arg("100")
            .stdout(Stdio::null())
            .spawn()
            .expect("start smtp-sink");
        wait_listening(addr, "smtp-sink");
        Sink { child, addr, dir }
    }

    /// Every complete dumped transaction so far (the sink ends each with an empty line).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.path()).expect("read dump dir").flatten() {
            if let Ok(text) = std::fs::read_to_string(e.path())
                && text.contains("\nReceived: ")
                && text.ends_with("\n\n")
            {
                out.push(text);
            }
        }
        out
    }

    /// Waits until at least `n` transactions were dumped; returns them.
    pub async fn wait_messages(&self, n: usize, limit: Duration) -> Vec<String> {
        let what = format!("{n} message(s) at smtp-sink {}", self.addr);
        super::eventually(&what, limit, || self.messages().len() >= n).await;
        self.messages()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private Postfix instance on 127.0.0.1 that accepts mail for one domain and delivers
/// it into a maildir (virtual(8)), optionally offering STARTTLS with a given certificate,
/// for every local part or only for a list of them (others get 550 5.1.1 at RCPT).
pub struct Postfix {
    dir: TempDir,
    pub addr: SocketAddr,
}

impl Postfix {
    pub fn start(domain: &str, tls: Option<(&str, &str)>) -> Postfix {
        Postfix::start_with(domain, tls, None)
    }

    /// Accepts only `users` (local parts) of `domain`.
    pub fn with_users(domain: &str, users: &[&str]) -> Postfix {
        Postfix::start_with(domain, None, Some(users))
    }

    fn start_with(domain: &str, tls: Option<(&str, &str)>, users: Option<&[&str]>) -> Postfix {
        ensure();
        let dir = tempfile::Builder::new().prefix("epbsh-postfix").tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        for sub in ["conf", "queue", "data", "mail"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        let chown = |owner: &str, p: PathBuf| {
            let ok = Command::new("chown").arg(owner).arg(&p).status().is_ok_and(|s| s.success());
            assert!(ok, "chown {owner} {}", p.display());
        };
        chown("postfix", d.join("data"));
        chown("65534:65534", d.join("mail"));
        let port = super::free_port();
        let mut cf = main_cf(d, domain, tls);
        if let Some(users) = users {
            let table: String = users.iter().map(|u| format!("{u}@{domain} inbox/\n")).collect();
            std::fs::write(d.join("conf/users"), table).expect("users");
            cf = cf.replace(
                "virtual_mailbox_maps = static:inbox/",
                &format!("virtual_mailbox_maps = texthash:{}/conf/users", d.display()),
            );
        }
        std::fs::write(d.join("conf/main.cf"), cf).expect("main.cf");
        std::fs::write(d.join("conf/master.cf"), master_cf(port)).expect("master.cf");
        let pf = Postfix { addr: super::loopback(port), dir };
        let ok = pf.postfix("start");
        assert!(ok, "postfix did not start; log:\n{}", pf.log());
        wait_listening(pf.addr, "postfix");
        pf
    }

    fn postfix(&self, action: &str) -> bool {
        let conf = self.dir.path().join("conf");
        Command::new("/usr/sbin/postfix").arg("-c").arg(conf).arg(action).status().is_ok_and(|s| s.success())
    }

    /// Postfix's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Messages delivered to the maildir.
    pub fn delivered(&self) -> Vec<String> {
        let new = self.dir.path().join("mail/inbox/new");
        let Ok(rd) = std::fs::read_dir(new) else { return Vec::new() };
        rd.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect()
    }

    pub async fn wait_delivered(&self, n: usize, limit: Duration) -> Vec<String> {
        let what = format!("{n} message(s) in the Postfix maildir");
        let deadline = tokio::time::Instant::now() + limit;
        while self.delivered().len() < n {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.delivered()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if !self.postfix("stop") {
            let _ = self.postfix("abort");
        }
    }
}

fn main_cf(d: &Path, domain: &str, tls: Option<(&str, &str)>) -> String {
    let d = d.display();
    let mut cf = format!(
        "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
         mail_owner = postfix\nsetgid_group = postdrop\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n\
         myhostname = receiver.test\nmydestination =\nmynetworks = 127.0.0.0/8\n\
         smtp_dns_support_level = disabled\nmaillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\n\
         virtual_mailbox_domains = {domain}\nvirtual_mailbox_base = {d}/mail\nvirtual_mailbox_maps = static:inbox/\n\
         virtual_uid_maps = static:65534\nvirtual_gid_maps = static:65534\n"
    );
    if let Some((cert, key)) = tls {
        std::fs::write(format!("{d}/conf/cert.pem"), cert).expect("cert");
        std::fs::write(format!("{d}/conf/key.pem"), key).expect("key");
        cf.push_str(&format!(
            "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = {d}/conf/cert.pem\n\
             smtpd_tls_key_file = {d}/conf/key.pem\nsmtpd_tls_received_header = yes\n"
        ));
    }
    cf
}

/// The packaged master.cf with the SMTP service on `port` and no chroot.
fn master_cf(port: u16) -> String {
    let packaged = std::fs::read_to_string("/etc/postfix/master.cf").expect("/etc/postfix/master.cf");
    packaged
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let service = !line.starts_with(['#', ' ', '\t']) && f.len() >= 8;
            match (service, f.first()) {
                (true, Some(&"smtp")) if f[1] == "inet" => format!("127.0.0.1:{port} inet n - n - - smtpd"),
                (true, _) if f[4] == "y" => {
                    let mut f = f.clone();
                    f[4] = "n";
                    f.join(" ")
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
