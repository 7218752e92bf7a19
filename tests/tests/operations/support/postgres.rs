//! A PostgreSQL instance of the test's own: `initdb` into a temporary directory, started and
//! stopped with `pg_ctl` on a free port (as the `postgres` user when the test runs as root,
//! since PostgreSQL refuses to run as root), optionally a streaming replica of another.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where PostgreSQL's server binaries are (Debian: `/usr/lib/postgresql/<major>/bin`).
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One PostgreSQL server.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

impl Postgres {
    fn new_dir() -> (tempfile::TempDir, bool) {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = running_as_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown to postgres");
        }
        (dir, as_postgres)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a PostgreSQL program (as `postgres` when we are root); panics on failure.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        run_as(&self.bin, self.as_postgres, program, args)
    }

    /// A fresh primary, started, with a database `bulwark`.
    pub fn start_primary() -> Self {
        let bin = super::postgres::bin_dir().expect("PostgreSQL server binaries");
        let (dir, as_postgres) = Self::new_dir();
        let pg = Self {
            dir,
            port: super::free_port(),
            bin,
            as_postgres,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.configure(&[
            // Commits wait for the replica when there is one (failover loses nothing
            // committed); with none, `synchronous_standby_names` stays empty.
            "wal_level = replica",
            "max_wal_senders = 4",
            "hot_standby = on",
            "max_connections = 200",
        ]);
        pg.start();
        pg.psql("postgres", "CREATE DATABASE bulwark");
        pg
    }

    /// A streaming replica of `primary` (base backup, `standby.signal`), started. The primary
    /// is switched to synchronous commit with it, so nothing committed is lost on failover.
    pub fn start_replica(primary: &Postgres) -> Self {
        let (dir, as_postgres) = Self::new_dir();
        let pg = Self {
            dir,
            port: super::free_port(),
            bin: primary.bin.clone(),
            as_postgres,
        };
        let data = pg.data();
        let port = primary.port.to_string();
        pg.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
        );
        // The copied configuration names the primary's port and socket directory.
        pg.configure(&[]);
        pg.start();
        primary.psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
        );
        primary.psql("postgres", "SELECT pg_reload_conf()");
        pg
    }

    /// Appends settings (and this instance's port and socket directory) to its configuration.
    fn configure(&self, settings: &[&str]) {
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nfsync = off\n",
            self.port,
            self.dir.path().display()
        ));
        for s in settings {
            text.push_str(s);
            text.push('\n');
        }
        std::fs::write(&conf, text).unwrap();
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server (`fast`: open sessions are ended, as in a restart).
    pub fn stop(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// Promotes a replica to primary.
    pub fn promote(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-w", "promote"]);
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL with psql and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(db),
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

fn run_as(bin: &Path, as_postgres: bool, program: &str, args: &[&str]) -> Output {
    let path = bin.join(program);
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    let out = cmd.args(args).current_dir("/").output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let pg_ctl = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = cmd
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "stop",
            ])
            .current_dir("/")
            .output();
    }
}
