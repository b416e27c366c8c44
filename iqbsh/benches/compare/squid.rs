//! The baseline: Squid 5 (`squid-openssl`) with ssl-bump, run in the
//! foreground as one process on loopback, with its own CA, certificate
//! database, hosts file and the test CA as outgoing trust.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub const SQUID: &str = "/usr/sbin/squid";
const CERTGEN: &str = "/usr/lib/squid/security_file_certgen";

/// A running Squid; stopped (by its own process id) when dropped.
pub struct Squid {
    child: Child,
    pub addr: SocketAddr,
    pub root_pem: String,
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Squid {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn write_ca(dir: &Path) -> String {
    let key = KeyPair::generate().expect("squid CA key");
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "Squid Bench CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let pem = params.self_signed(&key).expect("self-sign").pem();
    std::fs::write(dir.join("squid-ca.pem"), &pem).expect("write CA");
    std::fs::write(dir.join("squid-ca.key"), key.serialize_pem()).expect("write key");
    pem
}

/// Squid 5.7 against c-icap: preview off (with it Squid hangs on responses over ~64 KB).
fn icap_config(url: &str) -> String {
    format!(
        "icap_enable on\nicap_preview_enable off\nicap_persistent_connections on\n\
         icap_service av_resp respmod_precache {url} bypass=off\nadaptation_access av_resp allow all\n"
    )
}

fn config(dir: &Path, port: u16, origin_port: u16, icap: Option<&str>) -> String {
    let (d, spliced) = (dir.display(), super::SPLICED);
    let icap = icap.map(icap_config).unwrap_or_default();
    format!(
        "{icap}http_port 127.0.0.1:{port} ssl-bump tls-cert={d}/squid-ca.pem tls-key={d}/squid-ca.key \
         generate-host-certificates=on dynamic_cert_mem_cache_size=16MB\n\
         sslcrtd_program {CERTGEN} -s {d}/ssl_db -M 16MB\nsslcrtd_children 5\n\
         acl step1 at_step SslBump1\nacl exempt ssl::server_name {spliced}\n\
         ssl_bump peek step1\nssl_bump splice exempt\nssl_bump bump all\n\
         tls_outgoing_options cafile={d}/test-origin-ca.pem\nhosts_file {d}/hosts\n\
         acl bench_ports port {origin_port}\nhttp_access allow all\ncache deny all\n\
         access_log stdio:{d}/squid-access.log\ncache_log {d}/squid-cache.log\npid_filename {d}/squid.pid\n\
         coredump_dir {d}\nmax_filedescriptors 16384\nshutdown_lifetime 1 seconds\n"
    )
}

/// Starts Squid in `dir` (which holds `test-origin-ca.pem`) for `host` on 127.0.0.1;
/// with `icap`, responses are scanned (RESPMOD) by that service.
pub fn start(dir: &Path, origin_port: u16, names: &[String], icap: Option<&str>) -> Result<Squid, String> {
    if !Path::new(SQUID).exists() {
        return Err(format!("{SQUID} is not installed (apt-get install squid-openssl)"));
    }
    let root_pem = write_ca(dir);
    let hosts: String = names.iter().map(|n| format!("127.0.0.1 {n}\n")).collect();
    std::fs::write(dir.join("hosts"), hosts).map_err(|e| e.to_string())?;
    let port = free_port();
    let conf: PathBuf = dir.join("squid.conf");
    std::fs::write(&conf, config(dir, port, origin_port, icap)).map_err(|e| e.to_string())?;
    let db = dir.join("ssl_db");
    let status = Command::new(CERTGEN).args(["-c", "-s"]).arg(&db).args(["-M", "16MB"]).status();
    status.map_err(|e| e.to_string())?.success().then_some(()).ok_or("certgen init failed")?;
    let chown = Command::new("chown").args(["-R", "proxy:proxy"]).arg(dir).status();
    chown.map_err(|e| e.to_string())?;
    let child = Command::new(SQUID).arg("-N").arg("-f").arg(&conf).spawn().map_err(|e| e.to_string())?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let squid = Squid { child, addr, root_pem };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("squid-cache.log")).unwrap_or_default();
            return Err(format!("squid did not listen on {addr} within 20s; cache.log:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(squid)
}
