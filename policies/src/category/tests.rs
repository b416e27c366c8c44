//! Category database: suffix matching, list formats with located errors, shipped data.

use super::*;

fn db(csv: &str) -> CategoryDb {
    let mut b = CategoryDb::builder();
    b.add_csv(csv, "test.csv").unwrap();
    b.build()
}

fn names(cats: &[Category]) -> Vec<&str> {
    cats.iter().map(Category::as_str).collect()
}

#[test]
fn suffixes_match_on_label_boundaries_and_the_longest_wins() {
    let db = db("bank.kz,finance\nnews.bank.kz,news\nexample.org,news,education\n");
    assert_eq!(names(db.lookup("bank.kz")), ["finance"]);
    assert_eq!(names(db.lookup("WWW.Bank.KZ.")), ["finance"]);
    assert_eq!(names(db.lookup("a.news.bank.kz")), ["news"], "the longest listed suffix wins");
    assert!(db.lookup("notbank.kz").is_empty(), "not on a label boundary");
    assert!(db.lookup("kz").is_empty());
    assert_eq!(names(db.lookup("example.org")), ["education", "news"]);
    assert!(db.is_exempt("online.bank.kz"));
    assert!(!db.is_exempt("news.bank.kz"));
}

#[test]
fn ip_literals_never_match_domain_entries_and_are_in_their_own_category() {
    let db = db("bank.kz,finance\n");
    for literal in ["192.0.2.1", "[2001:db8::1]", "::ffff:192.0.2.1", "192.0.2.1."] {
        let found: Vec<&str> = db.lookup(literal).iter().map(Category::as_str).collect();
        assert_eq!(found, [super::IP_LITERAL], "{literal}");
    }
    assert!(!db.is_exempt("192.0.2.1"));
    assert!(db.lookup("").is_empty());
}

#[test]
fn ut1_lists_load_with_aliases_and_bad_files_add_nothing() {
    let mut b = CategoryDb::builder().with_ut1_aliases();
    let n =
        b.add_ut1_domains("bank", "\u{feff}# banks\r\n.halykbank.kz\r\n\r\nkaspi.kz\n", "ut1/bank/domains").unwrap();
    assert_eq!(n, 2);
    let err = b.add_ut1_domains("vpn", "good-vpn.example\nba nk.kz\n192.0.2.1\nx..y\n", "ut1/vpn/domains").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ut1/vpn/domains:2: \"ba nk.kz\" is not a domain name: contains a space"), "{text}");
    assert!(text.contains("ut1/vpn/domains:3:") && text.contains("IP address"), "{text}");
    assert!(text.contains("ut1/vpn/domains:4:"), "{text}");
    let db = b.build();
    assert_eq!(names(db.lookup("www.halykbank.kz")), ["finance"], "bank maps onto finance");
    assert!(db.lookup("good-vpn.example").is_empty(), "a refused file adds nothing");
}

#[test]
fn csv_problems_are_located() {
    let mut b = CategoryDb::builder();
    let err =
        b.add_csv("domain,categories\nok.example,news\nbad.example\nx.example,Not A Slug\n", "c.csv").unwrap_err();
    assert_eq!(err.0.iter().map(|e| e.line).collect::<Vec<_>>(), [3, 4], "{err}");
    assert!(err.0[0].message.contains("has no category"));
    assert!(err.0[1].message.contains("'Not A Slug' is not a category name"));
}

#[test]
fn only_the_first_entry_is_a_csv_header() {
    // Found by fuzzing: every `domain,…` line before the first row was skipped as a
    // header, so a host really named `domain` (or a repeated header) vanished silently.
    let d = db("# list\ndomain,category\ndomain,news\nexample.test,social\n");
    assert_eq!(names(d.lookup("domain")), ["news"]);
    assert_eq!(names(d.lookup("www.example.test")), ["social"]);
    let mut b = CategoryDb::builder();
    let errors = b.add_csv("domain,category\ndomain,Category\n", "c.csv").unwrap_err();
    assert_eq!(errors.0.iter().map(|e| e.line).collect::<Vec<_>>(), [2], "a second header is a bad row");
}

#[test]
fn shipped_lists_parse_and_cover_known_hosts() {
    let db = CategoryDb::defaults();
    assert!(db.len() > 100);
    for (host, category) in [
        ("www.halykbank.kz", "finance"),
        ("egov.kz", "government"),
        ("adilet.zan.kz", "government"),
        ("who.int", "health"),
        ("us02web.zoom.us", "videoconferencing"),
        ("upd.kaspersky.com", "antivirus-updates"),
        ("deb.debian.org", "os-updates"),
        ("7.tlu.dl.delivery.mp.microsoft.com", "os-updates"),
    ] {
        assert_eq!(names(db.lookup(host)), [category], "{host}");
        assert!(db.is_exempt(host));
    }
    assert!(!db.is_exempt("example.com"));
}

#[test]
fn slugs_and_named_sets() {
    assert!(Category::new("os-updates").unwrap().is_exempt());
    assert!(Category::new("vpn").unwrap().is_risky());
    assert!(!Category::new("news").unwrap().is_exempt());
    assert!(Category::new("News").is_err() && Category::new("-x").is_err() && Category::new("").is_err());
    assert_eq!(EXEMPT.len(), 7);
    assert!(EXEMPT.iter().all(|e| Category::new(e).unwrap().label() != *e), "every exempt category has a label");
}
