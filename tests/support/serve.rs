//! An `agentdeck serve` process, for tests that need the real binary
//! (a restart, a signal): it listens on a free loopback port, its address is
//! read from the first line it prints, and it is killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `agentdeck serve`.
pub struct ServeProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServeProcess {
    /// Starts `agentdeck serve --listen 127.0.0.1:0 --db DIR/hub.db` with
    /// `args` after, in `dir`, with `envs` set and logging at `warn`.
    pub fn start<S: AsRef<OsStr>>(dir: &Path, args: &[S], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(dir.join("hub.db"))
            .args(args)
            .current_dir(dir)
            .envs(envs.iter().copied())
            .env("AGENTDECK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("agentdeck serve starts");
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("the hub prints its address");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("the hub printed {line:?}"))
            .to_string();
        // Keep reading so the hub never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        Self { child, url }
    }

    /// Kills it at once (`SIGKILL`) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
