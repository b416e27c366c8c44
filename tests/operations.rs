//! What a duty team notices when it runs the service: the files it leaves are private,
//! its log written to a file carries no colour codes, and the audit trail names the
//! person behind each change made from the command line.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use common::{Env, eventually};

/// Every file and directory under `root` with a mode that lets anyone but the owner in.
fn open_to_others(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.permissions().mode() & 0o077 != 0 {
            found.push(format!("{} {:o}", path.display(), meta.permissions().mode() & 0o777));
        }
        if meta.is_dir() {
            todo.extend(std::fs::read_dir(&path).into_iter().flatten().filter_map(Result::ok).map(|e| e.path()));
        }
    }
    found
}

#[test]
fn data_files_are_private_and_a_log_file_has_no_colour_codes() {
    let env = Env::new();
    let cast = env.cast();
    let list = env.write("alpha.csv", &format!("203.0.113.0/24,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", list.to_str().unwrap()]);
    let log_path = env.path("perimeter.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = env.up_logging("info", Stdio::from(log));
    eventually("the service has logged its start", || {
        std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("catalog loaded"))
    });
    drop(server);
    let data = env.path("data");
    assert!(data.join("ca").exists() && data.join("spool").exists(), "the service wrote its data");
    assert_eq!(open_to_others(&data), Vec::<String>::new(), "everything under the data directory is private");
    let sqlite = env.path("catalog.db");
    if sqlite.exists() {
        assert_eq!(open_to_others(&sqlite), Vec::<String>::new(), "the SQLite catalog is private");
    }
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(!text.contains('\u{1b}'), "no ANSI escapes in a log file:\n{text}");
}

#[test]
fn cli_changes_name_the_person_not_unknown() {
    let env = Env::new();
    env.cast();
    env.ok(&["block", "add", "198.51.100.7", "--reason", "test 1", "--as", "duty-alice"]);
    let out = env.run_with_env(&["block", "add", "198.51.100.8", "--reason", "test 2"], &[("SUDO_USER", "bob")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.ok(&["block", "add", "198.51.100.9", "--reason", "test 3"]);
    let audit: serde_json::Value = serde_json::from_str(&env.ok(&["audit", "--json"])).expect("json");
    let actor_of = |subject: &str| {
        let change = audit.as_array().unwrap().iter().find(|c| c["subject"] == subject);
        change.map(|c| c["actor"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(actor_of("block:198.51.100.7/32").as_deref(), Some("cli:duty-alice"), "{audit:#}");
    assert_eq!(actor_of("block:198.51.100.8/32").as_deref(), Some("cli:bob"), "the person behind sudo");
    assert_eq!(actor_of("block:198.51.100.9/32").as_deref(), Some("cli:tester"), "the login name");
}
