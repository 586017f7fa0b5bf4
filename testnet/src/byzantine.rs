//! Byzantine mock validators: an honest core whose outgoing messages are tampered with.
//!
//! At most f of them run in a simulation, so the honest nodes must keep every invariant.

use tandem_consensus::WireMessage;
use tandem_types::{sha256, SecretKey};

use crate::rng::Rng;

/// How a Byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// In its turn, proposes two different valid blocks, each to half of its peers.
    EquivocatingProposer,
    /// Signs a second vote for another value at every step; each half of its peers gets one.
    DoubleVoter,
    /// Besides its messages, sends bytes that decode to nothing, tampered copies of its
    /// messages (bad signatures) and garbage on the sync channel.
    GarbageSender,
}

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Behaviour; 3] =
        [Behaviour::EquivocatingProposer, Behaviour::DoubleVoter, Behaviour::GarbageSender];
}

/// What a Byzantine validator sends to one peer in place of one honest broadcast.
pub(crate) enum Sent {
    Consensus(Vec<u8>),
    Sync(Vec<u8>),
}

/// The messages `peer` (the `index`-th peer) gets when the honest core broadcasts `bytes`.
pub(crate) fn tamper(
    behaviour: Behaviour,
    key: &SecretKey,
    chain_id: u64,
    bytes: &[u8],
    peer: usize,
    rng: &mut Rng,
) -> Vec<Sent> {
    let second_half = peer % 2 == 1;
    match behaviour {
        Behaviour::EquivocatingProposer => match WireMessage::from_bytes(bytes) {
            Ok(WireMessage::Proposal { round, pol_round, mut block, .. }) if second_half => {
                // Another block with the same transactions: valid, with another hash.
                block.header.timestamp_ms += 1;
                let other = WireMessage::signed_proposal(chain_id, round, pol_round, block, key);
                vec![Sent::Consensus(other.to_bytes())]
            }
            _ => vec![Sent::Consensus(bytes.to_vec())],
        },
        Behaviour::DoubleVoter => match WireMessage::from_bytes(bytes) {
            Ok(WireMessage::Vote { mut vote, .. }) if second_half => {
                vote.block_hash = match vote.block_hash {
                    Some(_) => None,
                    None => Some(sha256(&rng.next_u64().to_le_bytes())),
                };
                let signature = vote.sign(key);
                vec![Sent::Consensus(WireMessage::Vote { vote, signature }.to_bytes())]
            }
            _ => vec![Sent::Consensus(bytes.to_vec())],
        },
        Behaviour::GarbageSender => {
            let mut tampered = bytes.to_vec();
            if !tampered.is_empty() {
                let at = rng.below(tampered.len() as u64) as usize;
                tampered[at] ^= 1 << rng.below(8);
            }
            let garbage: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            vec![
                Sent::Consensus(bytes.to_vec()),
                Sent::Consensus(tampered),
                Sent::Consensus(garbage.clone()),
                Sent::Sync(garbage),
            ]
        }
    }
}
