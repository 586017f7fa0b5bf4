//! Shared by the L1 tests: anvil's funded key and a real anvil (from `tandem_l1::Anvil`).

#![allow(dead_code)]

use tandem_l1::L1Signer;

pub use tandem_l1::Anvil;

pub fn funded_key() -> L1Signer {
    tandem_l1::anvil_funded_key()
}

pub fn start_anvil() -> Anvil {
    Anvil::start().expect("anvil starts (scripts/install-anvil.sh installs it)")
}
