//! Threat feeds: each format with real-world quirks, located problems, and
//! lookups of hosts, URLs and addresses.

use super::*;

fn parse(format: FeedFormat, text: &str) -> FeedEntries {
    parse_feed(format, text, "feed").unwrap_or_else(|e| panic!("{e}"))
}

fn db_of(feeds: &[(&str, ThreatCategory, FeedFormat, &str)]) -> ThreatDb {
    let mut b = ThreatDb::builder();
    for (name, category, format, text) in feeds {
        b.add(name, *category, &parse(*format, text));
    }
    b.build()
}

#[test]
fn hosts_files_skip_their_boilerplate_and_inline_comments() {
    let text = "\u{feff}# StevenBlack-style\r\n127.0.0.1 localhost\r\n::1 localhost ip6-localhost\n0.0.0.0 0.0.0.0\n\
                0.0.0.0 evil.example   # dropper\n0.0.0.0 a.bad.test b.bad.test\n\n";
    let e = parse(FeedFormat::Hosts, text);
    assert_eq!(e.domains, ["evil.example", "a.bad.test", "b.bad.test"]);
    assert!(e.nets.is_empty());
}

#[test]
fn domain_lists_take_names_and_addresses() {
    let e = parse(FeedFormat::Domains, "# phishing\nLogin-Bank.Example.\n*.kaspi-bonus.test\n198.51.100.7\n");
    assert_eq!(e.domains, ["login-bank.example", "kaspi-bonus.test"]);
    assert_eq!(e.nets, [Cidr { addr: "198.51.100.7".parse().expect("ip"), len: 32 }]);
}

#[test]
fn urlhaus_csv_gives_urls() {
    let text = "################################################################\n\
# abuse.ch URLhaus Database Dump (CSV - recent URLs only)\n\
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n\
\"3145389\",\"2026-11-30 10:11:12\",\"http://192.0.2.10:5555/i\",\"online\",\"2026-11-30 10:11:12\",\"malware_download\",\"elf,mozi\",\"https://urlhaus.abuse.ch/url/3145389/\",\"lrz_urlhaus\"\n\
\"3145390\",\"2026-11-30 10:12:00\",\"https://files.example/dl/Invoice.EXE#x\",\"online\",\"\",\"malware_download\",\"exe\",\"https://urlhaus.abuse.ch/url/3145390/\",\"a \"\"quoted\"\" reporter\"\n";
    let e = parse(FeedFormat::Csv, text);
    assert_eq!(e.urls, ["192.0.2.10:5555/i", "files.example/dl/Invoice.EXE"]);
}

#[test]
fn drop_lists_give_ranges() {
    let text = "; Spamhaus DROP List 2026/12/01\n; Expires: ...\n192.0.2.0/24 ; SBL123\n2001:db8:bad::/48 ; SBL9\n203.0.113.9\n";
    let e = parse(FeedFormat::Cidr, text);
    assert_eq!(e.nets.len(), 3);
    assert_eq!(e.nets[2].len, 32);
}

#[test]
fn every_bad_line_is_named_and_the_feed_gives_nothing() {
    let err = parse_feed(FeedFormat::Cidr, "192.0.2.0/24\n192.0.2.1/24\n300.1.1.1\n10.0.0.0/33 ; x\n", "drop.txt")
        .expect_err("bad lines");
    let lines: Vec<usize> = err.0.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert!(err.to_string().starts_with("drop.txt:2: \"192.0.2.1/24\" has host bits set"), "{err}");
    let err =
        parse_feed(FeedFormat::Hosts, "0.0.0.0 good.test\nevil.test\n0.0.0.0 bad_name!.test\n", "h").expect_err("bad");
    assert_eq!(err.0.iter().map(|p| p.line).collect::<Vec<_>>(), [2, 3]);
    let err =
        parse_feed(FeedFormat::Csv, "\"1\",\"2026\"\n\"2\",\"x\",\"not a url\"\n\"3,\n", "u.csv").expect_err("bad");
    assert_eq!(err.0.len(), 3, "{err}");
    let err = parse_feed(FeedFormat::Domains, "evil.test other.test\ncom\n", "d").expect_err("bad");
    assert!(err.0[0].message.contains("hosts file"), "{err}");
    assert!(err.0[1].message.contains("top-level"), "{err}");
}

#[test]
fn lookups_by_host_url_and_address() {
    let db = db_of(&[
        ("openphish", ThreatCategory::Phishing, FeedFormat::Domains, "login-bank.example\n"),
        (
            "urlhaus",
            ThreatCategory::Malware,
            FeedFormat::Urls,
            "http://files.example/dl/a.exe\nhttp://192.0.2.10:5555/i\n",
        ),
        ("drop", ThreatCategory::Malware, FeedFormat::Cidr, "198.51.100.0/24\n198.51.100.128/25\n2001:db8:bad::/48\n"),
    ]);
    let hit = db.host("WWW.Login-Bank.Example.").expect("subdomain of a listed domain");
    assert_eq!(
        (hit.category, &*hit.feed, hit.entry.as_str()),
        (ThreatCategory::Phishing, "openphish", "login-bank.example")
    );
    assert!(db.host("notlogin-bank.example").is_none());
    assert_eq!(db.url("https://files.example:443/dl/a.exe").map(|h| h.category), Some(ThreatCategory::Malware));
    assert!(db.url("https://files.example/dl/b.exe").is_none(), "only the listed URL");
    assert!(db.url("http://login-bank.example/x?y").is_some(), "a listed host covers its URLs");
    assert_eq!(db.url("http://192.0.2.10:5555/i").map(|h| h.entry), Some("192.0.2.10:5555/i".into()));
    let hit = db.ip("198.51.100.200".parse().expect("ip")).expect("in range");
    assert_eq!(hit.entry, "198.51.100.0/24", "the earlier-starting range owns an overlap");
    assert!(db.host("[2001:db8:bad::1]").is_some());
    assert!(db.ip("::ffff:198.51.100.1".parse().expect("ip")).is_some(), "mapped addresses are IPv4");
    assert!(db.ip("203.0.113.1".parse().expect("ip")).is_none());
    assert!(db.ip("2001:db8:beef::1".parse().expect("ip")).is_none());
    let all = db_of(&[("all", ThreatCategory::Malware, FeedFormat::Cidr, "0.0.0.0/0\n::/0\n")]);
    assert!(
        all.ip("255.255.255.255".parse().expect("ip")).is_some() && all.ip("ffff::1".parse().expect("ip")).is_some()
    );
}

#[test]
fn url_normalisation() {
    assert_eq!(normalise_url("HTTP://Ex.Test.:80/a?b#c").as_deref(), Some("ex.test/a?b"));
    assert_eq!(normalise_url("https://user@ex.test:8443").as_deref(), Some("ex.test:8443/"));
    assert_eq!(normalise_url("http://[2001:db8::1]:80/").as_deref(), Some("[2001:db8::1]/"));
    assert_eq!(normalise_url("http:///nohost"), None);
    // Only a leading scheme is one: a normal form normalises to itself.
    for url in ["http://ex.test/x://y", "https://ex.test/?r=http://other.test/", "HTTP://Ex.Test:8080/a"] {
        let normal = normalise_url(url).expect("a URL");
        assert_eq!(normalise_url(&normal).as_deref(), Some(normal.as_str()), "{url}");
    }
}

#[test]
fn feed_urls_need_a_leading_scheme_and_a_real_host() {
    for bad in [
        "?///2://2:///++/",
        "ex.test/x://y",
        "1http://ex.test/",
        "http://2:/",
        "http://ex test/",
        "http://ex.test:0/",
        "http://ex.test:99999/",
        "http://[::1/",
        "http://[ex.test]/",
        "http://-ex.test/",
    ] {
        let err = parse_feed(FeedFormat::Urls, bad, "feed.urls").expect_err(bad);
        assert_eq!(err.0[0].line, 1, "{bad}: {err}");
    }
    let good = "http://ex.test/a\nhttps://[2001:db8::1]:8443/b\nhttp://192.0.2.7/c\nhxxp+s.1://ex.test/d\n";
    let entries = parse_feed(FeedFormat::Urls, good, "feed.urls").expect("valid URLs");
    assert_eq!(entries.urls, ["ex.test/a", "[2001:db8::1]:8443/b", "192.0.2.7/c", "ex.test/d"]);
}
