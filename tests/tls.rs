//! The hub's own HTTPS (`agentdeck serve --tls-cert --tls-key`) with a
//! private CA made at test time: clients given the CA (`--ca-cert`,
//! `AGENTDECK_CA_CERT`) get through, clients without it and plain HTTP do
//! not, and plain HTTP beyond loopback is refused unless `--insecure`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agentdeck::client::feed::FeedMsg;
use agentdeck::engine::spec::default_specs;
use agentdeck::hub::policy::Policy;
use agentdeck::hub::{HubConfig, RunningHub};
/// PEM files of a private CA and of a server certificate it issued for
/// `localhost` and `127.0.0.1`, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let issued = support::pki::issue(&["localhost", "127.0.0.1"], "agentdeck test hub");
        std::fs::write(dir.path().join("ca.pem"), issued.ca).unwrap();
        std::fs::write(dir.path().join("hub.pem"), issued.cert).unwrap();
        std::fs::write(dir.path().join("hub.key"), issued.key).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

async fn start_tls_hub(pki: &Pki, db: &Path) -> RunningHub {
    let (tokens, _) = support::token_store();
    let tls = agentdeck::hub::tls::load(&pki.path("hub.pem"), &pki.path("hub.key")).unwrap();
    agentdeck::hub::start_tls(
        HubConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: db.to_path_buf(),
            tokens,
            specs: default_specs(),
            policy: Policy::default(),
            max_body_bytes: agentdeck::hub::DEFAULT_MAX_BODY_BYTES,
            stream: Default::default(),
            runbooks: Vec::new(),
            otlp: Default::default(),
            retain_events: agentdeck::hub::DEFAULT_RETAIN_EVENTS,
            notify: None,
            sources: None,
            advertise: None,
        },
        tls,
    )
    .await
    .unwrap()
}

fn untrusting_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One test for the in-process hub, because `trust_ca_file` sets what the
/// whole process trusts, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_hub_answers_only_clients_that_trust_its_ca() {
    let pki = Pki::new();
    let hub = start_tls_hub(&pki, &pki.path("hub.db")).await;
    let url = hub.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let (_, tokens) = support::token_store();

    // A client given the CA, built the way the TUI builds its own.
    agentdeck::client::trust_ca_file(&pki.path("ca.pem")).unwrap();
    let trusting = agentdeck::client::http_client().unwrap();
    let r = trusting.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    let me: serde_json::Value = trusting
        .get(format!("{url}/v1/me"))
        .bearer_auth(&tokens["lead"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "lead", "{me}");
    let r = trusting
        .get(format!("{url}/v1/me"))
        .bearer_auth("adk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // The live feed (SSE) over TLS: connected, then the snapshot.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let feed = tokio::spawn(agentdeck::client::feed::run(
        url.clone(),
        tokens["lead"].clone(),
        tx,
    ));
    let mut seen = Vec::new();
    let got_snapshot = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(msg) = rx.recv().await {
            let snapshot = matches!(msg, FeedMsg::Snapshot(_));
            seen.push(format!("{msg:?}").chars().take(80).collect::<String>());
            if snapshot {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(got_snapshot, "no snapshot over TLS: {seen:?}");
    feed.abort();

    // A client without the CA is refused at the handshake, token unsent.
    let e = untrusting_client()
        .get(format!("{url}/v1/me"))
        .bearer_auth(&tokens["lead"])
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    // What the TUI and handoff tell the operator: the certificate, and the
    // flag that fixes it, rather than "cannot connect".
    let told = agentdeck::client::feed::describe(&e);
    assert!(
        told.contains("certificate") && told.contains("--ca-cert"),
        "{told}"
    );

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = format!("http://{}/healthz", hub.addr);
    let r = untrusting_client().get(&plain).send().await;
    assert!(
        r.is_err(),
        "plain HTTP got an answer: {:?}",
        r.map(|r| r.status())
    );

    // The hub is still serving after the failed handshakes.
    let r = trusting.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    hub.stop().await;
}

/// A handshake that never comes does not stop other clients from getting
/// in: handshakes run beside the accept loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_do_not_block_the_handshakes_of_others() {
    let pki = Pki::new();
    let hub = start_tls_hub(&pki, &pki.path("hub.db")).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(tokio::net::TcpStream::connect(hub.addr).await.unwrap());
    }
    let ca = std::fs::read(pki.path("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/healthz", hub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    drop(silent);
    hub.stop().await;
}

#[test]
fn bad_tls_files_are_named_with_what_was_expected() {
    let pki = Pki::new();
    let e = agentdeck::hub::tls::load(&pki.path("missing.pem"), &pki.path("hub.key")).unwrap_err();
    assert!(e.contains("--tls-cert") && e.contains("missing.pem"), "{e}");
    // The key where the certificate should be, and the other way round.
    let e = agentdeck::hub::tls::load(&pki.path("hub.key"), &pki.path("hub.key")).unwrap_err();
    assert!(e.contains("--tls-cert") && e.contains("CERTIFICATE"), "{e}");
    let e = agentdeck::hub::tls::load(&pki.path("hub.pem"), &pki.path("hub.pem")).unwrap_err();
    assert!(e.contains("--tls-key") && e.contains("private key"), "{e}");
    // A key that is not the certificate's.
    std::fs::write(
        pki.path("other.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let e = agentdeck::hub::tls::load(&pki.path("hub.pem"), &pki.path("other.key")).unwrap_err();
    assert!(e.contains("other.key"), "{e}");
    // A CA file that holds no certificate.
    let e = agentdeck::client::trust_ca_file(&pki.path("hub.key")).unwrap_err();
    assert!(e.contains("--ca-cert"), "{e}");
}

fn write_tokens(dir: &Path) {
    let (_, tokens) = support::token_store();
    let text = format!(
        "[[token]]\nname = \"lead\"\nrole = \"lead\"\nsha256 = \"{}\"\n",
        agentdeck::hub::auth::hash_token(&tokens["lead"])
    );
    std::fs::write(dir.join("tokens.toml"), text).unwrap();
}

fn serve(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentdeck"));
    cmd.arg("serve")
        .args(extra)
        .arg("--db")
        .arg(dir.join("hub.db"))
        .arg("--tokens")
        .arg(dir.join("tokens.toml"))
        .env("AGENTDECK_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// Kills the child it holds when dropped, so a failed assertion leaves no
/// hub behind.
struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` and returns it with the URL of its first line.
fn spawn_serve(dir: &Path, extra: &[&str]) -> (Hub, String) {
    let mut child = serve(dir, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let hub = Hub(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (hub, url)
}

#[test]
fn serve_with_tls_flags_prints_an_https_url_and_handoff_trusts_ca_cert() {
    let pki = Pki::new();
    write_tokens(pki.dir.path());
    let cert = pki.path("hub.pem");
    let key = pki.path("hub.key");
    let (_hub, url) = spawn_serve(
        pki.dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let (_, tokens) = support::token_store();
    let handoff = |ca: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentdeck"));
        cmd.args(["handoff", "--hub", &url, "--token", &tokens["lead"]])
            .env_remove("AGENTDECK_CA_CERT")
            .stdin(Stdio::null());
        if let Some(ca) = ca {
            cmd.env("AGENTDECK_CA_CERT", ca);
        }
        cmd.output().unwrap()
    };
    let out = handoff(Some(&pki.path("ca.pem")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains('#'));
    let out = handoff(None);
    assert!(!out.status.success(), "handoff trusted an unknown CA");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("certificate") && err.contains("AGENTDECK_CA_CERT"),
        "{err}"
    );
}

#[test]
fn serve_refuses_plain_http_beyond_loopback_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let out = serve(dir.path(), &["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain HTTP")
            && err.contains("--tls-cert")
            && err.contains("--insecure")
            && err.contains("0.0.0.0"),
        "{err}"
    );
    // Half a TLS configuration is refused too.
    let out = serve(dir.path(), &["--tls-cert", "x.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With --insecure it starts and answers (over loopback).
    let (_hub, url) = spawn_serve(dir.path(), &["--listen", "0.0.0.0:0", "--insecure"]);
    assert!(url.starts_with("http://"), "{url}");
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        untrusting_client()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(status.ok(), Some(200));
}
