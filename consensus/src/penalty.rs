//! Peer penalties: a peer that sends provably bad input (bytes that do not decode, another
//! chain, a bad signature, a signer outside the validator set, a proposal out of turn, an
//! invalid block or certificate) collects points; at [`BAN_POINTS`] every message from it is
//! dropped unread for [`BAN_MS`]. Points decay, so an occasional fault is forgiven.
//!
//! Only faults an honest peer cannot commit are penalized. A message for a height outside the
//! window is dropped without penalty: a node that is behind cannot tell a peer that is ahead of
//! it from one that lies, and such a message is dropped before any signature is checked.

use std::collections::BTreeMap;

use tandem_types::Address;

use crate::core::Rejection;

/// Points at which a peer is banned.
pub const BAN_POINTS: u64 = 100;
/// How long a ban lasts.
pub const BAN_MS: u64 = 10_000;
/// Points forgiven per second.
const DECAY_POINTS_PER_S: u64 = 10;

/// One peer's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerRecord {
    /// Current points (after decay at the last update).
    pub points: u64,
    /// Every point ever charged, for metrics and tests.
    pub total_points: u64,
    /// When the points were last updated.
    updated_ms: u64,
    /// Until when its messages are dropped.
    pub banned_until_ms: Option<u64>,
}

/// Points and bans per peer. Deterministic: time comes in as `now_ms`.
#[derive(Debug, Default)]
pub struct PeerPenalties {
    peers: BTreeMap<Address, PeerRecord>,
}

impl PeerPenalties {
    /// Whether messages from `peer` are being dropped.
    pub fn is_banned(&self, now_ms: u64, peer: &Address) -> bool {
        self.peers
            .get(peer)
            .and_then(|record| record.banned_until_ms)
            .is_some_and(|until| now_ms < until)
    }

    /// Charges `peer` for `rejection`; returns `true` if this bans it.
    pub fn charge(&mut self, now_ms: u64, peer: Address, rejection: &Rejection) -> bool {
        let points = rejection.penalty_points();
        if points == 0 {
            return false;
        }
        let record = self.peers.entry(peer).or_default();
        let elapsed_ms = now_ms.saturating_sub(record.updated_ms);
        let forgiven = elapsed_ms.saturating_mul(DECAY_POINTS_PER_S) / 1_000;
        record.points = record.points.saturating_sub(forgiven).saturating_add(points);
        record.total_points = record.total_points.saturating_add(points);
        record.updated_ms = now_ms;
        if record.points >= BAN_POINTS {
            record.points = 0;
            record.banned_until_ms = Some(now_ms.saturating_add(BAN_MS));
            return true;
        }
        false
    }

    /// Every peer ever charged, with its record.
    pub fn records(&self) -> impl Iterator<Item = (&Address, &PeerRecord)> {
        self.peers.iter()
    }
}

impl Rejection {
    /// Points this rejection charges the peer that sent the message.
    pub fn penalty_points(&self) -> u64 {
        match self {
            Rejection::Malformed(_)
            | Rejection::WrongChain(_)
            | Rejection::BadSignature
            | Rejection::UnknownValidator
            | Rejection::WrongProposer
            | Rejection::InvalidBlock(_)
            | Rejection::InvalidCertificate(_) => 50,
            Rejection::WrongHeight { .. } | Rejection::Banned => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Address {
        Address([7; 32])
    }

    #[test]
    fn two_provable_faults_ban_for_the_ban_time() {
        let mut penalties = PeerPenalties::default();
        assert!(!penalties.charge(1_000, peer(), &Rejection::BadSignature));
        assert!(!penalties.is_banned(1_000, &peer()));
        assert!(penalties.charge(1_000, peer(), &Rejection::Malformed("x".into())));
        assert!(penalties.is_banned(1_000, &peer()));
        assert!(penalties.is_banned(1_000 + BAN_MS - 1, &peer()));
        assert!(!penalties.is_banned(1_000 + BAN_MS, &peer()));
        assert!(!penalties.is_banned(1_000, &Address([8; 32])));
    }

    #[test]
    fn points_decay_so_rare_faults_never_ban() {
        let mut penalties = PeerPenalties::default();
        for second in 0..100 {
            // One fault every 5 s: 50 points charged, 50 forgiven in between.
            assert!(!penalties.charge(second * 5_000, peer(), &Rejection::WrongProposer));
        }
        let (_, record) = penalties.records().next().expect("charged");
        assert_eq!(record.total_points, 100 * 50);
        assert_eq!(record.banned_until_ms, None);
    }

    #[test]
    fn heights_out_of_window_cost_nothing() {
        let mut penalties = PeerPenalties::default();
        for _ in 0..1_000 {
            let far = Rejection::WrongHeight { found: 1_000, current: 1 };
            assert!(!penalties.charge(0, peer(), &far));
        }
        assert!(!penalties.is_banned(0, &peer()));
        assert_eq!(penalties.records().count(), 0);
    }
}
