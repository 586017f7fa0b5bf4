//! A local anvil for tests and development tools: found where `scripts/install-anvil.sh` puts
//! it (or at `TANDEM_ANVIL`), started on a free loopback port, killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::attestation::L1Signer;
use crate::error::L1Error;

/// The secret of anvil's first default account, funded with 10,000 ETH on every anvil
/// (public knowledge; development chains only).
pub const ANVIL_FIRST_SECRET: [u8; 32] = [
    0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6, 0xb4, 0xd2, 0x38, 0xff, 0x94,
    0x4b, 0xac, 0xb4, 0x78, 0xcb, 0xed, 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2, 0xff, 0x80,
];

/// anvil's first default account as a signer.
pub fn anvil_funded_key() -> L1Signer {
    L1Signer::from_secret(&ANVIL_FIRST_SECRET).expect("anvil's first key is a valid secret")
}

/// A running anvil.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
    /// Its port.
    pub port: u16,
}

/// The anvil binary: `TANDEM_ANVIL`, or `.tools/` of the repository.
pub fn anvil_binary() -> Result<PathBuf, L1Error> {
    if let Ok(path) = std::env::var("TANDEM_ANVIL") {
        return Ok(PathBuf::from(path));
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if !path.exists() {
        return Err(L1Error::Invalid(format!(
            "anvil is not installed at {}: run scripts/install-anvil.sh",
            path.display()
        )));
    }
    Ok(path)
}

impl Anvil {
    /// Starts anvil on a free loopback port and waits (up to 30 s) until it listens.
    pub fn start() -> Result<Anvil, L1Error> {
        Anvil::start_with(&[])
    }

    /// Starts anvil with extra command-line arguments (`--no-mining`, `--block-time 1`, …).
    pub fn start_with(args: &[&str]) -> Result<Anvil, L1Error> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| L1Error::Invalid(format!("no free port: {error}")))?
            .port();
        Anvil::start_on(port, args)
    }

    /// Starts anvil on `port` with extra arguments (to restart one on its saved `--state`).
    pub fn start_on(port: u16, args: &[&str]) -> Result<Anvil, L1Error> {
        let child = Command::new(anvil_binary()?)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| L1Error::Invalid(format!("starting anvil: {error}")))?;
        let anvil = Anvil { child, url: format!("http://127.0.0.1:{port}"), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(L1Error::Rpc("anvil did not listen within 30 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(anvil)
    }

    /// Stops anvil with SIGTERM (with `--state` it saves its state then) and waits for it.
    pub fn terminate(mut self) -> Result<(), L1Error> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !sent.is_ok_and(|status| status.success()) {
            return Err(L1Error::Invalid(format!("could not signal anvil (pid {pid})")));
        }
        self.child
            .wait()
            .map_err(|error| L1Error::Invalid(format!("waiting for anvil: {error}")))?;
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
