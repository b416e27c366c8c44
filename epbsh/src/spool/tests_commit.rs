//! Group-commit tests: fsync counting under concurrency, and a throughput
//! printout for 5 KiB bodies from 20 concurrent producers (no timing assertion).

use std::time::Instant;

use super::tests::{body, envelope, open, open_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_uses_far_fewer_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    let n = 200;
    // Everything is prepared first and released at once, like sessions
    // finishing their DATA phase at the same moment.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (s, b, env, body) = (spool.clone(), barrier.clone(), envelope(1), body(5 << 10, i as u8));
            tokio::spawn(async move {
                b.wait().await;
                s.accept(env, body).await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("accept");
    }
    let st = spool.stats();
    println!("group commit: {n} accepts, {} fsyncs, {} batches", st.fsyncs, st.batches);
    assert_eq!(st.records, n as u64);
    assert!(st.fsyncs * 4 <= n as u64, "expected batching, got {} fsyncs for {n} accepts", st.fsyncs);
    spool.shutdown().await.expect("shutdown");
    assert_eq!(open_count(dir.path()), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_printout_5k_bodies_20_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    let (sessions, per) = (20, 100);
    let start = Instant::now();
    let tasks: Vec<_> = (0..sessions)
        .map(|s| {
            let spool = spool.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    spool.accept(envelope(1), body(5 << 10, (s + i) as u8)).await.expect("accept");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    let secs = start.elapsed().as_secs_f64();
    let st = spool.stats();
    println!(
        "spool throughput: {} msgs (5 KiB, {sessions} concurrent) in {secs:.3}s = {:.0} msg/s, {} fsyncs",
        sessions * per,
        (sessions * per) as f64 / secs,
        st.fsyncs
    );
    spool.shutdown().await.expect("shutdown");
}
