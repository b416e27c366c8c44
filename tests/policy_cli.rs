//! `perimeter policy`: checking the duty team's files before they are reloaded,
//! explaining a decision, listing requests not applied in time.

mod common;

use common::Env;

#[test]
fn the_duty_team_checks_its_files_and_sees_why_a_host_is_allowed_or_denied() {
    let mut env = Env::new();
    std::fs::create_dir_all(env.path("categories/gambling")).unwrap();
    env.write("categories/gambling/domains", "# UT1 layout\ncasino.example\n");
    env.write("categories/more.csv", "news.example,news\n");
    env.write(
        "policies.toml",
        "[default]\ncategories = [\"news\"]\n\n[[organisation]]\nbin = \"980140000015\"\nname = \"Ministry\"\n\
         received = 2020-03-02\ngranted = 2020-03-03\ncategories = [\"gambling\"]\n\n\
         [[organisation]]\nbin = \"980140000026\"\nname = \"Late Agency\"\nreceived = 2020-03-02\n",
    );
    let dir = env.dir.path().display().to_string();
    env.configure(&format!("[policies]\ncategories_dir = \"{dir}/categories\"\nfile = \"{dir}/policies.toml\"\n"));

    let out = env.ok(&["policy", "check"]);
    assert!(out.contains("valid") && out.contains("2 organisation policies"), "{out}");

    let out = env.ok(&["policy", "explain", "--org", "980140000015", "www.halykbank.kz"]);
    assert!(out.contains("finance") && out.contains("spliced") && out.contains("allow"), "{out}");
    let out = env.ok(&["policy", "explain", "--org", "980140000015", "casino.example"]);
    assert!(
        out.contains("inspected") && out.contains("deny") && out.contains("expired"),
        "the 2020 policy expired:\n{out}"
    );
    let out = env.ok(&["policy", "explain", "--org", "980140000015", "news.example"]);
    assert!(out.contains("allow"), "news is open to everyone:\n{out}");

    let out = env.ok(&["policy", "overdue"]);
    assert!(out.contains("Late Agency") && out.contains("still pending") && !out.contains("Ministry"), "{out}");

    let bad = env.write("bad.toml", "[[organisation]]\nbin = \"12\"\nreceived = 2026-01-01\ncategories = [\"vpn\"]\n");
    let err = env.fails(&["policy", "check", bad.to_str().unwrap()]);
    assert!(err.contains("bad.toml") && err.contains("12 digits") && err.contains("'vpn' is a risky service"), "{err}");
}
