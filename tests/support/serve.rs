//! An `agentdeck serve` process, for tests that need the real binary
//! (a restart, a signal): it listens on a free loopback port, its address is
//! read from the first line it prints, and it is killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `agentdeck serve`.
pub struct ServeProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The lines it printed after its address.
    later: std::sync::mpsc::Receiver<String>,
}

impl ServeProcess {
    /// Starts `agentdeck serve --listen 127.0.0.1:0 --db DIR/hub.db` with
    /// `args` after, in `dir`, with `envs` set and logging at `warn`.
    pub fn start<S: AsRef<OsStr>>(dir: &Path, args: &[S], envs: &[(&str, &str)]) -> Self {
        Self::start_on(dir, dir.join("hub.db").as_os_str(), args, envs)
    }

    /// Like [`ServeProcess::start`] on the database `db` (a file or a
    /// `postgres://` URL). Returns once the hub serves: a replica standing
    /// by prints that first and is waited for.
    pub fn start_on<S: AsRef<OsStr>>(
        dir: &Path,
        db: &OsStr,
        args: &[S],
        envs: &[(&str, &str)],
    ) -> Self {
        Self::start_at(dir, "127.0.0.1:0", db, args, envs)
    }

    /// Like [`ServeProcess::start_on`], listening on `listen` (a replica
    /// whose address clients know before it serves).
    pub fn start_at<S: AsRef<OsStr>>(
        dir: &Path,
        listen: &str,
        db: &OsStr,
        args: &[S],
        envs: &[(&str, &str)],
    ) -> Self {
        Starting::spawn(dir, listen, db, args, envs).serving()
    }

    /// Stops it as an operator would (`SIGTERM`) and waits for it.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "SIGTERM delivered");
        self.child.wait().expect("the hub exits")
    }

    /// Kills it at once (`SIGKILL`) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `within` for a line it prints containing `needle`
    /// (lines before it are passed over); `None` when none came.
    pub fn printed(&self, needle: &str, within: std::time::Duration) -> Option<String> {
        let until = std::time::Instant::now() + within;
        loop {
            let left = until.checked_duration_since(std::time::Instant::now())?;
            match self.later.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends it `SIGHUP`.
    pub fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "SIGHUP delivered");
    }
}

/// An `agentdeck serve` started and not yet serving (a replica standing
/// by until it holds the lease).
pub struct Starting {
    child: Child,
    reader: BufReader<std::process::ChildStdout>,
}

impl Starting {
    /// Starts `agentdeck serve --listen LISTEN --db DB` with `args` after,
    /// in `dir`, with `envs` set and logging at `warn`.
    pub fn spawn<S: AsRef<OsStr>>(
        dir: &Path,
        listen: &str,
        db: &OsStr,
        args: &[S],
        envs: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
            .args(["serve", "--listen", listen, "--db"])
            .arg(db)
            .args(args)
            .current_dir(dir)
            .envs(envs.iter().copied())
            .env("AGENTDECK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("agentdeck serve starts");
        let reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self { child, reader }
    }

    /// Its process id (to kill it while it stands by).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until it serves: a replica standing by prints that first.
    pub fn serving(self) -> ServeProcess {
        self.try_serving()
            .expect("the hub stopped before it served")
    }

    /// Like [`Starting::serving`]; `None` when it stopped first (killed
    /// while it stood by).
    pub fn try_serving(self) -> Option<ServeProcess> {
        let Self { child, mut reader } = self;
        let url = loop {
            let mut line = String::new();
            let n = reader
                .read_line(&mut line)
                .expect("the hub prints its address");
            if n == 0 {
                return None;
            }
            if line.contains("standing by") {
                continue;
            }
            match line.split_whitespace().find(|w| w.starts_with("http://")) {
                Some(url) => break url.to_string(),
                None => panic!("the hub printed {line:?}"),
            }
        };
        // Keep reading so the hub never blocks on a full pipe.
        let (lines, later) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                // Read on even when no one listens any more.
                let _ = lines.send(line);
            }
        });
        Some(ServeProcess { child, url, later })
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
