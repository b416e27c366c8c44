//! A throwaway PostgreSQL cluster of the test's own on a free loopback port, so a test
//! can stop and start its database without disturbing others. Runs the cluster as the
//! `postgres` user when the tests run as root (initdb refuses root). Removed on drop.

use std::path::PathBuf;
use std::process::Command;

pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    /// Creates and starts a cluster; `None` (with the reason) when PostgreSQL's server
    /// programs are not installed.
    pub fn start() -> Result<Postgres, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("PostgreSQL is not installed (/usr/lib/postgresql: {e})"))?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .ok_or("no initdb under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let _ = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).output();
        let pg = Postgres { bin, dir, port: super::free_port() };
        let data = pg.data();
        pg.as_postgres(&format!("{}/initdb -D {data} -U postgres --auth=trust -E UTF8 >/dev/null", pg.bin.display()))?;
        pg.resume()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, command: &str) -> Result<(), String> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        let out = if root {
            Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", command]).output()
        } else {
            Command::new("sh").args(["-c", command]).output()
        };
        let out = out.map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(()),
            false => Err(format!("{command}: {}", String::from_utf8_lossy(&out.stderr))),
        }
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (clients see their connections drop).
    pub fn stop(&self) {
        let cmd = format!("{}/pg_ctl -D {} -m immediate -w stop >/dev/null", self.bin.display(), self.data());
        self.as_postgres(&cmd).expect("PostgreSQL stops");
    }

    /// Starts the server (again).
    pub fn resume(&self) -> Result<(), String> {
        let (data, port) = (self.data(), self.port);
        let opts = format!("-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off");
        self.as_postgres(&format!(
            "{}/pg_ctl -D {data} -l {data}/log -w start -o \"{opts}\" >/dev/null",
            self.bin.display()
        ))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.as_postgres(&format!("{}/pg_ctl -D {} -m immediate stop", self.bin.display(), self.data()));
    }
}
