//! A throwaway PostgreSQL server for tests that run the store on
//! PostgreSQL: `initdb` into a temporary directory, `pg_ctl start` on a free
//! loopback port (its socket in the same directory, `fsync` off: the data
//! dies with the test), stopped and removed when dropped. Connections over
//! TCP need the password ([`PASSWORD`], SCRAM), as a real server's do.
//!
//! The binaries come from `tests/postgres/setup.sh` (Debian's
//! postgresql-15). Without them a test skips with a message saying so,
//! unless `AGENTDECK_REQUIRE_POSTGRES` is set (as `.ci/run` does), when it
//! fails. As root (CI), the server runs as the `postgres` user: PostgreSQL
//! refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The password of the `agentdeck` user.
pub const PASSWORD: &str = "throwaway-pw";

/// A running throwaway server.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<&'static str>,
    port: u16,
}

/// Where `initdb`, `pg_ctl` and `postgres` are: `AGENTDECK_PG_BIN`, then
/// Debian's layout (newest major first), then `PATH`.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("AGENTDECK_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut majors: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    majors.sort();
    if let Some(bin) = majors.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file())
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound address").port()
}

impl PgServer {
    /// Starts a server, or returns `None` (after saying why on stderr) when
    /// PostgreSQL is not installed and `AGENTDECK_REQUIRE_POSTGRES` is not
    /// set.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// [`PgServer::start`] with TLS on (connections may still choose plain
    /// TCP): `tls` is the server's certificate chain and key, in PEM.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Self> {
        let Some(bin) = find_bin() else {
            let why = "PostgreSQL not installed (bash tests/postgres/setup.sh installs it)";
            assert!(
                std::env::var_os("AGENTDECK_REQUIRE_POSTGRES").is_none(),
                "AGENTDECK_REQUIRE_POSTGRES is set but {why}"
            );
            eprintln!("skipped: {why}");
            return None;
        };
        let run_as = is_root().then_some("postgres");
        let dir = server_dir("agentdeck-pg-", run_as);
        let mut server = Self {
            dir,
            bin,
            run_as,
            port: 0,
        };
        let data = server.data();
        let pwfile = server.dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).expect("password file written");
        server.pg(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "agentdeck",
                "--pwfile",
                path_str(&pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let mut tls_options = String::new();
        if let Some((cert_pem, key_pem)) = tls {
            let cert = server.dir.path().join("server.crt");
            let key = server.dir.path().join("server.key");
            std::fs::write(&cert, cert_pem).expect("certificate written");
            std::fs::write(&key, key_pem).expect("key written");
            // PostgreSQL refuses a key others may read.
            run(Command::new("chmod").arg("600").arg(&key));
            if let Some(user) = server.run_as {
                run(Command::new("chown").arg(user).arg(&cert).arg(&key));
            }
            tls_options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                path_str(&cert),
                path_str(&key)
            );
        }
        server.listen(&tls_options);
        Some(server)
    }

    /// Starts the server in its data directory on a free loopback port,
    /// with `extra` server options.
    fn listen(&mut self, extra: &str) {
        let data = self.data();
        // A port is free when asked and may be taken by the time the server
        // binds it; a few tries make that race harmless.
        for _ in 0..5 {
            self.port = free_port();
            let options = self.options(self.port, extra);
            let log = self.dir.path().join("server.log");
            let started = self.pg_output(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if started.status.success() {
                return;
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if !log_text.contains("Address already in use") {
                panic!(
                    "pg_ctl start failed: {}\n{log_text}",
                    String::from_utf8_lossy(&started.stderr)
                );
            }
        }
        panic!("pg_ctl start: no free port after five tries");
    }

    /// The server's options: loopback on `port`, its socket in its
    /// directory, durability traded for speed (a test's data is thrown
    /// away), then `extra`.
    fn options(&self, port: u16, extra: &str) -> String {
        format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200{extra}",
            path_str(self.dir.path())
        )
    }

    /// `postgres://agentdeck:PASSWORD@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `name` on this server, password included.
    pub fn url_for(&self, name: &str) -> String {
        format!(
            "postgres://agentdeck:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// The URL of database `name` without the password, for tests of
    /// where else it comes from.
    pub fn url_without_password(&self, name: &str) -> String {
        format!("postgres://agentdeck@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (empty) and returns its URL: one per test,
    /// so tests sharing a server do not see each other's rows.
    pub fn create_database(&self, name: &str) -> String {
        self.pg(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "agentdeck",
                name,
            ],
        );
        self.url_for(name)
    }

    /// The TCP port it listens on (loopback only).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn pg_output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"))
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let out = self.pg_output(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.pg_output(
            "pg_ctl",
            &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// A temporary directory for a server's data, which `run_as` (the
/// server's user, when not this one) must reach.
fn server_dir(prefix: &str, run_as: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory");
    if let Some(user) = run_as {
        run(Command::new("chmod").arg("755").arg(dir.path()));
        run(Command::new("chown").arg(user).arg(dir.path()));
    }
    dir
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn run(command: &mut Command) {
    let status = command.status().expect("command runs");
    assert!(status.success(), "{command:?} failed");
}

impl PgServer {
    /// A hot standby of this server, streaming its WAL (`pg_basebackup
    /// -R`), made synchronous: from now on a commit here returns once the
    /// standby has it, so failing over to it loses nothing acknowledged.
    pub fn synchronous_standby(&self) -> PgServer {
        let mut standby = PgServer {
            dir: server_dir("agentdeck-pg-standby-", self.run_as),
            bin: self.bin.clone(),
            run_as: self.run_as,
            port: 0,
        };
        let data = standby.data();
        standby.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "agentdeck",
                "-D",
                path_str(&data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
        );
        standby.listen("");
        // Commits wait for the standby (the test servers run with
        // synchronous_commit off; the role's setting wins in its sessions).
        self.psql("ALTER SYSTEM SET synchronous_standby_names = '*'");
        self.psql("SELECT pg_reload_conf()");
        self.psql("ALTER ROLE agentdeck SET synchronous_commit = 'on'");
        standby
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m
    /// immediate`).
    pub fn crash(&self) {
        self.pg(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data()),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts a server stopped by [`PgServer::crash`] again, on the same
    /// port, and waits until it accepts connections (it replays its WAL).
    pub fn start_again(&self) {
        let options = self.options(self.port, "");
        let log = self.dir.path().join("server.log");
        let data = self.data();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        self.pg("pg_ctl", &["-D", path_str(&self.data()), "-w", "promote"]);
    }

    fn psql(&self, sql: &str) {
        self.pg(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "agentdeck",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
    }

    /// The URL of database `name` over the server's Unix socket (in its
    /// temporary directory; trusted there, as a local socket often is).
    pub fn socket_url(&self, name: &str) -> String {
        let dir = path_str(self.dir.path()).replace('/', "%2F");
        format!("postgres://agentdeck@{dir}:{}/{name}", self.port)
    }
}
