//! Static host names consulted before DNS: a hosts-format file
//! (`address name [alias...]`, `#` comments) and the config's `dns.hosts`
//! table, merged into one map (the table wins for a name both define).
//!
//! Must not: resolve anything over the network; see `resolve`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::config::{ConfigError, DnsConfig, Problem};
use crate::decide::hostname::normalise;

/// Parses hosts-format text; `source` names the file in problems.
pub(crate) fn parse(text: &str, source: &str) -> Result<HashMap<String, Vec<IpAddr>>, Vec<Problem>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let at = |message: String| Problem { location: format!("{source}:{}", n + 1), message };
        let Ok(ip) = first.parse::<IpAddr>() else {
            problems.push(at(format!("'{first}' is not an IP address")));
            continue;
        };
        let names: Vec<&str> = words.collect();
        if names.is_empty() {
            problems.push(at(format!("no host name after {ip}")));
        }
        for name in names {
            match normalise(name) {
                Some(name) => map.entry(name).or_default().push(ip),
                None => problems.push(at(format!("'{name}' is not a valid host name"))),
            }
        }
    }
    if problems.is_empty() { Ok(map) } else { Err(problems) }
}

/// Reads the hosts file (if any) and merges the `dns.hosts` table over it.
pub(crate) fn load(dns: &DnsConfig) -> Result<HashMap<String, Vec<IpAddr>>, ConfigError> {
    let mut map = match &dns.hosts_file {
        Some(path) => read_file(path)?,
        None => HashMap::new(),
    };
    for (name, ips) in &dns.hosts {
        let key = normalise(name)
            .ok_or_else(|| ConfigError::one(format!("dns.hosts.{name:?}"), "is not a valid host name"))?;
        map.insert(key, ips.clone());
    }
    Ok(map)
}

fn read_file(path: &Path) -> Result<HashMap<String, Vec<IpAddr>>, ConfigError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(format!("dns.hosts_file {source}"), format!("cannot read: {e}")))?;
    parse(&text, &source).map_err(|problems| ConfigError { problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_and_comments() {
        let text = "# test names\n127.0.0.1 Bank.Test. www.bank.test # inline\n\n::1 six.test\n127.0.0.2 bank.test\n";
        let map = parse(text, "hosts").expect("valid");
        let bank: Vec<String> = map["bank.test"].iter().map(|ip| ip.to_string()).collect();
        assert_eq!(bank, ["127.0.0.1", "127.0.0.2"]);
        assert_eq!(map["www.bank.test"].len(), 1);
        assert_eq!(map["six.test"][0].to_string(), "::1");
    }

    #[test]
    fn problems_name_file_and_line() {
        let problems = parse("127.0.0.1 ok.test\nnot-an-ip x.test\n127.0.0.1\n127.0.0.1 bad_name!\n", "/etc/h")
            .expect_err("invalid");
        let at: Vec<&str> = problems.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(at, ["/etc/h:2", "/etc/h:3", "/etc/h:4"]);
    }

    #[test]
    fn the_table_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hosts");
        std::fs::write(&path, "127.0.0.9 a.test b.test\n").expect("write");
        let mut dns = DnsConfig { hosts_file: Some(path), ..DnsConfig::default() };
        dns.hosts.insert("A.test".into(), vec!["127.0.0.1".parse().expect("ip")]);
        let map = load(&dns).expect("loads");
        assert_eq!(map["a.test"][0].to_string(), "127.0.0.1");
        assert_eq!(map["b.test"][0].to_string(), "127.0.0.9");
    }
}
