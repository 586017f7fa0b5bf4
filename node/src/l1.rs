//! The node's L1 side, one task beside consensus: it builds the batch the contract expects next
//! once this node has decided the batch's last height, proposes it in this node's turn (header
//! and certificates on the network's L1 channel), checks and signs the proposals of others,
//! posts with a quorum of signatures, and watches the contract's `BatchCommitted` events so
//! that transactions move to `posted` and `settled`.
//!
//! The decisions (whose turn, when a quorum is there, backoff) are `tandem_l1::Poster`'s; this
//! module does the I/O around it. L1 failures (unreachable, another chain, a contract that
//! refuses) are logged, shown in `tandem_status` and retried with backoff. They never reach
//! consensus, which runs on its own thread and does not wait for L1.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tandem_executor::Store;
use tandem_l1::TandemRollup::TandemRollupErrors;
use tandem_l1::{
    attest, batch_heights, batch_of_height, check_proposal, AttestationMessage, Batch, BatchHeader,
    CommittedEvent, L1Error, L1Message, L1Signer, PostJob, Poster, PosterConfig, ProposalRejected,
    RollupClient, SendPolicy, SentBatch, Sequencer,
};
use tandem_network::{Channel, Transport};
use tandem_types::json::to_hex;
use tandem_types::{Address, Block, CommitCertificate, Genesis, Hash, L1Address, ValidatorSet};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::api::{L1Status, PostedBatchStatus};
use crate::clock::now_ms;
use crate::config::L1Section;

/// Longest wait for one L1 request before it counts as failed.
const L1_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between attempts to reach an L1 that is down.
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// First wait before retrying a failed post; it doubles up to the turn.
const POST_RETRY_MS: u64 = 1_000;
/// Most L1 blocks asked for in one event query.
const EVENT_QUERY_BLOCKS: u64 = 10_000;
/// Most event queries per poll: a long history is read over several polls.
const EVENT_QUERIES_PER_TICK: u32 = 10;
/// Most proposals of one peer for one batch this node checks: each costs a certificate check
/// per height.
const PROPOSALS_CHECKED_PER_PEER: usize = 3;

/// What the node knows of L1, for `tandem_status` and transaction status.
#[derive(Clone, Debug, Default)]
pub struct L1View {
    /// The rollup contract.
    pub contract: L1Address,
    /// Whether the last request to the L1 succeeded.
    pub connected: bool,
    /// The last L1 failure, until a request succeeds again.
    pub error: Option<String>,
    /// The L1's latest block, as last read.
    pub l1_block: Option<u64>,
    /// The batch index the contract expects next.
    pub next_batch_index: Option<u64>,
    /// Every batch seen committed on L1, by index.
    pub posted: BTreeMap<u64, CommittedEvent>,
    /// L1 blocks on top of a batch's block before it counts as settled.
    pub settle_blocks: u64,
    /// Batches whose posted root differs from this node's (an alarm: never expected).
    pub root_mismatches: u64,
}

impl L1View {
    /// The posted batch holding `height`, and whether it is settled.
    pub fn batch_holding(&self, height: u64, batch_blocks: u64) -> Option<(&CommittedEvent, bool)> {
        let posted = self.posted.get(&batch_of_height(height, batch_blocks))?;
        Some((posted, self.is_settled(posted)))
    }

    /// The last batch on L1.
    pub fn last_posted(&self) -> Option<&CommittedEvent> {
        self.posted.values().next_back()
    }

    /// Whether `posted` has `settle_blocks` L1 blocks on top of it.
    pub fn is_settled(&self, posted: &CommittedEvent) -> bool {
        self.l1_block
            .is_some_and(|latest| latest >= posted.l1_block.saturating_add(self.settle_blocks))
    }
}

/// The view shared between the L1 task and the RPC handlers.
pub type SharedL1View = Arc<RwLock<L1View>>;

/// The L1 status of a node whose head is at `head_height` (timestamp `head_timestamp_ms`);
/// `timestamp_of` gives a stored block's timestamp.
pub fn l1_status(
    view: &L1View,
    head_height: u64,
    head_timestamp_ms: u64,
    timestamp_of: impl Fn(u64) -> Option<u64>,
) -> L1Status {
    let last = view.last_posted();
    let posted_height = last.map_or(0, |posted| posted.last_height);
    let lag_blocks = head_height.saturating_sub(posted_height);
    let lag_seconds = match timestamp_of(posted_height) {
        Some(posted_ms) => head_timestamp_ms.saturating_sub(posted_ms) / 1_000,
        None => 0,
    };
    L1Status {
        contract: view.contract,
        connected: view.connected,
        error: view.error.clone(),
        l1_block: view.l1_block,
        next_batch_index: view.next_batch_index,
        last_posted: last.map(|posted| PostedBatchStatus {
            batch: posted.index,
            first_height: posted.first_height,
            last_height: posted.last_height,
            l1_block: posted.l1_block,
            l1_tx_hash: to_hex(&posted.l1_tx_hash),
            settled: view.is_settled(posted),
        }),
        lag_blocks,
        lag_seconds,
    }
}

/// Everything the L1 task works with.
pub struct L1Task {
    /// The `[l1]` settings.
    pub settings: L1Section,
    /// The genesis (validators in rotation order, batch size).
    pub genesis: Genesis,
    /// This node's L1 key.
    pub key: L1Signer,
    /// The store shared with the executor.
    pub store: Arc<Store>,
    /// The peer-to-peer transport.
    pub transport: Arc<dyn Transport>,
    /// Messages of the network's L1 channel.
    pub messages: mpsc::Receiver<(Address, Bytes)>,
    /// Where the task publishes what it knows.
    pub view: SharedL1View,
    /// Turns true when the node stops.
    pub stop: watch::Receiver<bool>,
}

/// Runs the L1 task until the node stops.
pub async fn run_l1(mut task: L1Task) {
    {
        let mut view = task.view.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        view.contract = task.settings.contract;
        view.settle_blocks = task.settings.settle_blocks;
    }
    let Some(client) = connect(&mut task).await else { return };
    let mut service = match Service::new(task, client) {
        Ok(service) => service,
        Err(error) => {
            error!(error = %format!("{error:#}"), "l1.unusable");
            return;
        }
    };
    let poll = Duration::from_millis(service.task.settings.poll_interval_ms);
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = service.task.stop.changed() => {
                if changed.is_err() || *service.task.stop.borrow() {
                    break;
                }
            }
            message = service.task.messages.recv() => {
                let Some((peer, payload)) = message else { break };
                service.on_message(peer, &payload).await;
            }
            _ = tick.tick() => service.on_tick().await,
            (index, result) = wait_for(&mut service.sending) => service.on_sent(index, result),
        }
    }
    if let Some((_, sending)) = service.sending.take() {
        sending.abort();
    }
}

/// Connects to the contract, retrying with backoff while the L1 is down or wrong; `None` if
/// the node stops first.
async fn connect(task: &mut L1Task) -> Option<RollupClient> {
    let settings = &task.settings;
    let mut wait = Duration::from_secs(1);
    loop {
        match connect_once(settings, &task.key).await {
            Ok(client) => {
                info!(rpc = %settings.rpc_url, contract = ?settings.contract, "l1.connected");
                return Some(client);
            }
            Err(failure) => {
                warn!(error = %failure, retry_in_s = wait.as_secs(), "l1.unreachable");
                publish_error(&task.view, failure);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = task.stop.changed() => return None,
        }
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

async fn connect_once(settings: &L1Section, key: &L1Signer) -> Result<RollupClient, String> {
    // The chain first: on another chain, a contract at the address would be another one.
    let chain_id = timed(tandem_l1::l1_chain_id(&settings.rpc_url)).await?;
    if chain_id != settings.chain_id {
        return Err(format!(
            "the L1 at {} is chain {chain_id}, the configuration says {}",
            settings.rpc_url, settings.chain_id
        ));
    }
    timed(RollupClient::connect(&settings.rpc_url, key, settings.contract)).await
}

/// One L1 request with [`L1_REQUEST_TIMEOUT`], its failure as text.
async fn timed<T>(
    request: impl std::future::Future<Output = Result<T, L1Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(L1_REQUEST_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", L1_REQUEST_TIMEOUT.as_secs())),
    }
}

fn publish_error(view: &SharedL1View, failure: String) {
    let mut view = view.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    view.connected = false;
    view.error = Some(failure);
}

/// The outcome of the send in flight; pending while there is none.
async fn wait_for(
    sending: &mut Option<Sending>,
) -> (u64, Result<Result<SentBatch, L1Error>, tokio::task::JoinError>) {
    match sending {
        Some((index, running)) => {
            let index = *index;
            let result = running.await;
            *sending = None;
            (index, result)
        }
        None => std::future::pending().await,
    }
}

/// The batch being sent, and the task sending it.
type Sending = (u64, JoinHandle<Result<SentBatch, L1Error>>);

struct Service {
    task: L1Task,
    client: RollupClient,
    poster: Poster,
    validators: ValidatorSet,
    batch_blocks: u64,
    /// Signatures this node gave to others' proposals, by batch and digest, to send again when
    /// a proposer asks again.
    given: BTreeMap<u64, BTreeMap<[u8; 32], AttestationMessage>>,
    /// The batch this node built for the contract's next index, with the certificates its
    /// data holds: proposed and posted from here, not read from the store again.
    built: Option<(Arc<Batch>, Vec<CommitCertificate>)>,
    /// The proposals checked, by batch and proposer: their digests.
    checked: BTreeMap<(u64, Address), std::collections::BTreeSet<[u8; 32]>>,
    /// The L1 block up to which events have been read.
    events_read_to: Option<u64>,
    sending: Option<Sending>,
    policy: SendPolicy,
}

impl Service {
    fn new(task: L1Task, client: RollupClient) -> anyhow::Result<Service> {
        let genesis = &task.genesis;
        let me = genesis
            .validators
            .iter()
            .position(|v| v.l1_address == task.key.address())
            .context("this node's L1 key is not a validator's")?;
        let sequencers = genesis
            .validators
            .iter()
            .map(|v| Sequencer { address: v.l1_address, weight: v.power })
            .collect();
        let domain = tandem_l1::Domain {
            chain_id: task.settings.chain_id,
            contract: task.settings.contract,
        };
        let poster = Poster::new(PosterConfig {
            validators: sequencers,
            me,
            domain,
            turn_ms: task.settings.post_turn_ms,
            retry_ms: POST_RETRY_MS,
        })?;
        let validators = ValidatorSet::new(genesis.validators.clone())?;
        let policy = SendPolicy {
            resubmit_after: Duration::from_millis(task.settings.resubmit_after_ms),
            fee_bumps: task.settings.fee_bumps,
            ..SendPolicy::default()
        };
        Ok(Service {
            batch_blocks: genesis.params.batch_blocks,
            task,
            client,
            poster,
            validators,
            given: BTreeMap::new(),
            checked: BTreeMap::new(),
            built: None,
            events_read_to: None,
            sending: None,
            policy,
        })
    }

    fn view(&self) -> std::sync::RwLockWriteGuard<'_, L1View> {
        self.task.view.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The batch built for `header` (with its certificates), if it is the one held.
    fn built_for(&self, header: &BatchHeader) -> Option<&(Arc<Batch>, Vec<CommitCertificate>)> {
        self.built.as_ref().filter(|(batch, _)| batch.header == *header)
    }

    fn is_validator(&self, peer: &Address) -> bool {
        self.task.genesis.validators.iter().any(|validator| validator.address == *peer)
    }

    /// Reads the L1, builds and proposes the next batch when it can, and posts in its turn.
    async fn on_tick(&mut self) {
        if let Err(failure) = self.read_l1().await {
            debug!(error = %failure, "l1.read failed");
            publish_error(&self.task.view, failure);
            return;
        }
        let now = now_ms();
        if let Err(error) = self.build_next(now) {
            warn!(error = %format!("{error:#}"), "l1.build failed");
        }
        if let Some(header) = self.poster.proposal_due(now) {
            self.propose(now, header);
        }
        self.post_if_due().await;
    }

    /// The contract's next index and the new `BatchCommitted` events.
    async fn read_l1(&mut self) -> Result<(), String> {
        let next = timed(self.client.next_batch_index()).await?;
        let latest = timed(self.client.block_number()).await?;
        // Posting needs only the next index: it goes first, whatever the event scan does.
        self.poster.on_l1_next_index(now_ms(), next);
        self.given = self.given.split_off(&next);
        self.checked.retain(|(index, _), _| *index >= next);
        if self.built.as_ref().is_some_and(|(batch, _)| batch.header.index < next) {
            self.built = None;
        }
        {
            let mut view = self.view();
            view.connected = true;
            view.error = None;
            view.l1_block = Some(latest);
            view.next_batch_index = Some(next);
            // A batch at or above the next index is not on this L1 (any more): an L1 restarted
            // on older state, or a reorganisation.
            view.posted.split_off(&next);
        }
        if self.events_read_to.is_some_and(|read| read > latest) {
            warn!(latest, "l1.went_back: reading its events again from the start");
            self.events_read_to = None;
            self.view().posted.clear();
        }
        // The last `settle_blocks` blocks are read again each time, so an event a shallow
        // reorganisation moved is found in its new block.
        let settle = self.task.settings.settle_blocks;
        let mut start =
            self.events_read_to.map_or(0, |read| read.saturating_add(1).saturating_sub(settle));
        for _ in 0..EVENT_QUERIES_PER_TICK {
            if start > latest {
                break;
            }
            let end = latest.min(start.saturating_add(EVENT_QUERY_BLOCKS - 1));
            let events = timed(self.client.committed_events(start, end)).await?;
            let mut new = Vec::new();
            {
                let mut view = self.view();
                for event in events.into_iter().filter(|event| event.index < next) {
                    if view.posted.insert(event.index, event) != Some(event) {
                        new.push(event);
                    }
                }
            }
            for event in &new {
                info!(
                    batch = event.index,
                    last_height = event.last_height,
                    l1_block = event.l1_block,
                    "l1.batch_on_l1"
                );
            }
            // Only events not seen before: the overlap read again each time counts once.
            let mismatches = self.check_roots(&new);
            self.view().root_mismatches += mismatches;
            self.events_read_to = Some(end);
            match end.checked_add(1) {
                Some(after) => start = after,
                None => break,
            }
        }
        Ok(())
    }

    /// Counts posted roots that differ from this node's at the same height (logged loudly).
    fn check_roots(&self, events: &[CommittedEvent]) -> u64 {
        let mut mismatches = 0;
        for event in events {
            let Ok(Some(state)) = self.task.store.state_at(event.last_height) else { continue };
            if state.state_root != event.state_root {
                mismatches += 1;
                error!(
                    batch = event.index,
                    height = event.last_height,
                    posted = %event.state_root,
                    ours = %state.state_root,
                    "l1.root_mismatch: the root on L1 is not this node's"
                );
            }
        }
        mismatches
    }

    /// Builds and signs the batch the contract expects next, once its last height is here.
    fn build_next(&mut self, now: u64) -> anyhow::Result<()> {
        let Some(index) = self.poster.next_to_build() else { return Ok(()) };
        let Some((batch, certificates)) =
            batch_from_store(&self.task.store, index, self.batch_blocks)?
        else {
            return Ok(());
        };
        let attestation = attest(&self.task.key, self.poster.domain(), &batch.header)?;
        self.poster.on_built(now, batch.header, attestation.signature);
        self.built = Some((Arc::new(batch), certificates));
        debug!(batch = index, "l1.built");
        Ok(())
    }

    /// Sends this node's proposal of `header`'s batch to every peer.
    fn propose(&mut self, now: u64, header: BatchHeader) {
        let Some((_, certificates)) = self.built_for(&header) else { return };
        let certificates = certificates.clone();
        let message = L1Message::Proposal { header, certificates };
        let payload = Bytes::from(tandem_types::encode(&message));
        let peers = self.task.transport.broadcast(Channel::L1, payload);
        self.poster.on_proposed(now, header.index);
        info!(batch = header.index, peers, "l1.proposed");
    }

    async fn on_message(&mut self, peer: Address, payload: &[u8]) {
        match tandem_types::decode::<L1Message>("L1 message", payload) {
            Ok(L1Message::Attestation(attestation)) => {
                match self.poster.on_attestation(attestation) {
                    Ok(()) => self.post_if_due().await,
                    Err(rejected) => debug!(%peer, %rejected, "l1.attestation not counted"),
                }
            }
            Ok(L1Message::Proposal { header, certificates }) => {
                self.on_proposal(peer, header, certificates).await;
            }
            Err(_) => debug!(%peer, "l1.message undecodable"),
        }
    }

    /// Checks a peer's proposal against this node's blocks and, if it holds, signs it and
    /// sends the signature back.
    async fn on_proposal(
        &mut self,
        peer: Address,
        header: BatchHeader,
        certificates: Vec<CommitCertificate>,
    ) {
        let index = header.index;
        // Only the batch the contract expects next is ever proposed, only by validators, and
        // only in its shape: anything else is dropped before the store is read.
        let heights = batch_heights(index, self.batch_blocks);
        let well_formed = (header.first_height, header.last_height)
            == (*heights.start(), *heights.end())
            && certificates.len() as u64 == self.batch_blocks;
        if !self.is_validator(&peer) || self.poster.l1_next_index() != Some(index) || !well_formed {
            debug!(%peer, batch = index, "l1.proposal ignored");
            return;
        }
        let digest = tandem_l1::batch_digest(self.poster.domain(), &header);
        let judged = self.checked.get(&(index, peer)).is_some_and(|checked| {
            checked.len() >= PROPOSALS_CHECKED_PER_PEER || checked.contains(&digest)
        });
        let answer = match self.given.get(&index).and_then(|given| given.get(&digest)) {
            Some(given) => Some(*given),
            None if judged => {
                debug!(%peer, batch = index, "l1.proposal not checked again");
                None
            }
            None => self.judge(peer, header, certificates, digest).await,
        };
        if let Some(message) = answer {
            let payload = Bytes::from(tandem_types::encode(&L1Message::Attestation(message)));
            if let Err(error) = self.task.transport.send(&peer, Channel::L1, payload) {
                debug!(%peer, ?error, "l1.attestation not sent");
            }
        }
    }

    /// Checks a proposal not judged before against the store (off the async threads) and, if
    /// it holds, signs it; the signature to send back.
    async fn judge(
        &mut self,
        peer: Address,
        header: BatchHeader,
        certificates: Vec<CommitCertificate>,
        digest: [u8; 32],
    ) -> Option<AttestationMessage> {
        let index = header.index;
        let store = self.task.store.clone();
        let validators = self.validators.clone();
        let (chain_id, batch_blocks) = (self.task.genesis.chain_id, self.batch_blocks);
        let checked = tokio::task::spawn_blocking(move || {
            check_against_store(
                &store,
                &header,
                certificates,
                (chain_id, &validators),
                batch_blocks,
            )
        })
        .await;
        if matches!(checked, Ok(Ok(Some(_)))) {
            // A verdict: remembered, so the same proposal is not checked again. (Not yet
            // decided here is no verdict: the proposer sends it again.)
            self.checked.entry((index, peer)).or_default().insert(digest);
        }
        let batch = match checked {
            Ok(Ok(Some(Ok(batch)))) => batch,
            // Not decided here yet: the proposer sends it again.
            Ok(Ok(None)) => return None,
            Ok(Ok(Some(Err(rejected)))) => {
                if matches!(rejected, ProposalRejected::HeaderMismatch { field, .. } if field != "data_hash")
                {
                    error!(%peer, %rejected, "l1.proposal_differs: the proposer's chain is not this node's");
                } else {
                    warn!(%peer, %rejected, "l1.proposal refused");
                }
                return None;
            }
            Ok(Err(error)) => {
                warn!(error = %format!("{error:#}"), "l1.proposal: the store could not be read");
                return None;
            }
            Err(error) => {
                warn!(%error, "l1.proposal check failed");
                return None;
            }
        };
        let attestation = match attest(&self.task.key, self.poster.domain(), &batch.header) {
            Ok(attestation) => attestation,
            Err(error) => {
                warn!(%error, "l1.sign failed");
                return None;
            }
        };
        let message = AttestationMessage { index, digest, signature: attestation.signature };
        self.given.entry(index).or_default().insert(digest, message);
        debug!(%peer, batch = index, "l1.signed");
        Some(message)
    }

    /// Starts sending the batch this node should post now, unless one is being sent. A
    /// transaction of this key still waiting at the same nonce (sent before a restart, say)
    /// is replaced, never joined by a second one: at most one of them can be mined.
    async fn post_if_due(&mut self) {
        if self.sending.is_some() {
            return;
        }
        let now = now_ms();
        let Some(job) = self.poster.due(now) else { return };
        let Some((batch, _)) = self.built_for(&job.header) else {
            warn!(batch = job.header.index, "l1.post: no built batch with this header");
            self.poster.on_post_failed(now, job.header.index);
            return;
        };
        // Shared with the sending task, not copied: a batch can be megabytes.
        let batch = Arc::clone(batch);
        // The size says why an L1 refuses a batch it cannot take (request or gas limits).
        let bytes = batch.data.len();
        info!(batch = job.header.index, signatures = job.signatures.len(), bytes, "l1.posting");
        let client = self.client.clone();
        let policy = self.policy;
        // Every fee level's wait, then some: a hung endpoint must not hold the sender forever.
        let limit = policy.resubmit_after * (policy.fee_bumps + 2) + L1_REQUEST_TIMEOUT * 3;
        let PostJob { header, signatures } = job;
        let index = header.index;
        self.sending = Some((
            index,
            tokio::spawn(async move {
                match tokio::time::timeout(limit, client.send_batch(&batch, &signatures, &policy))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(L1Error::Rpc(format!("no outcome within {} s", limit.as_secs()))),
                }
            }),
        ));
    }

    fn on_sent(
        &mut self,
        index: u64,
        result: Result<Result<SentBatch, L1Error>, tokio::task::JoinError>,
    ) {
        let now = now_ms();
        match result {
            Ok(Ok(sent)) => {
                info!(
                    batch = index,
                    l1_tx = %to_hex(&sent.l1_tx_hash),
                    l1_block = sent.l1_block,
                    gas = sent.gas_used,
                    "l1.posted"
                );
                // The contract now expects the next one; the next read confirms it.
                self.poster.on_l1_next_index(now, index + 1);
            }
            Ok(Err(L1Error::Superseded { .. })) => {
                info!(batch = index, "l1.post: another validator's post landed first");
            }
            Ok(Err(L1Error::Refused(reason)))
                if matches!(*reason, TandemRollupErrors::WrongBatchIndex(_)) =>
            {
                info!(batch = index, "l1.post: another validator's post landed first");
                self.poster.on_post_failed(now, index);
            }
            Ok(Err(error)) => {
                warn!(batch = index, %error, "l1.post failed");
                self.poster.on_post_failed(now, index);
            }
            Err(error) => {
                warn!(batch = index, %error, "l1.post task failed");
                self.poster.on_post_failed(now, index);
            }
        }
    }
}

/// Batch `index` built from this node's store, with the certificates its data holds; `None`
/// until its last height is committed here.
fn batch_from_store(
    store: &Store,
    index: u64,
    batch_blocks: u64,
) -> anyhow::Result<Option<(Batch, Vec<CommitCertificate>)>> {
    let heights = batch_heights(index, batch_blocks);
    let Some(blocks) = blocks_from_store(store, index, batch_blocks)? else { return Ok(None) };
    let mut pairs = Vec::with_capacity(blocks.len());
    for block in blocks {
        let height = block.header.height;
        let certificate = store
            .certificate(height)?
            .with_context(|| format!("no certificate for height {height}"))?;
        pairs.push((block, certificate));
    }
    let prev_state_root = prev_root(store, *heights.start())?;
    let batch = Batch::build(index, batch_blocks, prev_state_root, &pairs)?;
    Ok(Some((batch, pairs.into_iter().map(|(_, certificate)| certificate).collect())))
}

/// The blocks of batch `index` from the store; `None` until its last height is committed.
fn blocks_from_store(
    store: &Store,
    index: u64,
    batch_blocks: u64,
) -> anyhow::Result<Option<Vec<Block>>> {
    let heights = batch_heights(index, batch_blocks);
    let head = store.head()?.map_or(0, |head| head.height);
    if head < *heights.end() {
        return Ok(None);
    }
    let mut blocks = Vec::with_capacity(batch_blocks as usize);
    for height in heights {
        blocks.push(store.block(height)?.with_context(|| format!("no block at height {height}"))?);
    }
    Ok(Some(blocks))
}

/// The state root before `first_height`.
fn prev_root(store: &Store, first_height: u64) -> anyhow::Result<Hash> {
    let before = first_height - 1;
    let state = store.state_at(before)?.with_context(|| format!("no state at height {before}"))?;
    Ok(state.state_root)
}

/// [`check_proposal`] against the store's blocks; `None` while the batch's heights are not all
/// committed here.
fn check_against_store(
    store: &Store,
    header: &BatchHeader,
    certificates: Vec<CommitCertificate>,
    chain: (u64, &ValidatorSet),
    batch_blocks: u64,
) -> anyhow::Result<Option<Result<Batch, ProposalRejected>>> {
    let Some(blocks) = blocks_from_store(store, header.index, batch_blocks)? else {
        return Ok(None);
    };
    let prev = prev_root(store, *batch_heights(header.index, batch_blocks).start())?;
    Ok(Some(check_proposal(header, certificates, blocks, prev, chain, batch_blocks)))
}
