//! The consensus core: a synchronous state machine around Malachite's Tendermint core.
//!
//! Inputs carry the time (`now_ms`); outputs are commands for the shell (broadcast these bytes,
//! arm or cancel this timer) and reports (this height was decided). The core validates
//! proposals by executing their blocks, builds blocks when it proposes, and commits decided
//! blocks through the executor. It never reads a clock, sleeps or touches a socket.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use malachitebft_core_consensus::{
    process, Effect, Input, LocallyProposedValue, Params, Resumable, Resume, SignedConsensusMsg,
    State, ThresholdParams, ValuePayload,
};
use malachitebft_core_types::{
    CertificateError, CommitCertificate as MtCertificate, Context as _, LinearTimeouts, Round,
    SignedMessage, Timeout, TimeoutKind, Validator as _, VoteExtensionPolicy,
};
use tandem_executor::{BlockOutcome, Executor, ExecutorError, SignatureCheck};
use tandem_types::{Hash, SecretKey, SignedTransaction};
use tracing::{debug, info, warn};

use crate::context::{
    to_protocol_certificate, BlockHeight, BlockId, BlockValue, ConsensusValidatorSet,
    TandemContext, ValidatorAddress,
};
use crate::penalty::PeerPenalties;
use crate::verified::VerifiedPrecommits;
use crate::wire::{proposal_from_wire, WireMessage};

/// Where the proposer takes transactions from (the mempool, or a test's script).
pub trait BlockSource {
    /// Up to `limit` candidate transactions for the block at `height`, best first.
    fn candidates(&mut self, height: u64, limit: usize) -> Vec<SignedTransaction>;
    /// Whether any transaction waits to be proposed (decides when a height starts under
    /// [`EmptyBlocks::Interval`] and [`EmptyBlocks::Never`]).
    fn has_candidates(&self) -> bool;
    /// `block` was committed at `now_ms` (the executor's state already holds its effects):
    /// its transactions are no longer candidates.
    fn on_committed(&mut self, now_ms: u64, block: &tandem_types::Block);
    /// Those of `tx_hashes` whose signature this node already verified (a mempool verifies
    /// on admission); execution then does not verify them again. Asked once per block, so
    /// that a source behind a lock takes it once. The default knows none, so every signature
    /// is verified.
    fn verified_among(&self, _tx_hashes: &[Hash]) -> HashSet<Hash> {
        HashSet::new()
    }
}

/// When a validator starts the next height if no transaction waits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmptyBlocks {
    /// At once: blocks follow each other as fast as consensus goes, empty or not.
    #[default]
    Continuous,
    /// After this long since the last decision, so that an idle chain still shows it is alive
    /// (and a block time passes); at once as soon as a transaction waits.
    Interval(Duration),
    /// Only when a transaction waits, or when a peer has started the height.
    Never,
}

/// Consensus timing. Defaults suit a LAN or loopback cluster.
#[derive(Clone, Debug)]
pub struct ConsensusConfig {
    /// Time to wait for a proposal in round 0.
    pub timeout_propose: Duration,
    /// Time to wait for more prevotes after seeing 2/3 of any.
    pub timeout_prevote: Duration,
    /// Time to wait for more precommits after seeing 2/3 of any.
    pub timeout_precommit: Duration,
    /// Added to each timeout per round, so that a slow network eventually fits in one.
    pub timeout_delta: Duration,
    /// Whether heights start when no transaction waits.
    pub empty_blocks: EmptyBlocks,
}

impl Default for ConsensusConfig {
    fn default() -> ConsensusConfig {
        ConsensusConfig {
            timeout_propose: Duration::from_millis(300),
            timeout_prevote: Duration::from_millis(100),
            timeout_precommit: Duration::from_millis(100),
            timeout_delta: Duration::from_millis(100),
            empty_blocks: EmptyBlocks::Continuous,
        }
    }
}

impl ConsensusConfig {
    fn timeouts(&self) -> LinearTimeouts {
        LinearTimeouts {
            propose: self.timeout_propose,
            propose_delta: self.timeout_delta,
            prevote: self.timeout_prevote,
            prevote_delta: self.timeout_delta,
            precommit: self.timeout_precommit,
            precommit_delta: self.timeout_delta,
            rebroadcast: self.timeout_propose + self.timeout_prevote + self.timeout_precommit,
            max_timeout: Duration::from_secs(30),
        }
    }
}

/// A timer the shell must arm; it comes back through [`ConsensusCore::on_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerId {
    /// The height it belongs to; a timer of an older height is stale.
    pub height: u64,
    /// The round it belongs to.
    pub round: u32,
    /// Which step.
    pub kind: TimerKind,
}

/// The step a timer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Waiting for a proposal.
    Propose,
    /// Waiting for prevotes.
    Prevote,
    /// Waiting for precommits.
    Precommit,
    /// Rebroadcasting own votes when a round stalls.
    Rebroadcast,
    /// Starting an idle height after [`EmptyBlocks::Interval`].
    Idle,
}

/// What the shell must do, or learn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (a [`WireMessage`]) to every validator.
    Broadcast {
        /// The encoded message.
        bytes: Vec<u8>,
        /// Whether it carries a block (and belongs on the bulk proposal channel).
        is_proposal: bool,
    },
    /// Send these bytes (a [`crate::SyncMessage`]) on the sync channel to one peer, or to all.
    SendSync {
        /// The peer, or `None` for every peer.
        to: Option<tandem_types::Address>,
        /// The encoded message.
        bytes: Vec<u8>,
    },
    /// Record this entry (a [`crate::WalEntry`]) in the write-ahead log for `height`; it must
    /// be durable before any later broadcast or send leaves the node.
    WalAppend {
        /// The height being decided.
        height: u64,
        /// The encoded entry.
        bytes: Vec<u8>,
    },
    /// The previous height is committed: empty the write-ahead log for `height`.
    WalReset {
        /// The height now being decided.
        height: u64,
    },
    /// Arm a timer.
    ScheduleTimer {
        /// Which timer.
        timer: TimerId,
        /// After how long.
        after: Duration,
    },
    /// Disarm a timer.
    CancelTimer(TimerId),
    /// Disarm every timer.
    CancelAllTimers,
    /// A block was decided and committed.
    Decided {
        /// Its height.
        height: u64,
        /// The round it was decided in.
        round: u32,
        /// Its hash.
        block_hash: Hash,
        /// Its transactions.
        tx_count: u32,
    },
}

/// Why a message from a peer was not fed to consensus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes are not a consensus message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message is for another chain.
    #[error("message for chain {0}")]
    WrongChain(u64),
    /// The message is for a height this node has passed, or too far ahead.
    #[error("message for height {found}, current height is {current}")]
    WrongHeight {
        /// Message height.
        found: u64,
        /// This node's height.
        current: u64,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The signer is not in the validator set.
    #[error("signer is not a validator")]
    UnknownValidator,
    /// The proposer is not the one selected for that height and round.
    #[error("proposal from a validator that is not the proposer of its round")]
    WrongProposer,
    /// The proposed block is invalid.
    #[error("invalid block: {0}")]
    InvalidBlock(String),
    /// A polka or round certificate whose valid votes do not hold enough power.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// The sender is banned for earlier faults; its messages are dropped unread.
    #[error("sender is banned")]
    Banned,
}

/// A failure the node cannot continue after (the store failed).
#[derive(Debug, thiserror::Error)]
#[error("consensus stopped: {0}")]
pub struct Fatal(pub String);

/// Everything the effect handler needs besides Malachite's state.
struct Handler<S> {
    ctx: TandemContext,
    key: SecretKey,
    validators: ConsensusValidatorSet,
    timeouts: LinearTimeouts,
    empty_blocks: EmptyBlocks,
    executor: Executor,
    source: S,
    now_ms: u64,
    /// When the current height started here (its inputs' time), for the decision's log.
    height_started_ms: u64,
    /// Blocks this node built, by (height, round), so that a repeated request gets the same.
    built: BTreeMap<(u64, u32), BlockValue>,
    /// Blocks that executed validly on the current head, with their outcomes.
    executed: BTreeMap<BlockId, (BlockValue, BlockOutcome)>,
    outputs: Vec<Output>,
    follow_ups: VecDeque<Input<TandemContext>>,
    fatal: Option<Fatal>,
    /// The vote whose signature `admit` just checked, so Malachite's check of it is free.
    verified_vote: Option<(crate::context::ConsensusVote, tandem_types::Signature)>,
    /// Precommits checked by `admit` or signed here: the certificate built from them at a
    /// decision is then checked without verifying them again.
    verified_precommits: VerifiedPrecommits,
}

/// How much of the power a set of votes must hold.
#[derive(Clone, Copy)]
enum Threshold {
    /// More than 2/3.
    Quorum,
    /// More than 1/3.
    Honest,
}

/// One validator's consensus.
pub struct ConsensusCore<S> {
    state: State<TandemContext>,
    handler: Handler<S>,
    pub(crate) sync: crate::sync::SyncState,
    /// Proposals for the next height, held until this node gets there.
    early_proposals: Vec<Vec<u8>>,
    /// Points and bans of peers that sent bad input.
    pub(crate) penalties: PeerPenalties,
    /// The start of the next height, held while no transaction waits (see [`EmptyBlocks`]).
    idle: Option<Input<TandemContext>>,
    /// Lets the next start through even if nothing waits (a wake-up).
    start_now: bool,
}

impl<S: BlockSource> ConsensusCore<S> {
    /// A core for the validator holding `key`, continuing from the executor's head.
    pub fn new(
        executor: Executor,
        key: SecretKey,
        source: S,
        config: &ConsensusConfig,
    ) -> ConsensusCore<S> {
        let ctx = TandemContext { chain_id: executor.genesis().chain_id };
        let validators = ConsensusValidatorSet::new(executor.validators());
        let height = BlockHeight(executor.head().height + 1);
        let params = Params {
            address: ValidatorAddress(key.address()),
            threshold_params: ThresholdParams::default(),
            value_payload: ValuePayload::ProposalOnly,
            enabled: true,
        };
        let state = State::new(ctx.clone(), height, validators.clone(), params, 10, 500);
        let handler = Handler {
            ctx,
            key,
            validators,
            timeouts: config.timeouts(),
            empty_blocks: config.empty_blocks,
            executor,
            source,
            now_ms: 0,
            height_started_ms: 0,
            built: BTreeMap::new(),
            executed: BTreeMap::new(),
            outputs: Vec::new(),
            follow_ups: VecDeque::new(),
            fatal: None,
            verified_vote: None,
            verified_precommits: VerifiedPrecommits::default(),
        };
        ConsensusCore {
            state,
            handler,
            sync: Default::default(),
            early_proposals: Vec::new(),
            penalties: PeerPenalties::default(),
            idle: None,
            start_now: false,
        }
    }

    /// The height being decided (or waiting to start): the one after the committed head.
    pub fn height(&self) -> u64 {
        self.handler.executor.head().height + 1
    }

    /// Whether the next height is held until a transaction waits (see [`EmptyBlocks`]).
    pub fn is_idle(&self) -> bool {
        self.idle.is_some()
    }

    /// Transactions arrived in the block source: an idle height starts now.
    pub fn on_transactions(&mut self, now_ms: u64) -> Result<Vec<Output>, Fatal> {
        if self.idle.is_some() && self.handler.source.has_candidates() {
            return self.wake(now_ms);
        }
        Ok(Vec::new())
    }

    /// Starts the held height.
    fn wake(&mut self, now_ms: u64) -> Result<Vec<Output>, Fatal> {
        let Some(start) = self.idle.take() else { return Ok(Vec::new()) };
        debug!(height = self.height(), "consensus.height start after idle");
        self.start_now = true;
        let mut outputs = vec![Output::CancelTimer(self.idle_timer())];
        outputs.extend(self.run(now_ms, start)?);
        Ok(outputs)
    }

    fn idle_timer(&self) -> TimerId {
        TimerId { height: self.height(), round: 0, kind: TimerKind::Idle }
    }

    /// Whether a (non-replay) height start goes ahead now, or waits for transactions.
    fn starts_now(&mut self) -> bool {
        let forced = std::mem::take(&mut self.start_now);
        forced
            || match self.handler.empty_blocks {
                EmptyBlocks::Continuous => true,
                EmptyBlocks::Interval(interval) => {
                    interval.is_zero() || self.handler.source.has_candidates()
                }
                EmptyBlocks::Never => self.handler.source.has_candidates(),
            }
    }

    /// Holds `start` until transactions wait, the interval passes, or a peer starts the height.
    fn hold(&mut self, start: Input<TandemContext>) {
        debug!(height = self.height(), "consensus.idle");
        self.idle = Some(start);
        if let EmptyBlocks::Interval(after) = self.handler.empty_blocks {
            self.handler.outputs.push(Output::ScheduleTimer { timer: self.idle_timer(), after });
        }
    }

    /// The round being played.
    pub fn round(&self) -> Option<u32> {
        self.state.round().as_u32()
    }

    /// The executor (for reads: blocks, certificates, accounts).
    pub fn executor(&self) -> &Executor {
        &self.handler.executor
    }

    pub(crate) fn executor_mut(&mut self) -> &mut Executor {
        &mut self.handler.executor
    }

    /// Executes `block` on the head, verifying only the signatures the source has not.
    pub(crate) fn execute_known(
        &self,
        block: &tandem_types::Block,
    ) -> Result<tandem_executor::BlockOutcome, ExecutorError> {
        self.handler.execute_known(block)
    }

    pub(crate) fn source_mut(&mut self) -> &mut S {
        &mut self.handler.source
    }

    pub(crate) fn validator_set(&self) -> ConsensusValidatorSet {
        self.handler.validators.clone()
    }

    /// Drops what belonged to the abandoned height and feeds `start`.
    pub(crate) fn restart_at(
        &mut self,
        now_ms: u64,
        start: Input<TandemContext>,
    ) -> Result<Vec<Output>, Fatal> {
        self.handler.executed.clear();
        self.idle = None;
        let next = self.handler.executor.head().height + 1;
        self.handler.built.retain(|(height, _), _| *height >= next);
        self.handler.verified_precommits.forget_below(next);
        let mut outputs = vec![Output::WalReset { height: next }];
        outputs.extend(self.run(now_ms, start)?);
        Ok(outputs)
    }

    /// Starts consensus after a restart: replays the write-ahead log's entries for the height
    /// after the executor's head (entries of other heights are stale and skipped), re-using the
    /// votes and proposal this node recorded instead of signing new ones.
    pub fn start_with_wal(
        &mut self,
        now_ms: u64,
        entries: Vec<(u64, Vec<u8>)>,
    ) -> Result<Vec<Output>, Fatal> {
        let height = self.handler.executor.head().height + 1;
        let chain_id = self.handler.ctx.chain_id;
        let mut inputs = Vec::new();
        for (entry_height, bytes) in entries {
            if entry_height != height {
                continue;
            }
            let entry = crate::wal::WalEntry::from_bytes(&bytes)
                .map_err(|error| Fatal(format!("write-ahead log: {error}")))?;
            self.handler.prepare_replay(&entry);
            inputs.extend(entry.to_input(chain_id));
        }
        if inputs.is_empty() {
            return self.start(now_ms);
        }
        info!(height, entries = inputs.len(), "consensus.replaying write-ahead log");
        let validators = self.handler.validators.clone();
        let start = Input::StartHeight(
            BlockHeight(height),
            validators,
            true,
            None,
            VoteExtensionPolicy::Disabled,
        );
        let mut outputs = self.run(now_ms, start)?;
        self.state.index_wal_entries(inputs.iter());
        let mut result = Ok(());
        for input in inputs {
            match self.run(now_ms, input) {
                Ok(more) => outputs.extend(more),
                Err(fatal) => {
                    result = Err(fatal);
                    break;
                }
            }
        }
        self.state.reset_entries_index();
        result.map(|()| outputs)
    }

    /// Starts consensus at the height after the executor's head.
    pub fn start(&mut self, now_ms: u64) -> Result<Vec<Output>, Fatal> {
        let input = self.start_height_input();
        self.run(now_ms, input)
    }

    /// A timer fired. Stale timers (of another height) are ignored.
    pub fn on_timeout(&mut self, now_ms: u64, timer: TimerId) -> Result<Vec<Output>, Fatal> {
        if timer.height != self.height() {
            return Ok(Vec::new());
        }
        let kind = match timer.kind {
            TimerKind::Idle => return self.wake(now_ms),
            TimerKind::Propose => TimeoutKind::Propose,
            TimerKind::Prevote => TimeoutKind::Prevote,
            TimerKind::Precommit => TimeoutKind::Precommit,
            TimerKind::Rebroadcast => TimeoutKind::Rebroadcast,
        };
        self.run(now_ms, Input::TimeoutElapsed(Timeout::new(Round::new(timer.round), kind)))
    }

    /// A consensus message arrived from `peer`. A rejected message is logged with its reason
    /// and charged to the peer; a banned peer's messages are dropped unread.
    pub fn on_message(
        &mut self,
        now_ms: u64,
        peer: tandem_types::Address,
        bytes: &[u8],
    ) -> Result<Result<Vec<Output>, Rejection>, Fatal> {
        if self.penalties.is_banned(now_ms, &peer) {
            return Ok(Err(Rejection::Banned));
        }
        self.handler.now_ms = now_ms;
        let message = match WireMessage::from_bytes(bytes) {
            Ok(message) => message,
            Err(error) => {
                let rejection = Rejection::Malformed(error.to_string());
                self.charge(now_ms, peer, &rejection);
                return Ok(Err(rejection));
            }
        };
        let message_height = message.height();
        let input = match self.admit(message, bytes) {
            Ok(Some(input)) => input,
            Ok(None) => return Ok(Ok(Vec::new())),
            Err(rejection) => {
                self.charge(now_ms, peer, &rejection);
                return Ok(Err(rejection));
            }
        };
        // A peer has started the held height: join it.
        let mut outputs = Vec::new();
        if self.idle.is_some() && message_height == self.height() {
            outputs = self.wake(now_ms)?;
        }
        let result = self.run(now_ms, input);
        self.handler.verified_vote = None;
        outputs.extend(result?);
        Ok(Ok(outputs))
    }

    /// Logs a rejected message and charges its sender.
    pub(crate) fn charge(
        &mut self,
        now_ms: u64,
        peer: tandem_types::Address,
        rejection: &Rejection,
    ) {
        if rejection.penalty_points() == 0 {
            debug!(%peer, %rejection, "consensus.message dropped");
            return;
        }
        warn!(%peer, %rejection, "consensus.message rejected");
        if self.penalties.charge(now_ms, peer, rejection) {
            warn!(%peer, ban_ms = crate::penalty::BAN_MS, "consensus.peer banned");
            self.forget_peer(&peer);
        }
    }

    /// Points and bans of peers that sent bad input.
    pub fn penalties(&self) -> &PeerPenalties {
        &self.penalties
    }

    fn start_height_input(&self) -> Input<TandemContext> {
        let height = BlockHeight(self.handler.executor.head().height + 1);
        Input::StartHeight(
            height,
            self.handler.validators.clone(),
            false,
            None,
            VoteExtensionPolicy::Disabled,
        )
    }

    /// Checks a message before Malachite sees it; proposals are executed here.
    fn admit(
        &mut self,
        message: WireMessage,
        bytes: &[u8],
    ) -> Result<Option<Input<TandemContext>>, Rejection> {
        let current = self.height();
        match message {
            WireMessage::Vote { vote, signature } => {
                if vote.chain_id != self.handler.ctx.chain_id {
                    return Err(Rejection::WrongChain(vote.chain_id));
                }
                // Malachite buffers votes for a few heights ahead; further ones are noise.
                // Votes for a committed height are of no use, and must not reach Malachite
                // while it still sits at a height that sync has since committed (the next
                // height may be held, see `EmptyBlocks`): it would decide that height again.
                if vote.height < current || vote.height > current + 2 {
                    return Err(Rejection::WrongHeight { found: vote.height, current });
                }
                if self.handler.executor.validators().power_of(&vote.validator).is_none() {
                    return Err(Rejection::UnknownValidator);
                }
                vote.verify(&signature).map_err(|_| Rejection::BadSignature)?;
                let validators = self.handler.executor.validators().len();
                self.handler.verified_precommits.note(&vote, &signature, validators);
                let vote = crate::context::ConsensusVote::from_protocol(&vote);
                self.handler.verified_vote = Some((vote.clone(), signature));
                Ok(Some(Input::Vote(SignedMessage::new(vote, signature))))
            }
            WireMessage::Certificate { kind, height, round, votes } => {
                if height != current {
                    return Err(Rejection::WrongHeight { found: height, current });
                }
                if votes.len() > self.handler.validators_len()
                    || votes.iter().any(|(v, _)| v.chain_id != self.handler.ctx.chain_id)
                {
                    return Err(Rejection::Malformed("certificate votes".into()));
                }
                self.handler.check_certificate_votes(kind, &votes)?;
                let input = match kind {
                    crate::wire::CertificateKind::Polka => {
                        crate::wire::to_polka(height, round, &votes).map(Input::PolkaCertificate)
                    }
                    _ => crate::wire::to_round(kind, height, round, &votes)
                        .map(Input::RoundCertificate),
                };
                input
                    .map(Some)
                    .ok_or_else(|| Rejection::Malformed("inconsistent certificate votes".into()))
            }
            WireMessage::Proposal { height, round, pol_round, proposer, block, signature } => {
                if height == current + 1 {
                    if self.early_proposals.len() < 64 {
                        self.early_proposals.push(bytes.to_vec());
                    }
                    return Ok(None);
                }
                if height != current {
                    return Err(Rejection::WrongHeight { found: height, current });
                }
                let proposal = proposal_from_wire(
                    self.handler.ctx.chain_id,
                    height,
                    round,
                    pol_round,
                    proposer,
                    block,
                );
                self.handler.check_proposal(&proposal, &signature)?;
                Ok(Some(Input::Proposal(SignedMessage::new(proposal, signature))))
            }
        }
    }

    /// Feeds one input and every follow-up it causes; returns the shell's commands.
    fn run(&mut self, now_ms: u64, input: Input<TandemContext>) -> Result<Vec<Output>, Fatal> {
        self.handler.now_ms = now_ms;
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            if matches!(input, Input::StartHeight(_, _, false, ..)) && !self.starts_now() {
                self.hold(input);
                continue;
            }
            let started_height = matches!(input, Input::StartHeight(..));
            if started_height {
                self.handler.height_started_ms = now_ms;
            }
            let result: Result<(), malachitebft_core_consensus::Error<TandemContext>> = process!(
                input: input,
                state: &mut self.state,
                metrics: &(),
                with: effect => self.handler.handle(effect)
            );
            if let Err(error) = result {
                debug!(%error, "consensus.input ignored");
            }
            if let Some(fatal) = self.handler.fatal.take() {
                return Err(fatal);
            }
            queue.extend(self.handler.follow_ups.drain(..));
            if started_height {
                queue.extend(self.take_early_proposals());
            }
        }
        Ok(std::mem::take(&mut self.handler.outputs))
    }

    /// Proposals that arrived one height early, admitted now that this node is there.
    fn take_early_proposals(&mut self) -> Vec<Input<TandemContext>> {
        let early = std::mem::take(&mut self.early_proposals);
        let mut inputs = Vec::new();
        for bytes in early {
            if let Ok(message) = WireMessage::from_bytes(&bytes) {
                match self.admit(message, &bytes) {
                    Ok(Some(input)) => inputs.push(input),
                    Ok(None) => {}
                    Err(rejection) => {
                        debug!(%rejection, "consensus.proposal rejected after catching up")
                    }
                }
            }
        }
        inputs
    }
}

impl<S: BlockSource> Handler<S> {
    /// The hashes of those of `txs` whose signature the source verified.
    fn verified_among(&self, txs: &[SignedTransaction]) -> HashSet<Hash> {
        let hashes: Vec<Hash> = txs.iter().map(SignedTransaction::hash).collect();
        self.source.verified_among(&hashes)
    }

    /// Executes `block` on the head, verifying only the signatures the source has not.
    fn execute_known(
        &self,
        block: &tandem_types::Block,
    ) -> Result<tandem_executor::BlockOutcome, ExecutorError> {
        let verified = self.verified_among(&block.txs);
        let known = |hash: &Hash| verified.contains(hash);
        self.executor.execute(block, SignatureCheck::SkipVerified(&known))
    }

    fn handle(&mut self, effect: Effect<TandemContext>) -> Result<Resume<TandemContext>, Fatal> {
        Ok(match effect {
            Effect::CancelAllTimeouts(r) => {
                self.outputs.push(Output::CancelAllTimers);
                r.resume_with(())
            }
            Effect::CancelTimeout(timeout, r) => {
                if let Some(timer) = self.timer(timeout) {
                    self.outputs.push(Output::CancelTimer(timer));
                }
                r.resume_with(())
            }
            Effect::ScheduleTimeout(timeout, r) => {
                if let Some(timer) = self.timer(timeout) {
                    let after = self.timeouts.duration_for(timeout);
                    self.outputs.push(Output::ScheduleTimer { timer, after });
                }
                r.resume_with(())
            }
            Effect::StartRound(height, round, proposer, role, r) => {
                debug!(height = height.0, %round, %proposer, ?role, "consensus.round start");
                r.resume_with(())
            }
            Effect::PublishConsensusMsg(message, r) => {
                self.publish(&message);
                r.resume_with(())
            }
            Effect::PublishLivenessMsg(message, r) => {
                use malachitebft_core_consensus::LivenessMsg;
                match message {
                    LivenessMsg::Vote(vote) => self.publish(&SignedConsensusMsg::Vote(vote)),
                    LivenessMsg::PolkaCertificate(certificate) => {
                        self.publish_wire(crate::wire::from_polka(&self.ctx, &certificate))
                    }
                    LivenessMsg::SkipRoundCertificate(certificate) => {
                        self.publish_wire(crate::wire::from_round(&self.ctx, &certificate))
                    }
                }
                r.resume_with(())
            }
            Effect::RepublishVote(vote, r) => {
                self.publish(&SignedConsensusMsg::Vote(vote));
                r.resume_with(())
            }
            Effect::RepublishRoundCertificate(certificate, r) => {
                self.publish_wire(crate::wire::from_round(&self.ctx, &certificate));
                r.resume_with(())
            }
            Effect::GetValue(height, round, _timeout, r) => {
                self.propose(height, round);
                r.resume_with(())
            }
            Effect::RestreamProposal(.., r) => r.resume_with(()),
            Effect::CertVerifiedSyncValue(.., r) => r.resume_with(()),
            Effect::CertRejectedSyncValue(.., r) => r.resume_with(()),
            Effect::Decide(certificate, _, r) => {
                self.decide(&certificate);
                r.resume_with(())
            }
            Effect::SignVote(vote, r) => {
                let signature = vote.to_protocol().map_or(tandem_types::Signature([0; 64]), |v| {
                    let signature = v.sign(&self.key);
                    self.verified_precommits.note(&v, &signature, self.executor.validators().len());
                    signature
                });
                r.resume_with(SignedMessage::new(vote, signature))
            }
            Effect::SignProposal(proposal, r) => {
                let signature = self.key.sign(&proposal.signing_bytes());
                r.resume_with(SignedMessage::new(proposal, signature))
            }
            Effect::VerifySignature(message, public_key, r) => {
                let checked = self.verified_vote.as_ref().is_some_and(|(vote, signature)| {
                    matches!(&message.message,
                        malachitebft_core_consensus::ConsensusMsg::Vote(v) if v == vote)
                        && message.signature == *signature
                        && malachitebft_core_types::Vote::validator_address(vote).0 == public_key
                });
                r.resume_with(
                    checked || verify_signature(&message.message, &message.signature, &public_key),
                )
            }
            Effect::VerifyCommitCertificate(certificate, _, _, r) => {
                r.resume_with(self.verify_certificate(&certificate))
            }
            Effect::VerifyExtendedCommitCertificate(certificate, _, _, _, r) => {
                r.resume_with(self.verify_certificate(&certificate.trim_vote_extensions()))
            }
            Effect::VerifyPolkaCertificate(certificate, _, _, r) => {
                let votes: Vec<_> = certificate.votes(&self.ctx).collect();
                r.resume_with(self.verify_votes(&votes, Threshold::Quorum))
            }
            Effect::VerifyRoundCertificate(certificate, _, _, r) => {
                let threshold = match certificate.cert_type {
                    malachitebft_core_types::RoundCertificateType::Skip => Threshold::Honest,
                    malachitebft_core_types::RoundCertificateType::Precommit => Threshold::Quorum,
                };
                let votes: Vec<_> = certificate.votes(&self.ctx).collect();
                r.resume_with(self.verify_votes(&votes, threshold))
            }
            Effect::WalAppend(height, input, r) => {
                self.record(height.0, &input);
                r.resume_with(())
            }
            Effect::ExtendVote(.., r) => r.resume_with(None),
            Effect::VerifyVoteExtension(.., r) => r.resume_with(Ok(())),
            Effect::Finalize(certificate, _, _, r) => {
                let next = certificate.height.0 + 1;
                self.built.retain(|(height, _), _| *height >= next);
                self.verified_precommits.forget_below(next);
                self.executed.clear();
                self.outputs.push(Output::WalReset { height: next });
                self.follow_ups.push_back(Input::StartHeight(
                    BlockHeight(next),
                    self.validators.clone(),
                    false,
                    None,
                    VoteExtensionPolicy::Disabled,
                ));
                r.resume_with(())
            }
        })
    }

    /// Checks a liveness certificate's votes before Malachite sees them, so that a bad one is
    /// charged to its sender (Malachite would drop it silently).
    fn check_certificate_votes(
        &self,
        kind: crate::wire::CertificateKind,
        votes: &[(tandem_types::Vote, tandem_types::Signature)],
    ) -> Result<(), Rejection> {
        // Malachite applies a liveness certificate's votes one by one, without checking their
        // signatures again: every vote must be valid, not only enough of them. A bad one that
        // slipped in would later be restored into this node's commit certificate.
        let validators = self.executor.validators();
        for (vote, signature) in votes {
            if validators.power_of(&vote.validator).is_none() {
                return Err(Rejection::InvalidCertificate(format!(
                    "a vote by {}, not a validator",
                    vote.validator
                )));
            }
            if vote.verify(signature).is_err() {
                return Err(Rejection::InvalidCertificate(format!(
                    "the vote by {} does not verify",
                    vote.validator
                )));
            }
        }
        let threshold = match kind {
            crate::wire::CertificateKind::SkipRound => Threshold::Honest,
            _ => Threshold::Quorum,
        };
        let signed: Vec<_> = votes
            .iter()
            .map(|(vote, signature)| {
                SignedMessage::new(crate::context::ConsensusVote::from_protocol(vote), *signature)
            })
            .collect();
        self.verify_votes(&signed, threshold)
            .map_err(|error| Rejection::InvalidCertificate(error.to_string()))
    }

    fn validators_len(&self) -> usize {
        self.executor.validators().len()
    }

    /// Asks the shell to log `input` if it belongs to the height being decided. Appends go on
    /// during a replay too: a replay can sign votes the log does not hold yet (a replayed
    /// timeout moves to a new round), and those must be durable before they are sent. Entries
    /// already in the log are appended again, which is harmless.
    fn record(&mut self, height: u64, input: &Input<TandemContext>) {
        if height != self.executor.head().height + 1 {
            return;
        }
        if let Some(entry) = crate::wal::WalEntry::from_input(self.ctx.chain_id, input) {
            self.outputs.push(Output::WalAppend { height, bytes: entry.to_bytes() });
        }
    }

    fn timer(&self, timeout: Timeout) -> Option<TimerId> {
        let kind = match timeout.kind {
            TimeoutKind::Propose => TimerKind::Propose,
            TimeoutKind::Prevote => TimerKind::Prevote,
            TimeoutKind::Precommit => TimerKind::Precommit,
            TimeoutKind::Rebroadcast => TimerKind::Rebroadcast,
            // Heights are finalized at once (no target time), so this timer never comes.
            TimeoutKind::FinalizeHeight(_) => return None,
        };
        Some(TimerId {
            height: self.executor.head().height + 1,
            round: timeout.round.as_u32()?,
            kind,
        })
    }

    fn publish_wire(&mut self, wire: Option<WireMessage>) {
        if let Some(wire) = wire {
            self.outputs.push(Output::Broadcast { bytes: wire.to_bytes(), is_proposal: false });
        }
    }

    /// Checks signed votes as a certificate: distinct validators with valid signatures must
    /// hold more than the threshold of the power.
    #[allow(clippy::result_large_err)]
    fn verify_votes(
        &self,
        votes: &[SignedMessage<TandemContext, crate::context::ConsensusVote>],
        threshold: Threshold,
    ) -> Result<(), CertificateError<TandemContext>> {
        let mut counted = std::collections::BTreeSet::new();
        let mut signed = 0u64;
        for vote in votes {
            let Some(protocol) = vote.message.to_protocol() else { continue };
            let Some(power) = self.executor.validators().power_of(&protocol.validator) else {
                continue;
            };
            if protocol.chain_id == self.ctx.chain_id
                && !counted.contains(&protocol.validator)
                && protocol.verify(&vote.signature).is_ok()
            {
                counted.insert(protocol.validator);
                signed += power;
            }
        }
        let total = self.executor.validators().total_power();
        let enough = match threshold {
            Threshold::Quorum => u128::from(signed) * 3 > u128::from(total) * 2,
            Threshold::Honest => u128::from(signed) * 3 > u128::from(total),
        };
        if enough {
            Ok(())
        } else {
            Err(CertificateError::NotEnoughVotingPower { signed, total, expected: total })
        }
    }

    fn publish(&mut self, message: &SignedConsensusMsg<TandemContext>) {
        let wire = match message {
            SignedConsensusMsg::Vote(vote) => WireMessage::from_vote(vote),
            SignedConsensusMsg::Proposal(proposal) => WireMessage::from_proposal(proposal),
        };
        if let Some(wire) = wire {
            let is_proposal = matches!(wire, WireMessage::Proposal { .. });
            self.outputs.push(Output::Broadcast { bytes: wire.to_bytes(), is_proposal });
        }
    }

    /// Before a logged entry is replayed: execute its block, so that a decision on it can be
    /// committed, and remember this node's own proposals, so that it proposes them again.
    fn prepare_replay(&mut self, entry: &crate::wal::WalEntry) {
        let Some(block) = entry.block() else { return };
        let value = BlockValue::new(block.clone());
        if let crate::wal::WalEntry::ProposedValue { height, round, proposer, .. } = entry {
            if *proposer == self.key.address() {
                self.built.insert((*height, *round), value.clone());
            }
        }
        if self.executed.contains_key(&value.id()) {
            return;
        }
        if let Ok(outcome) = self.execute_known(block) {
            self.executed.insert(value.id(), (value, outcome));
        }
    }

    /// Builds (or reuses) this node's block for (height, round) and queues it as the proposal.
    fn propose(&mut self, height: BlockHeight, round: Round) {
        let Some(round_number) = round.as_u32() else { return };
        let value = match self.built.get(&(height.0, round_number)) {
            Some(value) => value.clone(),
            None => {
                let limit = self.executor.genesis().params.block_txs_max as usize;
                let candidates = self.source.candidates(height.0, limit);
                let verified = self.verified_among(&candidates);
                let known = |hash: &Hash| verified.contains(hash);
                let built = match self.executor.build(
                    self.key.address(),
                    self.now_ms,
                    candidates,
                    SignatureCheck::SkipVerified(&known),
                ) {
                    Ok(built) => built,
                    Err(error) => {
                        self.fail(error);
                        return;
                    }
                };
                let value = BlockValue::new(built.block);
                self.executed.insert(value.id(), (value.clone(), built.outcome));
                self.built.insert((height.0, round_number), value.clone());
                value
            }
        };
        self.follow_ups.push_back(Input::Propose(LocallyProposedValue::new(height, round, value)));
    }

    /// Checks a peer's proposal: the right proposer, its signature, and a valid block.
    fn check_proposal(
        &mut self,
        proposal: &crate::context::BlockProposal,
        signature: &tandem_types::Signature,
    ) -> Result<(), Rejection> {
        let expected = self.ctx.select_proposer(&self.validators, proposal.height, proposal.round);
        if *expected.address() != proposal.proposer {
            return Err(Rejection::WrongProposer);
        }
        tandem_types::crypto_verify(&proposal.proposer.0, &proposal.signing_bytes(), signature)
            .map_err(|_| Rejection::BadSignature)?;
        let id = proposal.value.id();
        if self.executed.contains_key(&id) {
            return Ok(());
        }
        match self.execute_known(proposal.value.block()) {
            Ok(outcome) => {
                self.executed.insert(id, (proposal.value.clone(), outcome));
                Ok(())
            }
            Err(ExecutorError::Block(error)) => Err(Rejection::InvalidBlock(error.to_string())),
            Err(error) => {
                self.fail(error);
                Err(Rejection::InvalidBlock("storage failure".into()))
            }
        }
    }

    /// Commits the decided block with its certificate.
    fn decide(&mut self, certificate: &MtCertificate<TandemContext>) {
        let Some(protocol) = to_protocol_certificate(certificate) else {
            self.fatal = Some(Fatal("decided without a round".into()));
            return;
        };
        let Some((value, outcome)) = self.executed.remove(&certificate.value_id) else {
            self.fatal = Some(Fatal(format!(
                "decided block {} was never executed here",
                certificate.value_id
            )));
            return;
        };
        let block = value.block();
        if let Err(error) = self.executor.commit(block, &protocol, outcome) {
            self.fail(error);
            return;
        }
        self.source.on_committed(self.now_ms, block);
        debug!(
            height = block.header.height,
            round = protocol.round,
            txs = block.header.tx_count,
            height_ms = self.now_ms.saturating_sub(self.height_started_ms),
            since_proposal_ms = self.now_ms.saturating_sub(block.header.timestamp_ms),
            "consensus.decided"
        );
        self.outputs.push(Output::Decided {
            height: block.header.height,
            round: protocol.round,
            block_hash: value.id().0,
            tx_count: block.header.tx_count,
        });
    }

    /// The verdict in Malachite's own (large) error type, which its resume value requires.
    #[allow(clippy::result_large_err)]
    fn verify_certificate(
        &self,
        certificate: &MtCertificate<TandemContext>,
    ) -> Result<(), CertificateError<TandemContext>> {
        let Some(protocol) = to_protocol_certificate(certificate) else {
            return Err(CertificateError::VerificationError(None));
        };
        protocol
            .verify_with(
                self.ctx.chain_id,
                protocol.height,
                &protocol.block_hash,
                self.executor.validators(),
                |vote, signature| self.verified_precommits.contains(vote, signature),
            )
            .map(|_| ())
            .map_err(|error| match error {
                tandem_types::CertificateError::InsufficientPower { signed, total } => {
                    CertificateError::NotEnoughVotingPower {
                        signed,
                        total,
                        expected: total * 2 / 3 + 1,
                    }
                }
                _ => CertificateError::VerificationError(None),
            })
    }

    fn fail(&mut self, error: ExecutorError) {
        warn!(%error, "consensus.executor failed");
        self.fatal = Some(Fatal(error.to_string()));
    }
}

/// Checks a vote's or proposal's signature by `public_key`, which must also be its signer.
fn verify_signature(
    message: &malachitebft_core_consensus::ConsensusMsg<TandemContext>,
    signature: &tandem_types::Signature,
    public_key: &tandem_types::Address,
) -> bool {
    match message {
        malachitebft_core_consensus::ConsensusMsg::Vote(vote) => vote
            .to_protocol()
            .is_some_and(|vote| vote.validator == *public_key && vote.verify(signature).is_ok()),
        malachitebft_core_consensus::ConsensusMsg::Proposal(proposal) => {
            proposal.proposer.0 == *public_key
                && tandem_types::crypto_verify(public_key, &proposal.signing_bytes(), signature)
                    .is_ok()
        }
    }
}
