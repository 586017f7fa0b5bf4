//! A real anvil for the L1 tests: started on a free loopback port, killed when dropped.
//! The binary comes from `TANDEM_ANVIL` or from `scripts/install-anvil.sh`'s place in `.tools/`;
//! `scripts/test.sh` installs it first.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tandem_l1::L1Signer;

/// anvil's first default account: funded with 10,000 ETH on every anvil.
pub const FUNDED_SECRET: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

pub fn funded_key() -> L1Signer {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(FUNDED_SECRET, &mut secret).expect("hex");
    L1Signer::from_secret(&secret).expect("key")
}

pub fn anvil_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TANDEM_ANVIL") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        path.exists(),
        "anvil is not installed at {}: run scripts/install-anvil.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Anvil {
    pub fn start() -> Anvil {
        let port =
            TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = Command::new(anvil_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let anvil = Anvil { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "anvil did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        anvil
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
