//! Defacement protection end to end with real parts: a site namespace with a private
//! OpenSSH server (SFTP only; one test account with a key and a password) and nginx
//! serving its document root over HTTPS; the service in a namespace of its own, checking
//! on a short cycle. Changed, added and deleted files are put back, a masked news block
//! is no finding, a maintenance window keeps its changes, an unreachable site is told
//! once and restored only when back, bad input is an event and loses nothing.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{DOMAIN, Lab, SITE_ADDR};
use deface::{Deface, DefaceConfig, Hook, Mask, NewSite, Notice, PageSpec, Secret, SiteSpec};
use tokio_util::sync::CancellationToken;

/// What the service told: every notice, in order.
#[derive(Default, Clone)]
struct Told(Arc<Mutex<Vec<Notice>>>);

impl Hook for Told {
    fn notify(&self, notice: Notice) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(notice);
        Box::pin(async {})
    }
}

impl Told {
    fn findings(&self) -> Vec<store::DefaceFinding> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|n| if let Notice::Finding(f) = n { Some(f.clone()) } else { None })
            .collect()
    }
    fn events(&self, kind: &str) -> Vec<store::DefaceEvent> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|n| if let Notice::Event(e) = n { Some(e.clone()) } else { None })
            .filter(|e| e.kind == kind)
            .collect()
    }
}

struct Running {
    deface: Deface,
    told: Told,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _store_dir: tempfile::TempDir,
}

fn config(lab: &Lab) -> DefaceConfig {
    DefaceConfig {
        cycle: Duration::from_secs(2),
        full_hash_every: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        max_file_bytes: 1 << 20,
        copy_attempts: 3,
        extra_roots: Some(lab.ca.clone()),
        ..DefaceConfig::default()
    }
}

fn spec(lab: &Lab) -> SiteSpec {
    SiteSpec {
        domain: DOMAIN.into(),
        addresses: vec![SITE_ADDR.parse().unwrap()],
        access: deface::Access::parse(&format!("sftp://{}@{SITE_ADDR}{}", lab.user, lab.root.display()), None).unwrap(),
        pages: vec![PageSpec { url: format!("https://{DOMAIN}/"), masks: vec![Mask::Selector("#news".into())] }],
        include: vec![],
        exclude: vec!["news".into()],
    }
}

async fn start(lab: &Lab, secret: Secret, cfg: DefaceConfig) -> Running {
    let store_dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(&store::testing::fresh_database(store_dir.path()).await).await.unwrap();
    let sealer = Arc::new(store::Sealer::open_or_create(&store_dir.path().join("desk.key")).unwrap());
    let told = Told::default();
    let deface = Deface::new(store, sealer, cfg, store_dir.path().join("deface"), Arc::new(told.clone())).unwrap();
    deface.add_site("duty", NewSite { spec: spec(lab), secret, application_id: None }).await.unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (d, s) = (deface.clone(), stop.clone());
        async move { d.run(s).await }
    });
    let r = Running { deface, told, stop, task, _store_dir: store_dir };
    r.wait("the first reference", Duration::from_secs(30), |d| d.site.record.state == "protected").await;
    r
}

impl Running {
    async fn wait(&self, what: &str, limit: Duration, mut done: impl FnMut(&deface::SiteDetail) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            let d = self.deface.site(DOMAIN).await.unwrap();
            if done(&d) {
                return start.elapsed();
            }
            if start.elapsed() >= limit {
                let told: Vec<String> =
                    self.told.0.lock().unwrap().iter().map(|n| format!("{}: {}", n.subject(), n.body())).collect();
                panic!(
                    "{what}: not within {limit:?}; site: {} {:?}; told: {told:#?}",
                    d.site.record.state, d.site.record.state_detail
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task).await.expect("the service stops").unwrap();
    }
}

/// Runs `f` on a runtime of a thread inside the lab's service namespace.
fn in_service<F: std::future::Future<Output = ()>>(lab: &Lab, f: impl FnOnce() -> F + Send) {
    std::thread::scope(|s| {
        s.spawn(|| {
            lab.enter_service();
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f());
        })
        .join()
        .unwrap();
    });
}

fn assert_root_intact(lab: &Lab) {
    assert_eq!(std::fs::read_to_string(lab.outside.join("secret.txt")).unwrap(), "outside the root\n");
    assert_eq!(std::fs::read_dir(&lab.outside).unwrap().count(), 1, "nothing written outside the root");
}

#[test]
fn changed_added_and_deleted_files_are_put_back_and_masked_news_is_no_finding() {
    if !common::prerequisites() {
        return;
    }
    let lab = Lab::new();
    in_service(&lab, || async {
        let run = start(&lab, Secret::Key(lab.key.clone()), config(&lab)).await;
        assert_eq!(run.told.events("host-key-pinned").len(), 1);
        let site = run.deface.site(DOMAIN).await.unwrap().site;
        assert_eq!(site.record.host_key.as_deref(), Some(lab.host_public_key().as_str()));
        assert!(site.record.reference_files >= 3 && site.record.reference_pages >= 2, "{:?}", site.record);

        // The news block changes inside its mask (an excluded folder the CMS writes to).
        lab.write("news/latest.html", b"<p>News of 2 June: <b>a new park</b></p>");
        let checks = run.deface.metrics().cycles;
        run.wait("three more checks", Duration::from_secs(30), |_| run.deface.metrics().cycles >= checks + 3).await;
        assert!(run.told.findings().is_empty(), "a masked change is no finding: {:?}", run.told.findings());

        for (n, (what, change)) in
            [("index.html", "changed"), ("shell.php", "added"), ("css/site.css", "deleted")].into_iter().enumerate()
        {
            let changed_at = Instant::now();
            match change {
                "changed" => lab.write(what, b"<html><body><h1>HACKED BY NOBODY</h1></body></html>"),
                "added" => lab.write(what, b"<?php system($_GET['c']); ?>"),
                _ => std::fs::remove_file(lab.root.join(what)).unwrap(),
            }
            run.wait(&format!("{what} {change}, put back"), Duration::from_secs(90), |d| {
                d.findings.len() > n && d.site.record.state == "protected"
            })
            .await;
            let took = changed_at.elapsed();
            assert!(took < Duration::from_secs(90), "{what}: {took:?}");
            let findings = run.told.findings();
            assert_eq!(findings.len(), n + 1, "one finding for {what}: {findings:?}");
            let f = findings.last().unwrap();
            assert_eq!((f.kind.as_str(), f.outcome.as_str()), ("unauthorised", "restored"), "{f:?}");
            let files = f.files.as_array().unwrap();
            assert_eq!(files.len(), 1, "{f:?}");
            assert_eq!(files[0]["path"], what);
            assert_eq!(files[0]["change"], change);
            assert!(f.restored_at.is_some() && f.confirmed_at.is_some(), "restored and pages confirmed: {f:?}");
            let evidence = run._store_dir.path().join("deface/sites").join(DOMAIN).join("evidence");
            match change {
                "changed" => {
                    assert_eq!(lab.read(what).unwrap(), common::INDEX.as_bytes());
                    assert!(
                        f.diff.contains("-<body><h1>Welcome to the akimat</h1>")
                            && f.diff.contains("+<html><body><h1>HACKED"),
                        "{}",
                        f.diff
                    );
                    assert!(f.pages.to_string().contains("visible text"), "{}", f.pages);
                    let kept =
                        std::fs::read(evidence.join(f.evidence.as_ref().unwrap()).join("files").join(what)).unwrap();
                    assert!(kept.starts_with(b"<html><body><h1>HACKED"));
                }
                "added" => {
                    assert!(lab.read(what).is_none(), "the intruder's file is gone from the root");
                    let kept =
                        std::fs::read(evidence.join(f.evidence.as_ref().unwrap()).join("files").join(what)).unwrap();
                    assert_eq!(kept, b"<?php system($_GET['c']); ?>", "and kept as evidence");
                }
                _ => assert_eq!(lab.read(what).unwrap(), b"body { color: #123; }\n"),
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(&lab.root).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(!leftovers.iter().any(|n| n.to_string_lossy().contains(".deface-")), "{leftovers:?}");
        let m = run.deface.metrics();
        assert_eq!((m.findings, m.restores, m.restore_failures), (3, 3, 0), "{m:?}");
        assert!(deface::render_metrics(&m).contains("deface_restores_total 3"));
        assert_root_intact(&lab);
        run.stop().await;
    });
}

#[test]
fn a_window_keeps_its_changes_and_an_accepted_change_is_made_again() {
    if !common::prerequisites() {
        return;
    }
    let lab = Lab::new();
    in_service(&lab, || async {
        let run = start(&lab, Secret::Password(lab.password.clone()), config(&lab)).await;
        run.deface.window("webmaster", DOMAIN, true).await.unwrap();
        lab.write("about.html", b"<html><body><h1>About</h1><p>New director.</p></body></html>\n");
        run.wait("the change recorded in the window", Duration::from_secs(30), |d| !d.findings.is_empty()).await;
        let f = &run.told.findings()[0];
        assert_eq!((f.kind.as_str(), f.outcome.as_str()), ("window", "recorded"), "{f:?}");
        let checks = run.deface.metrics().cycles;
        run.wait("two more checks", Duration::from_secs(30), |_| run.deface.metrics().cycles >= checks + 2).await;
        assert_eq!(run.told.findings().len(), 1, "recorded once");
        assert!(lab.read("about.html").unwrap().ends_with(b"New director.</p></body></html>\n"), "kept");

        run.deface.window("webmaster", DOMAIN, false).await.unwrap();
        let checks = run.deface.metrics().cycles;
        run.wait("two checks after the window", Duration::from_secs(30), |_| run.deface.metrics().cycles >= checks + 2)
            .await;
        assert_eq!(run.told.findings().len(), 1, "the window's change is the reference now");
        assert!(lab.read("about.html").unwrap().ends_with(b"New director.</p></body></html>\n"));

        // An unannounced change is put back, then accepted: made again, and kept.
        lab.write("index.html", b"<html><body><h1>Welcome, new design</h1></body></html>\n");
        run.wait("the change put back", Duration::from_secs(90), |d| {
            d.findings.len() == 2 && d.site.record.state == "protected"
        })
        .await;
        assert_eq!(lab.read("index.html").unwrap(), common::INDEX.as_bytes());
        let accepted = run.deface.accept("webmaster", DOMAIN, None).await.unwrap();
        assert_eq!((accepted.outcome.as_str(), accepted.accepted_by.as_deref()), ("accepted", Some("webmaster")));
        assert_eq!(lab.read("index.html").unwrap(), b"<html><body><h1>Welcome, new design</h1></body></html>\n");
        let checks = run.deface.metrics().cycles;
        run.wait("two checks after acceptance", Duration::from_secs(30), |_| run.deface.metrics().cycles >= checks + 2)
            .await;
        assert_eq!(run.told.findings().len(), 2, "the accepted change stays");
        let audit = run.deface.site(DOMAIN).await.unwrap();
        assert_eq!(audit.site.open_findings, 1, "the window's finding stays open, the accepted one is closed");
        run.stop().await;
    });
}

#[test]
fn an_unreachable_site_is_told_once_and_restored_only_when_back() {
    if !common::prerequisites() {
        return;
    }
    let lab = Lab::new();
    in_service(&lab, || async {
        let run = start(&lab, Secret::Key(lab.key.clone()), config(&lab)).await;
        lab.stop_sshd();
        lab.write("index.html", b"defaced while nobody could see");
        run.wait("unreachable", Duration::from_secs(30), |d| d.site.record.state == "unreachable").await;
        let checks = run.deface.metrics().cycles;
        run.wait("three more checks", Duration::from_secs(60), |_| run.deface.metrics().cycles >= checks + 3).await;
        assert_eq!(run.told.events("unreachable").len(), 1, "told once");
        assert_eq!(lab.read("index.html").unwrap(), b"defaced while nobody could see", "nothing restored");
        assert!(run.told.findings().is_empty());

        lab.start_sshd();
        run.wait("back and restored", Duration::from_secs(60), |d| {
            d.findings.len() == 1 && d.site.record.state == "protected"
        })
        .await;
        assert_eq!(run.told.events("reachable").len(), 1);
        assert_eq!(lab.read("index.html").unwrap(), common::INDEX.as_bytes());
        run.stop().await;
    });
}

#[test]
fn bad_input_is_an_event_and_nothing_is_lost_or_touched_outside_the_root() {
    if !common::prerequisites() {
        return;
    }
    let lab = Lab::new();
    in_service(&lab, || bad_input(&lab));
}

async fn bad_input(lab: &Lab) {
    let run = start(lab, Secret::Key(lab.key.clone()), config(lab)).await;
    // A link out of the root, a name with a newline, a huge file, a file always changing.
    std::os::unix::fs::symlink(&lab.outside, lab.root.join("escape")).unwrap();
    lab.write("bad\nname.html", b"<p>odd</p>");
    let huge = std::fs::File::create(lab.root.join("huge.iso")).unwrap();
    huge.set_len(3 << 20).unwrap();
    // A log growing all the time (a few bytes every 2 ms from 256 KiB): every read of it
    // sees its size move.
    let busy = lab.root.join("busy.log");
    lab.write("busy.log", &vec![b'.'; 256 << 10]);
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = std::thread::spawn({
        let (busy, writing) = (busy.clone(), Arc::clone(&writing));
        move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&busy).unwrap();
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = f.write_all(b"tick\n");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    run.wait("every bad input told", Duration::from_secs(60), |_| {
        ["link-outside", "refused-name", "too-large", "unstable"].iter().all(|k| !run.told.events(k).is_empty())
    })
    .await;
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    for kind in ["link-outside", "refused-name", "too-large", "unstable"] {
        let e = run.told.events(kind);
        assert_eq!(e.len(), 1, "{kind} told once: {e:?}");
    }
    assert!(
        run.told.events("refused-name")[0].detail.contains("bad\\nname.html"),
        "{:?}",
        run.told.events("refused-name")
    );
    assert!(run.told.events("link-outside")[0].detail.contains(lab.outside.to_str().unwrap()));
    // The added files it could not keep are left where they are; the rest go as findings.
    assert!(std::fs::symlink_metadata(lab.root.join("escape")).unwrap().file_type().is_symlink());
    assert!(lab.read("bad\nname.html").is_some() && lab.read("huge.iso").unwrap().len() == 3 << 20);
    assert_root_intact(lab);
    // Once the log holds still it is an added file like any other: kept, then removed.
    let last = std::fs::read(&busy).unwrap();
    run.wait("the still log put aside", Duration::from_secs(60), |d| !d.findings.is_empty()).await;
    assert!(!Path::new(&busy).exists());
    let f = &run.told.findings()[0];
    assert_eq!(f.files.as_array().unwrap().len(), 1, "only the log: {f:?}");
    let evidence = run._store_dir.path().join("deface/sites").join(DOMAIN).join("evidence");
    let kept = std::fs::read(evidence.join(f.evidence.as_ref().unwrap()).join("files/busy.log")).unwrap();
    assert_eq!(kept, last, "nothing lost");

    // A host key that changes: an event, and nothing is done until a person confirms.
    lab.stop_sshd();
    lab.host_key(true);
    lab.start_sshd();
    lab.write("index.html", b"defaced behind a new host key");
    run.wait("host key changed", Duration::from_secs(30), |d| d.site.record.state == "host-key-changed").await;
    let checks = run.deface.metrics().cycles;
    run.wait("two more checks", Duration::from_secs(30), |_| run.deface.metrics().cycles >= checks + 2).await;
    assert_eq!(run.told.events("host-key-changed").len(), 1);
    assert_eq!(lab.read("index.html").unwrap(), b"defaced behind a new host key", "nothing done over a changed key");
    run.deface.confirm_host_key("duty", DOMAIN, &lab.host_public_key()).await.unwrap();
    run.wait("restored after the key is confirmed", Duration::from_secs(60), |d| d.site.record.state == "protected")
        .await;
    assert_eq!(lab.read("index.html").unwrap(), common::INDEX.as_bytes());
    assert_root_intact(lab);
    run.stop().await;
}
