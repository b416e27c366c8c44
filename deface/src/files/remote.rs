//! One SFTP session with a site's server (russh with russh-sftp, over aws-lc-rs): the
//! host key checked against the pinned one before anything is sent, login with a key or
//! a password, then the few file operations the service needs, each on a path the
//! caller built under the root (`names::Rel`) and each within the configured timeout.
//!
//! Must not: accept a host key other than the pinned one, or follow a symbolic link
//! (listing and reading use `lstat`; a write goes to a fresh temporary name).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::PrivateKeyWithHashAlg;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};

use crate::site::{Access, Secret};

/// Why a session could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Unreachable(String),
    #[error("the host key changed: pinned {pinned}, offered {offered}")]
    HostKeyChanged { pinned: String, offered: String },
    #[error("login refused for {0}")]
    Refused(String),
    #[error("{0}")]
    Key(String),
}

/// Why one file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{path}: no such file")]
    Missing { path: String },
    #[error("{path}: {reason}")]
    Failed { path: String, reason: String },
    #[error("{path}: changed while it was read")]
    Unstable { path: String },
    #[error("{path}: {size} bytes, over the bound of {max}")]
    TooLarge { path: String, size: u64, max: u64 },
}

/// A file's attributes as listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime: u32,
    pub mode: u32,
}

impl Stat {
    fn of(a: &FileAttributes) -> Stat {
        Stat { size: a.size.unwrap_or(0), mtime: a.mtime.unwrap_or(0), mode: a.permissions.unwrap_or(0) }
    }
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & 0o170000 == 0o120000
    }
}

struct Pin {
    pinned: Option<String>,
    offered: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pin {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let text = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.to_openssh(),
            russh::keys::PublicKeyOrCertificate::Certificate(c) => c.to_openssh(),
        }
        .unwrap_or_default();
        let text = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let ok = self.pinned.as_ref().is_none_or(|p| *p == text);
        *self.offered.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
        Ok(ok)
    }
}

/// An open SFTP session.
pub struct Remote {
    sftp: RawSftpSession,
    ssh: client::Handle<Pin>,
    /// The host key the server showed (`TYPE BASE64`).
    pub host_key: String,
    /// Whether the server renames over an existing file (`posix-rename@openssh.com`).
    posix_rename: bool,
}

/// Reads in pieces of this size.
const CHUNK: u32 = 32 * 1024;

impl Remote {
    /// Connects to `access` as its user with `secret`, the server's key checked against
    /// `pinned` (any key is taken, and shown, when none is pinned yet).
    pub async fn connect(
        access: &Access,
        secret: &Secret,
        pinned: Option<&str>,
        timeout: Duration,
    ) -> Result<Remote, ConnectError> {
        match tokio::time::timeout(timeout, Self::open(access, secret, pinned, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Unreachable(format!(
                "{}:{}: no session within {timeout:?}",
                access.host, access.port
            ))),
        }
    }

    async fn open(
        access: &Access,
        secret: &Secret,
        pinned: Option<&str>,
        timeout: Duration,
    ) -> Result<Remote, ConnectError> {
        let offered = Arc::new(Mutex::new(None));
        let handler = Pin { pinned: pinned.map(str::to_string), offered: Arc::clone(&offered) };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(timeout.max(Duration::from_secs(30))),
            nodelay: true,
            ..client::Config::default()
        });
        let target = (access.host.as_str(), access.port);
        let connected = client::connect(config, target, handler).await;
        let seen = offered.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut ssh = match (connected, pinned, seen) {
            (Ok(ssh), _, _) => ssh,
            (Err(_), Some(p), Some(s)) if p != s => {
                return Err(ConnectError::HostKeyChanged { pinned: p.to_string(), offered: s });
            }
            (Err(e), _, _) => return Err(ConnectError::Unreachable(format!("{}:{}: {e}", access.host, access.port))),
        };
        let host_key = offered.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        let auth = match secret {
            Secret::Password(p) => ssh.authenticate_password(&access.user, p).await,
            Secret::Key(text) => {
                let key = russh::keys::decode_secret_key(text, None).map_err(|e| {
                    ConnectError::Key(format!(
                        "the private key cannot be read (Ed25519 or ECDSA in OpenSSH format): {e}"
                    ))
                })?;
                ssh.authenticate_publickey(&access.user, PrivateKeyWithHashAlg::new(Arc::new(key), None)).await
            }
        };
        let unreachable = |e: russh::Error| ConnectError::Unreachable(format!("{}:{}: {e}", access.host, access.port));
        if !auth.map_err(unreachable)?.success() {
            return Err(ConnectError::Refused(format!(
                "{} ({}) at {}:{}",
                access.user,
                secret.kind(),
                access.host,
                access.port
            )));
        }
        let channel = ssh.channel_open_session().await.map_err(unreachable)?;
        channel.request_subsystem(true, "sftp").await.map_err(unreachable)?;
        let sftp = RawSftpSession::new(channel.into_stream());
        sftp.set_timeout(timeout.as_secs().max(1));
        let version = sftp.init().await.map_err(|e| ConnectError::Unreachable(format!("SFTP: {e}")))?;
        let posix_rename = version.extensions.contains_key("posix-rename@openssh.com");
        Ok(Remote { sftp, ssh, host_key, posix_rename })
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.sftp.close_session();
        let _ = self.ssh.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }

    /// The attributes of `path` itself (a link is not followed).
    pub async fn lstat(&self, path: &str) -> Result<Stat, OpError> {
        self.sftp.lstat(path).await.map(|a| Stat::of(&a.attrs)).map_err(|e| op(path, e))
    }

    /// The entries of the folder `path` (names and attributes, links not followed),
    /// at most `max`; more is an error.
    pub async fn list(&self, path: &str, max: usize) -> Result<Vec<(String, Stat)>, OpError> {
        let handle = self.sftp.opendir(path).await.map_err(|e| op(path, e))?.handle;
        let mut entries = Vec::new();
        let result = loop {
            match self.sftp.readdir(handle.as_str()).await {
                Ok(name) => {
                    entries.extend(name.files.into_iter().map(|f| (f.filename, Stat::of(&f.attrs))));
                    if entries.len() > max + 2 {
                        break Err(OpError::Failed { path: path.into(), reason: format!("more than {max} entries") });
                    }
                }
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(()),
                Err(e) => break Err(op(path, e)),
            }
        };
        let _ = self.sftp.close(handle).await;
        result.map(|()| entries)
    }

    /// The target of the link at `path`.
    pub async fn read_link(&self, path: &str) -> Result<String, OpError> {
        let name = self.sftp.readlink(path).await.map_err(|e| op(path, e))?;
        name.files
            .into_iter()
            .next()
            .map(|f| f.filename)
            .ok_or_else(|| OpError::Failed { path: path.into(), reason: "no link target".into() })
    }

    /// The whole content of the file at `path` (at most `max` bytes), read once: an error
    /// when its size or time moved while it was read.
    pub async fn read(&self, path: &str, max: u64) -> Result<(Vec<u8>, Stat), OpError> {
        let handle =
            self.sftp.open(path, OpenFlags::READ, FileAttributes::empty()).await.map_err(|e| op(path, e))?.handle;
        let result = self.read_handle(path, &handle, max).await;
        let _ = self.sftp.close(handle).await;
        result
    }

    async fn read_handle(&self, path: &str, handle: &str, max: u64) -> Result<(Vec<u8>, Stat), OpError> {
        let before = Stat::of(&self.sftp.fstat(handle).await.map_err(|e| op(path, e))?.attrs);
        if before.size > max {
            return Err(OpError::TooLarge { path: path.into(), size: before.size, max });
        }
        let mut data = Vec::with_capacity(usize::try_from(before.size).unwrap_or(0));
        loop {
            match self.sftp.read(handle, data.len() as u64, CHUNK).await {
                Ok(d) if d.data.is_empty() => break,
                Ok(d) => data.extend_from_slice(&d.data),
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                Err(e) => return Err(op(path, e)),
            }
            if data.len() as u64 > max {
                return Err(OpError::TooLarge { path: path.into(), size: data.len() as u64, max });
            }
        }
        let after = Stat::of(&self.sftp.fstat(handle).await.map_err(|e| op(path, e))?.attrs);
        let named = self.lstat(path).await?;
        if after != before
            || data.len() as u64 != before.size
            || named.size != before.size
            || named.mtime != before.mtime
        {
            return Err(OpError::Unstable { path: path.into() });
        }
        Ok((data, before))
    }

    /// Writes `data` to `path` through `tmp` (created new, never an existing name),
    /// with `mode`, then renames it into place.
    pub async fn put(&self, path: &str, tmp: &str, data: &[u8], mode: u32) -> Result<(), OpError> {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let mut attrs = FileAttributes::empty();
        attrs.permissions = Some(mode & 0o7777);
        let handle = self.sftp.open(tmp, flags, attrs).await.map_err(|e| op(tmp, e))?.handle;
        let mut written = 0usize;
        let mut result = Ok(());
        for chunk in data.chunks(CHUNK as usize) {
            if let Err(e) = self.sftp.write(handle.as_str(), written as u64, chunk.to_vec()).await {
                result = Err(op(tmp, e));
                break;
            }
            written += chunk.len();
        }
        let closed = self.sftp.close(handle).await;
        if result.is_ok()
            && let Err(e) = closed
        {
            result = Err(op(tmp, e));
        }
        if result.is_ok() {
            let mut attrs = FileAttributes::empty();
            attrs.permissions = Some(mode & 0o7777);
            result = self.sftp.setstat(tmp, attrs).await.map(|_| ()).map_err(|e| op(tmp, e));
        }
        if result.is_ok() {
            result = self.rename(tmp, path).await;
        }
        if result.is_err() {
            let _ = self.sftp.remove(tmp).await;
        }
        result
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), OpError> {
        if !self.posix_rename {
            // Plain SFTP rename refuses an existing target: the old file goes first.
            match self.sftp.remove(to).await {
                Ok(_) => {}
                Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {}
                Err(e) => return Err(op(to, e)),
            }
            return self.sftp.rename(from, to).await.map(|_| ()).map_err(|e| op(to, e));
        }
        let mut data = Vec::with_capacity(8 + from.len() + to.len());
        for s in [from, to] {
            data.extend_from_slice(&(s.len() as u32).to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        match self.sftp.extended("posix-rename@openssh.com", data).await {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(s)) => {
                Err(OpError::Failed { path: to.into(), reason: format!("rename: {}", s.error_message) })
            }
            Ok(_) => Err(OpError::Failed { path: to.into(), reason: "rename: unexpected answer".into() }),
            Err(e) => Err(op(to, e)),
        }
    }

    /// Removes the file or link at `path` (never a folder's content).
    pub async fn remove(&self, path: &str) -> Result<(), OpError> {
        self.sftp.remove(path).await.map(|_| ()).map_err(|e| op(path, e))
    }

    /// Makes a link at `path` pointing to `target`. OpenSSH's server reads the two paths
    /// of SSH_FXP_SYMLINK in the reverse of the draft's order (target first), as its own
    /// client sends them: they are sent in that order here.
    pub async fn symlink(&self, target: &str, path: &str) -> Result<(), OpError> {
        self.sftp.symlink(target, path).await.map(|_| ()).map_err(|e| op(path, e))
    }

    /// Makes the folder `path` (an existing one is fine).
    pub async fn mkdir(&self, path: &str, mode: u32) -> Result<(), OpError> {
        let mut attrs = FileAttributes::empty();
        attrs.permissions = Some(mode & 0o7777);
        match self.sftp.mkdir(path, attrs).await {
            Ok(_) => Ok(()),
            Err(e) => match self.lstat(path).await {
                Ok(s) if s.is_dir() => Ok(()),
                _ => Err(op(path, e)),
            },
        }
    }
}

fn op(path: &str, e: SftpError) -> OpError {
    match e {
        SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile => OpError::Missing { path: path.into() },
        e => OpError::Failed { path: path.into(), reason: e.to_string() },
    }
}
