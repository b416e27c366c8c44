//! Who is acting from the command line, as the audit trail names them: the name given
//! with `--as` (or `PERIMETER_ACTOR`), else the person behind `sudo` (`SUDO_USER`), else
//! the login name (`USER`, `LOGNAME`), else the process's user from the password file,
//! else its numeric uid. Never "unknown".
//!
//! Must not: trust this for authorisation; the CLI runs with the store's own rights.

use std::sync::OnceLock;

static GIVEN: OnceLock<String> = OnceLock::new();

/// Records the name given on the command line, if any (once, at start).
pub fn set_given(name: Option<&str>) {
    if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
        let _ = GIVEN.set(name.to_string());
    }
}

/// `cli:NAME` for the audit trail.
pub fn cli_actor() -> String {
    let person = GIVEN.get().cloned().or_else(|| from_env(|k| std::env::var(k).ok())).unwrap_or_else(from_uid);
    format!("cli:{person}")
}

/// The person named by the environment: behind `sudo` first, then the login name.
fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["SUDO_USER", "USER", "LOGNAME"].into_iter().filter_map(var).find(|v| !v.trim().is_empty())
}

/// The process's user from the password file, or `uid:N`.
fn from_uid() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
    let Some(uid) = uid else { return "uid:?".into() };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd_name(&passwd, uid).unwrap_or_else(|| format!("uid:{uid}"))
}

fn passwd_name(passwd: &str, uid: &str) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut fields = l.split(':');
        let (name, uid_field) = (fields.next()?, fields.nth(1)?);
        (uid_field == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_person_behind_sudo_comes_first_then_the_login_name() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(from_env(env(&[("SUDO_USER", "alice"), ("USER", "root")])), Some("alice".into()));
        assert_eq!(from_env(env(&[("USER", "bob"), ("LOGNAME", "x")])), Some("bob".into()));
        assert_eq!(from_env(env(&[("USER", " "), ("LOGNAME", "carol")])), Some("carol".into()));
        assert_eq!(from_env(env(&[])), None);
    }

    #[test]
    fn the_password_file_names_a_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nduty:x:1001:1001::/home/duty:/bin/sh\n";
        assert_eq!(passwd_name(passwd, "1001").as_deref(), Some("duty"));
        assert_eq!(passwd_name(passwd, "7"), None);
        assert!(!from_uid().is_empty());
    }
}
