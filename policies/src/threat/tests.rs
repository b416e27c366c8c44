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
    assert_eq!(e.urls, ["192.0.2.10/i", "files.example/dl/Invoice.EXE"]);
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
    assert_eq!(db.url("http://192.0.2.10:5555/i").map(|h| h.entry), Some("192.0.2.10/i".into()));
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
    assert_eq!(normalise_url("https://user@ex.test:8443").as_deref(), Some("ex.test/"));
    assert_eq!(normalise_url("http://[2001:db8::1]:80/").as_deref(), Some("[2001:db8::1]/"));
    assert_eq!(normalise_url("http:///nohost"), None);
    // Safe Browsing's own examples of its canonicalisation.
    for (url, canonical) in [
        ("http://host/%25%32%35", "host/%25"),
        ("http://host/%25%32%35%25%32%35", "host/%25%25"),
        ("http://host/%2525252525252525", "host/%25"),
        ("http://host/asdf%25%32%35asd", "host/asdf%25asd"),
        ("http://host/%%%25%32%35asd%%", "host/%25%25%25asd%25%25"),
        ("http://www.google.com/", "www.google.com/"),
        (
            "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
            "168.188.99.26/.secure/www.ebay.com/",
        ),
        (
            "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
            "195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        ),
        (
            "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
            "host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
        ),
        ("http://3279880203/blah", "195.127.0.11/blah"),
        ("http://www.google.com/blah/..", "www.google.com/"),
        ("www.google.com/", "www.google.com/"),
        ("www.google.com", "www.google.com/"),
        ("http://www.evil.com/blah#frag", "www.evil.com/blah"),
        ("http://www.GOOgle.com/", "www.google.com/"),
        ("http://www.google.com.../", "www.google.com/"),
        ("http://www.google.com/foo\tbar\rbaz\n2", "www.google.com/foobarbaz2"),
        ("http://www.google.com/q?", "www.google.com/q?"),
        ("http://www.google.com/q?r?", "www.google.com/q?r?"),
        ("http://www.google.com/q?r?s", "www.google.com/q?r?s"),
        ("http://evil.com/foo#bar#baz", "evil.com/foo"),
        ("http://evil.com/foo;", "evil.com/foo;"),
        ("http://evil.com/foo?bar;", "evil.com/foo?bar;"),
        ("http://\x01\u{80}.com/", "%01%C2%80.com/"),
        ("http://notrailingslash.com", "notrailingslash.com/"),
        ("http://www.gotaport.com:1234/", "www.gotaport.com/"),
        ("  http://www.google.com/  ", "www.google.com/"),
        ("http:// leadingspace.com/", "%20leadingspace.com/"),
        ("http://%20leadingspace.com/", "%20leadingspace.com/"),
        ("%20leadingspace.com/", "%20leadingspace.com/"),
        ("https://www.securesite.com/", "www.securesite.com/"),
        ("http://host.com/ab%23cd", "host.com/ab%23cd"),
        ("http://host.com//twoslashes?more//slashes", "host.com/twoslashes?more//slashes"),
        ("http://0xc0.0.2.1/x", "192.0.2.1/x"),
        ("http://0300.0.2.1/x", "192.0.2.1/x"),
        ("http://192.0.513/x", "192.0.2.1/x"),
    ] {
        assert_eq!(normalise_url(url).as_deref(), Some(canonical), "{url:?}");
        assert_eq!(normalise_url(canonical).as_deref(), Some(canonical), "{canonical:?} is its own form");
    }
    for url in ["http://ex.test/x://y", "https://ex.test/?r=http://other.test/", "HTTP://Ex.Test:8080/a"] {
        let normal = normalise_url(url).expect("a URL");
        assert_eq!(normalise_url(&normal).as_deref(), Some(normal.as_str()), "{url}");
    }
}

#[test]
fn expressions_are_host_suffixes_times_path_prefixes() {
    let url = CanonicalUrl::parse("http://a.b.c/1/2.html?param=1").expect("a URL");
    assert_eq!(
        url.expressions(),
        [
            "a.b.c/1/2.html?param=1",
            "a.b.c/1/2.html",
            "a.b.c/",
            "a.b.c/1/",
            "b.c/1/2.html?param=1",
            "b.c/1/2.html",
            "b.c/",
            "b.c/1/"
        ]
    );
    let url = CanonicalUrl::parse("http://a.b.c.d.e.f.g/1.html").expect("a URL");
    let hosts: Vec<String> =
        url.expressions().iter().filter(|k| k.ends_with("/1.html")).map(|k| k.replace("/1.html", "")).collect();
    assert_eq!(hosts, ["a.b.c.d.e.f.g", "c.d.e.f.g", "d.e.f.g", "e.f.g", "f.g"]);
    let url = CanonicalUrl::parse("http://1.2.3.4/1/").expect("a URL");
    assert_eq!(url.expressions(), ["1.2.3.4/1/", "1.2.3.4/"]);
    let deep = CanonicalUrl::parse("http://x.test/1/2/3/4/5/6.html").expect("a URL");
    let keys = deep.expressions();
    let paths: Vec<&str> = keys.iter().take(5).map(|k| k.trim_start_matches("x.test")).collect();
    assert_eq!(paths, ["/1/2/3/4/5/6.html", "/", "/1/", "/1/2/", "/1/2/3/"]);
}

#[test]
fn a_listed_url_is_found_however_a_request_spells_it() {
    let db = db_of(&[(
        "urlhaus",
        ThreatCategory::Malware,
        FeedFormat::Urls,
        "http://malware.test/malware.exe\nhttp://files.example/dl/\nhttp://192.0.2.10/i\n",
    )]);
    for spelling in [
        "http://malware.test/malware.exe",
        "http://malware.test/malware.exe?x",
        "http://malware.test/malware.exe?x=1&y=2",
        "http://malware.test/malware%2eexe",
        "http://malware.test/malware%2Eexe",
        "http://malware.test/%6dalware.exe",
        "http://malware.test//malware.exe",
        "http://malware.test///malware.exe",
        "http://malware.test/./malware.exe",
        "http://malware.test/a/../malware.exe",
        "http://malware.test/%2e/malware.exe",
        "http://malware.test/%252e/malware.exe",
        "http://MALWARE.test./malware.exe",
        "http://malware..test/malware.exe",
        "http://www.malware.test/malware.exe",
        "http://cdn.eu.malware.test/malware.exe",
        "https://malware.test:443/malware.exe",
        "http://user:pw@malware.test:8080/malware.exe",
        "http://%6dalware.test/malware.exe",
        "http://malware.test/malware.exe#top",
        "http://malware.test/malware.exe\t",
        "http://files.example/dl/anything.bin",
        "http://files.example/dl/sub/deeper/x.zip",
        "http://files.example//dl//x",
        "http://3221225994/i",
        "http://0xc0.0.2.10/i",
        "http://0300.0.2.10/i?q",
        "http://192.0.522/i",
    ] {
        assert!(db.url(spelling).is_some(), "{spelling} should be found");
    }
    for other in [
        "http://malware.test/malware.exe.txt",
        "http://malware.test/other.exe",
        "http://notmalware.test/malware.exe",
        "http://files.example/dlx/a",
        "http://files.example/",
        "http://192.0.2.11/i",
    ] {
        assert!(db.url(other).is_none(), "{other} is not listed");
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
    assert_eq!(entries.urls, ["ex.test/a", "[2001:db8::1]/b", "192.0.2.7/c", "ex.test/d"]);
}
