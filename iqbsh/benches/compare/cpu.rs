//! CPU time from `/proc`: of a whole process (Squid) or of this process's
//! threads whose names start with given prefixes (the IQBSH runtime, its
//! leaf-forge and access-log threads).

fn stat_seconds(stat: &str) -> f64 {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// User + system CPU seconds of process `pid`.
pub fn process(pid: u32) -> f64 {
    stat_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// User + system CPU seconds of process `pid` and its children (Squid and its
/// certificate-generator helpers).
pub fn process_tree(pid: u32) -> f64 {
    let Ok(procs) = std::fs::read_dir("/proc") else { return process(pid) };
    let mut total = process(pid);
    for p in procs.flatten() {
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(pid.to_string().as_str()) {
            total += stat_seconds(&stat);
        }
    }
    total
}

/// User + system CPU seconds of this process's threads named with one of `prefixes`.
pub fn threads(prefixes: &[&str]) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if prefixes.iter().any(|p| comm.starts_with(p)) {
            total += stat_seconds(&std::fs::read_to_string(task.path().join("stat")).unwrap_or_default());
        }
    }
    total
}
