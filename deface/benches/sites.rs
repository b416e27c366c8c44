//! Defacement protection at scale: 100 sites of 2,000 files each, served by one sshd
//! (SFTP) and one nginx in a namespace, the service in another. Measures the time and
//! CPU of one check cycle over all sites (the first reference, an incremental pass, a
//! full hash pass), then runs the service on its 60 s cycle while one file of every site
//! is overwritten at a random moment and every site's masked news block changes:
//! detection latency (change to finding) and restore latency (finding to pages
//! confirmed), p50 and p99, and the findings on masked-only changes (must be 0).
//! Baseline in the same run: AIDE (`aide --init`, `aide --check`) over the same files on
//! the server, as a file-integrity monitor does (an agent on the server, detect only).
//! Fails when it counts an error (a site not restored, a finding on a masked change).
//!
//!   cargo bench -p deface --bench sites            # as root
//!   DEFACE_BENCH_SITES=20 cargo bench -p deface --bench sites

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BENCH_SUFFIX, Lab, SITE_ADDR};
use deface::{Access, Deface, DefaceConfig, Hook, Mask, NewSite, Notice, PageSpec, Secret, SiteSpec};
use tokio_util::sync::CancellationToken;

const FILES: usize = 2_000;

struct Count(Arc<Mutex<Vec<Notice>>>);

impl Hook for Count {
    fn notify(&self, notice: Notice) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(notice);
        Box::pin(async {})
    }
}

fn main() {
    if !common::prerequisites() || !common::required("aide", Path::new("/usr/bin/aide").exists()) {
        return;
    }
    let sites: usize = std::env::var("DEFACE_BENCH_SITES").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let lab = Lab::new();
    let dir = lab.dir.path().join("sites");
    let t = Instant::now();
    make_sites(&lab, &dir, sites);
    println!("{sites} sites of {FILES} files written in {:.1} s", t.elapsed().as_secs_f64());
    lab.serve_many(&dir);
    aide_baseline(&lab, &dir);
    std::thread::scope(|s| {
        s.spawn(|| {
            lab.enter_service();
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(measure(&lab, &dir, sites));
        });
    });
}

fn name(i: usize) -> String {
    format!("s{i:03}")
}

fn make_sites(lab: &Lab, dir: &Path, sites: usize) {
    for i in 0..sites {
        let root = dir.join(name(i));
        for d in 0..20 {
            std::fs::create_dir_all(root.join(format!("d{d:02}"))).unwrap();
        }
        std::fs::create_dir_all(root.join("news")).unwrap();
        std::fs::write(root.join("index.html"), common::INDEX.replace("akimat", &format!("akimat {i}"))).unwrap();
        std::fs::write(root.join("news/latest.html"), "<p>News of 1 June</p>").unwrap();
        for f in 0..FILES - 1 {
            let body =
                format!("<html><body><h1>Page {f} of site {i}</h1><p>{}</p></body></html>\n", "text ".repeat(40));
            std::fs::write(root.join(format!("d{:02}/p{f:04}.html", f % 20)), body).unwrap();
        }
    }
    common::sh(&["chown", "-R", &format!("{0}:{0}", lab.user), dir.to_str().unwrap()]);
}

/// CPU seconds (user + system) of `pid` and of its reaped children.
fn cpu(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 after the name.
    let tick = 100.0;
    if f.len() < 15 {
        return (0.0, 0.0);
    }
    ((f[11] + f[12]) / tick, (f[13] + f[14]) / tick)
}

fn aide_baseline(lab: &Lab, dir: &Path) {
    let work = lab.dir.path().join("aide");
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("aide.conf");
    let w = work.display();
    std::fs::write(
        &conf,
        format!(
            "database_in=file:{w}/aide.db\ndatabase_out=file:{w}/aide.db.new\ngzip_dbout=no\nreport_url=stdout\n\
             Checks = p+i+n+u+g+s+m+c+sha256\n{} Checks\n!{}/[^/]+/news\n",
            dir.display(),
            dir.display()
        ),
    )
    .unwrap();
    for (what, args) in [("aide --init", vec!["--init"]), ("aide --check", vec!["--check"])] {
        let start = Instant::now();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("aide --config={} {} >/dev/null 2>&1; r=$?; times; exit $r", conf.display(), args.join(" ")))
            .output()
            .unwrap();
        let took = start.elapsed().as_secs_f64();
        // `times` prints the shell's and its children's user and system times.
        let times = String::from_utf8_lossy(&out.stdout);
        let child_cpu = times.lines().nth(1).map_or(0.0, parse_times);
        println!("baseline {what}: {took:.1} s wall, {child_cpu:.1} s CPU (exit {:?})", out.status.code());
        if args[0] == "--init" {
            std::fs::rename(work.join("aide.db.new"), work.join("aide.db")).unwrap();
        }
    }
}

/// `0m1.234s 0m0.567s` → 1.801.
fn parse_times(line: &str) -> f64 {
    line.split_whitespace()
        .filter_map(|t| {
            let (m, s) = t.trim_end_matches('s').split_once('m')?;
            Some(m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
        })
        .sum()
}

fn spec(lab: &Lab, dir: &Path, i: usize) -> SiteSpec {
    let domain = format!("{}.{BENCH_SUFFIX}", name(i));
    let root = dir.join(name(i));
    SiteSpec {
        domain: domain.clone(),
        addresses: vec![SITE_ADDR.parse().unwrap()],
        access: Access::parse(&format!("sftp://{}@{SITE_ADDR}{}", lab.user, root.display()), None).unwrap(),
        pages: vec![PageSpec { url: format!("https://{domain}:8443/"), masks: vec![Mask::Selector("#news".into())] }],
        include: vec![],
        exclude: vec!["news".into()],
    }
}

fn service(
    lab: &Lab,
    store: &store::Store,
    sealer: &Arc<store::Sealer>,
    data: &Path,
    told: &Arc<Mutex<Vec<Notice>>>,
) -> Deface {
    let cfg = DefaceConfig { extra_roots: Some(lab.ca.clone()), ..DefaceConfig::default() };
    Deface::new(store.clone(), Arc::clone(sealer), cfg, data.to_path_buf(), Arc::new(Count(Arc::clone(told)))).unwrap()
}

/// One check of every site, `parallel` at a time: wall seconds and the service's and
/// sshd's CPU seconds.
async fn cycle(d: &Deface, domains: &[String], sshd: u32) -> (f64, f64, f64) {
    let me = std::process::id();
    let (cpu0, sshd0) = (cpu(me).0, cpu(sshd).1);
    let start = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for domain in domains {
        let (d, domain, permits) = (d.clone(), domain.clone(), Arc::clone(&permits));
        tasks.spawn(async move {
            let _p = permits.acquire_owned().await.unwrap();
            d.check_now(&domain).await.unwrap()
        });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert!(r.state == "protected", "{}: {} after a cycle", r.domain, r.state);
    }
    (start.elapsed().as_secs_f64(), cpu(me).0 - cpu0, cpu(sshd).1 - sshd0)
}

async fn measure(lab: &Lab, dir: &Path, sites: usize) {
    let work = tempfile::tempdir().unwrap();
    let store = store::Store::open(&format!("sqlite://{}", work.path().join("bench.db").display())).await.unwrap();
    let sealer = Arc::new(store::Sealer::open_or_create(&work.path().join("desk.key")).unwrap());
    let data = work.path().join("deface");
    let told = Arc::new(Mutex::new(Vec::new()));
    let sshd = lab.sshd_pid().unwrap();
    let d = service(lab, &store, &sealer, &data, &told);
    let mut domains = Vec::new();
    for i in 0..sites {
        let s = d.add_site(
            "bench",
            NewSite { spec: spec(lab, dir, i), secret: Secret::Key(lab.key.clone()), application_id: None },
        );
        domains.push(s.await.unwrap().record.domain);
    }
    let (w, c, s) = cycle(&d, &domains, sshd).await;
    println!("first reference, {sites} sites x {FILES} files: {w:.1} s wall, service {c:.1} s CPU, sshd {s:.1} s CPU");
    let (w, c, s) = cycle(&d, &domains, sshd).await;
    println!("incremental cycle (size and time):  {w:.1} s wall, service {c:.1} s CPU, sshd {s:.1} s CPU");
    // A fresh service hashes everything at its first look.
    let d = service(lab, &store, &sealer, &data, &told);
    let (w, c, s) = cycle(&d, &domains, sshd).await;
    println!("full hash cycle:                    {w:.1} s wall, service {c:.1} s CPU, sshd {s:.1} s CPU");
    assert!(told.lock().unwrap().iter().all(|n| !matches!(n, Notice::Finding(_))), "no finding before any change");

    // The service on its 60 s cycle; one change per site at a random moment in 120 s,
    // and every site's masked news block changing.
    let d = service(lab, &store, &sealer, &data, &told);
    let stop = CancellationToken::new();
    let runner = tokio::spawn({
        let (d, stop) = (d.clone(), stop.clone());
        async move { d.run(stop).await }
    });
    // Its first look at each site is a full hash pass: the changes start after it.
    while d.metrics().cycles < sites as u64 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for i in 0..sites {
        std::fs::write(dir.join(name(i)).join("news/latest.html"), "<p>News of 2 June: <b>a new park</b></p>").unwrap();
    }
    let mut order: Vec<usize> = (0..sites).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in (1..order.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let mut changed_at = vec![0i64; sites];
    let spacing = Duration::from_millis(120_000 / sites as u64);
    for i in order {
        let path = dir.join(name(i)).join("index.html");
        std::fs::write(&path, format!("<html><body><h1>HACKED {i}</h1></body></html>\n")).unwrap();
        changed_at[i] = store::now_ms();
        tokio::time::sleep(spacing).await;
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let findings = loop {
        let f: Vec<store::DefaceFinding> = told
            .lock()
            .unwrap()
            .iter()
            .filter_map(|n| if let Notice::Finding(f) = n { Some(f.clone()) } else { None })
            .collect();
        if f.len() >= sites || Instant::now() > deadline {
            break f;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stop.cancel();
    runner.await.unwrap();
    let mut detect = Vec::new();
    let mut restore = Vec::new();
    let mut errors = 0;
    for f in &findings {
        let i: usize = f.domain[1..4].parse().unwrap();
        let ok = f.kind == "unauthorised" && f.outcome == "restored" && f.confirmed_at.is_some();
        if !ok {
            errors += 1;
            println!("error: {} {} {} confirmed {:?}", f.domain, f.kind, f.outcome, f.confirmed_at);
            continue;
        }
        detect.push((f.detected_at - changed_at[i]) as f64 / 1000.0);
        restore.push((f.confirmed_at.unwrap() - f.detected_at) as f64 / 1000.0);
        let now = std::fs::read_to_string(dir.join(name(i)).join("index.html")).unwrap();
        if !now.contains("Welcome to the akimat") {
            errors += 1;
        }
    }
    errors += sites.saturating_sub(findings.len());
    let masked = findings.iter().filter(|f| f.kind == "pages").count();
    println!(
        "detection (change to finding): p50 {:.1} s, p99 {:.1} s; restore (finding to pages confirmed): p50 {:.2} s, p99 {:.2} s",
        pct(&mut detect, 50.0),
        pct(&mut detect, 99.0),
        pct(&mut restore, 50.0),
        pct(&mut restore, 99.0)
    );
    println!("findings: {} of {sites} sites; on masked-only changes: {masked}; errors: {errors}", findings.len());
    let m = d.metrics();
    println!("metrics: cycles {}, files checked {}, restores {}", m.cycles, m.files_checked, m.restores);
    assert_eq!((errors, masked), (0, 0), "the benchmark counted errors");
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i]
}
