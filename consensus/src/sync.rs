//! Value sync: a node behind its peers fetches decided blocks with their certificates, checks
//! each certificate against the validator set and each block by executing it, commits them,
//! and rejoins consensus at the next height.
//!
//! Peers announce their committed height (`Status`) at least once a second. When a peer has
//! committed the height this node is working on, the node asks it for a range; a response is
//! committed block by block (deferring the fsync to the last block of each response, since
//! synced blocks can always be fetched again) and the next range is asked for at once. A
//! peer that leaves a request unanswered is paused for a while, so that a peer announcing
//! heights it does not serve cannot hold this node back.

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_consensus::Input;
use malachitebft_core_types::VoteExtensionPolicy;
use tandem_executor::{Durability, ExecutorError};
use tandem_types::{decode, encode, Address, Block, CommitCertificate, DecodeError};
use tracing::{debug, info};

use crate::context::{BlockHeight, TandemContext};
use crate::core::{BlockSource, ConsensusCore, Fatal, Output, Rejection};

/// Most blocks served in one response.
pub const SYNC_BLOCKS_MAX: u64 = 256;
/// Most bytes of blocks served in one response.
pub const SYNC_BYTES_MAX: usize = 8 << 20;
/// A request unanswered for this long is given up and may go to another peer.
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Ranges asked for ahead, so that the next response is on its way while one is applied.
const REQUESTS_IN_FLIGHT: usize = 2;
/// How long a peer that left a request unanswered is not asked again (doubling per strike).
const COOLDOWN_MS: u64 = 5_000;
/// The longest such pause.
const COOLDOWN_MAX_MS: u64 = 160_000;

/// Sync messages, on the sync channel.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncMessage {
    /// The sender's last committed height.
    Status {
        /// Height.
        height: u64,
    },
    /// Asks for decided blocks `from..=to`.
    Request {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
    },
    /// Decided blocks with their certificates, in height order.
    Blocks {
        /// The blocks.
        blocks: Vec<(Block, CommitCertificate)>,
    },
}

impl SyncMessage {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a message; rejects anything that is not a canonical encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<SyncMessage, DecodeError> {
        decode("sync message", bytes)
    }
}

/// What this node knows of its peers' progress.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    peer_heights: std::collections::BTreeMap<Address, u64>,
    /// Outstanding requests, oldest first: peer, last height asked, when.
    in_flight: std::collections::VecDeque<(Address, u64, u64)>,
    /// Peers that left requests unanswered: not asked until, and how many times in a row.
    cooldown: std::collections::BTreeMap<Address, (u64, u32)>,
}

impl<S: BlockSource> ConsensusCore<S> {
    /// Announces this node's committed height; call at least once a second.
    pub fn on_status_tick(&mut self, now_ms: u64) -> Vec<Output> {
        let height = self.executor().head().height;
        let mut outputs =
            vec![Output::SendSync { to: None, bytes: SyncMessage::Status { height }.to_bytes() }];
        outputs.extend(self.request_if_behind(now_ms));
        outputs
    }

    /// A sync message from `peer`.
    pub fn on_sync_message(
        &mut self,
        now_ms: u64,
        peer: Address,
        bytes: &[u8],
    ) -> Result<Result<Vec<Output>, Rejection>, Fatal> {
        if self.penalties.is_banned(now_ms, &peer) {
            return Ok(Err(Rejection::Banned));
        }
        let result = match SyncMessage::from_bytes(bytes) {
            Err(error) => Err(Rejection::Malformed(error.to_string())),
            Ok(SyncMessage::Status { height }) => {
                self.sync.peer_heights.insert(peer, height);
                Ok(self.request_if_behind(now_ms))
            }
            Ok(SyncMessage::Request { from, to }) => self.serve(peer, from, to),
            Ok(SyncMessage::Blocks { blocks }) => self.apply_synced(now_ms, peer, blocks)?,
        };
        if let Err(rejection) = &result {
            self.charge(now_ms, peer, rejection);
        }
        Ok(result)
    }

    /// The peer to ask: the most advanced one not paused; if all are paused, the one whose
    /// pause ends first (sync never stops for lack of a perfect peer).
    fn sync_peer(&self, now_ms: u64) -> Option<(Address, u64)> {
        let paused_until = |peer: &Address| {
            self.sync.cooldown.get(peer).map_or(0, |(until, _)| *until).saturating_sub(now_ms)
        };
        let heights = self.sync.peer_heights.iter();
        let ready = heights.clone().filter(|(peer, _)| paused_until(peer) == 0);
        ready
            .max_by_key(|(peer, height)| (**height, **peer))
            .or_else(|| heights.min_by_key(|(peer, _)| (paused_until(peer), **peer)))
            .map(|(peer, height)| (*peer, *height))
    }

    /// The highest committed height a peer has announced (0 before any status).
    pub fn best_peer_height(&self) -> u64 {
        self.sync.peer_heights.values().copied().max().unwrap_or(0)
    }

    /// Stops syncing from `peer` (it was banned).
    pub(crate) fn forget_peer(&mut self, peer: &Address) {
        self.sync.peer_heights.remove(peer);
        self.sync.in_flight.retain(|(asked, _, _)| asked != peer);
    }

    /// Asks the most advanced peer for the next range if it has decided the current height.
    fn request_if_behind(&mut self, now_ms: u64) -> Vec<Output> {
        if let Some(&(peer, _, sent_ms)) = self.sync.in_flight.front() {
            if now_ms >= sent_ms + REQUEST_TIMEOUT_MS {
                // The peer did not serve what it announced: ask others for a while (longer
                // each time), so that a peer announcing heights it does not serve cannot
                // capture this node's sync.
                let strikes = self.sync.cooldown.get(&peer).map_or(1, |(_, s)| s + 1);
                let pause_ms = (COOLDOWN_MS << (strikes - 1).min(5)).min(COOLDOWN_MAX_MS);
                debug!(%peer, pause_ms, "sync.request timed out");
                self.sync.cooldown.insert(peer, (now_ms + pause_ms, strikes));
                self.sync.in_flight.clear();
            }
        }
        let current = self.height();
        let Some((peer, height)) = self.sync_peer(now_ms) else { return Vec::new() };
        let mut outputs = Vec::new();
        let mut from = self.sync.in_flight.back().map_or(current, |(_, to, _)| to + 1).max(current);
        while self.sync.in_flight.len() < REQUESTS_IN_FLIGHT && height >= from {
            let to = height.min(from + SYNC_BLOCKS_MAX - 1);
            self.sync.in_flight.push_back((peer, to, now_ms));
            debug!(%peer, from, to, "sync.request");
            outputs.push(Output::SendSync {
                to: Some(peer),
                bytes: SyncMessage::Request { from, to }.to_bytes(),
            });
            from = to + 1;
        }
        outputs
    }

    /// Answers a request with the decided blocks this node has, within the limits.
    fn serve(&self, peer: Address, from: u64, to: u64) -> Result<Vec<Output>, Rejection> {
        let store = self.executor().store();
        let last =
            to.min(self.executor().head().height).min(from.saturating_add(SYNC_BLOCKS_MAX - 1));
        let mut blocks = Vec::new();
        let mut bytes = 0;
        for height in from.max(1)..=last {
            let (Ok(Some(block)), Ok(Some(certificate))) =
                (store.block(height), store.certificate(height))
            else {
                break;
            };
            bytes += block.txs.iter().map(|tx| tx.encoded_len()).sum::<usize>() + 512;
            blocks.push((block, certificate));
            if bytes >= SYNC_BYTES_MAX {
                break;
            }
        }
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![Output::SendSync {
            to: Some(peer),
            bytes: SyncMessage::Blocks { blocks }.to_bytes(),
        }])
    }

    /// Verifies and commits synced blocks in order, then restarts consensus at the new height.
    fn apply_synced(
        &mut self,
        now_ms: u64,
        peer: Address,
        blocks: Vec<(Block, CommitCertificate)>,
    ) -> Result<Result<Vec<Output>, Rejection>, Fatal> {
        if let Some(position) = self.sync.in_flight.iter().position(|(asked, _, _)| *asked == peer)
        {
            self.sync.in_flight.remove(position);
        }
        let count = blocks.len();
        let mut committed = 0;
        let mut reports = Vec::new();
        for (index, (block, certificate)) in blocks.into_iter().enumerate() {
            // The executor's head moves with every commit; consensus restarts after the loop.
            let height = block.header.height;
            let next = self.executor().head().height + 1;
            if height < next {
                continue;
            }
            if height != next {
                break;
            }
            let durability =
                if index + 1 == count { Durability::Immediate } else { Durability::Deferred };
            if let Err(rejection) = self.commit_synced(now_ms, &block, &certificate, durability)? {
                self.sync.in_flight.retain(|(asked, _, _)| *asked != peer);
                return Ok(Err(rejection));
            }
            committed += 1;
            reports.push(Output::Decided {
                height,
                round: certificate.round,
                block_hash: certificate.block_hash,
                tx_count: block.header.tx_count,
            });
        }
        if committed == 0 {
            // A response that does not continue the chain (its request was overtaken, or an
            // earlier response was lost): the ranges in flight no longer line up with this
            // node's height, so start again from it.
            self.sync.in_flight.clear();
        }
        let mut outputs = reports;
        if committed > 0 {
            self.sync.cooldown.remove(&peer);
            info!(%peer, committed, height = self.executor().head().height, "sync.caught up");
            let next = BlockHeight(self.executor().head().height + 1);
            let validators = self.validator_set();
            let start = Input::<TandemContext>::StartHeight(
                next,
                validators,
                false,
                None,
                VoteExtensionPolicy::Disabled,
            );
            outputs.extend(self.restart_at(now_ms, start)?);
        }
        outputs.extend(self.request_if_behind(now_ms));
        Ok(Ok(outputs))
    }

    fn commit_synced(
        &mut self,
        now_ms: u64,
        block: &Block,
        certificate: &CommitCertificate,
        durability: Durability,
    ) -> Result<Result<(), Rejection>, Fatal> {
        let height = block.header.height;
        let chain_id = self.executor().genesis().chain_id;
        if let Err(error) =
            certificate.verify(chain_id, height, &block.hash(), self.executor().validators())
        {
            return Ok(Err(Rejection::InvalidBlock(format!(
                "certificate of height {height}: {error}"
            ))));
        }
        let outcome = match self.execute_known(block) {
            Ok(outcome) => outcome,
            Err(ExecutorError::Block(error)) => {
                return Ok(Err(Rejection::InvalidBlock(error.to_string())))
            }
            Err(error) => return Err(Fatal(error.to_string())),
        };
        self.executor_mut()
            .commit_with(block, certificate, outcome, durability)
            .map_err(|error| Fatal(error.to_string()))?;
        self.source_mut().on_committed(now_ms, block);
        Ok(Ok(()))
    }
}
