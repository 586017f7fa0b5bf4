//! When a height starts if no transaction waits: at once, after an interval, or only when
//! transactions wait or a peer has started it. Step tests on one validator's core.

use std::time::Duration;

use tandem_consensus::{
    BlockSource, ConsensusConfig, ConsensusCore, EmptyBlocks, Output, TimerId, TimerKind,
    WireMessage,
};
use tandem_executor::Executor;
use tandem_types::{Block, SecretKey, SignedTransaction, Vote, VoteKind};

mod common;

use common::key;

/// A source that has transactions waiting when `waiting` says so.
struct Toggle {
    waiting: std::rc::Rc<std::cell::Cell<bool>>,
}

impl BlockSource for Toggle {
    fn candidates(&mut self, _height: u64, _limit: usize) -> Vec<SignedTransaction> {
        Vec::new()
    }

    fn has_candidates(&self) -> bool {
        self.waiting.get()
    }

    fn on_committed(&mut self, _now_ms: u64, _block: &Block) {}
}

struct Setup {
    _dir: tempfile::TempDir,
    keys: Vec<SecretKey>,
    core: ConsensusCore<Toggle>,
    waiting: std::rc::Rc<std::cell::Cell<bool>>,
}

fn setup(empty_blocks: EmptyBlocks) -> Setup {
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    let genesis = common::genesis(5, &keys, 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let executor = Executor::open(&dir.path().join("a.redb"), genesis).expect("open");
    let waiting = std::rc::Rc::new(std::cell::Cell::new(false));
    let config = ConsensusConfig { empty_blocks, ..Default::default() };
    let core =
        ConsensusCore::new(executor, keys[0].clone(), Toggle { waiting: waiting.clone() }, &config);
    Setup { _dir: dir, keys, core, waiting }
}

fn starts_round(outputs: &[Output]) -> bool {
    outputs.iter().any(|output| {
        matches!(output, Output::ScheduleTimer { timer, .. } if timer.kind == TimerKind::Propose)
    })
}

#[test]
fn continuous_starts_at_once() {
    let mut s = setup(EmptyBlocks::Continuous);
    let outputs = s.core.start(0).expect("start");
    assert!(starts_round(&outputs), "{outputs:?}");
    assert!(!s.core.is_idle());
}

#[test]
fn never_waits_for_transactions() {
    let mut s = setup(EmptyBlocks::Never);
    assert_eq!(s.core.start(0).expect("start"), Vec::new());
    assert!(s.core.is_idle());
    // Nothing waits yet: a nudge changes nothing.
    assert_eq!(s.core.on_transactions(10).expect("nudge"), Vec::new());
    assert!(s.core.is_idle());
    s.waiting.set(true);
    let outputs = s.core.on_transactions(20).expect("nudge");
    assert!(starts_round(&outputs), "{outputs:?}");
    assert!(!s.core.is_idle());
}

#[test]
fn never_joins_a_height_a_peer_started() {
    let mut s = setup(EmptyBlocks::Never);
    s.core.start(0).expect("start");
    let vote = Vote {
        chain_id: 5,
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block_hash: None,
        validator: s.keys[1].address(),
    };
    let message = WireMessage::Vote { signature: vote.sign(&s.keys[1]), vote };
    let outputs =
        s.core.on_message(5, s.keys[1].address(), &message.to_bytes()).expect("ok").expect("ok");
    assert!(starts_round(&outputs), "{outputs:?}");
    assert!(!s.core.is_idle());
}

#[test]
fn interval_starts_after_the_interval_or_when_transactions_wait() {
    let mut s = setup(EmptyBlocks::Interval(Duration::from_millis(250)));
    let idle = TimerId { height: 1, round: 0, kind: TimerKind::Idle };
    assert_eq!(
        s.core.start(0).expect("start"),
        vec![Output::ScheduleTimer { timer: idle, after: Duration::from_millis(250) }]
    );
    let outputs = s.core.on_timeout(250, idle).expect("timer");
    assert!(starts_round(&outputs), "{outputs:?}");
    assert!(!s.core.is_idle());

    // Transactions that wait cut the interval short.
    let mut s = setup(EmptyBlocks::Interval(Duration::from_millis(250)));
    s.core.start(0).expect("start");
    s.waiting.set(true);
    let outputs = s.core.on_transactions(30).expect("nudge");
    assert_eq!(outputs.first(), Some(&Output::CancelTimer(idle)));
    assert!(starts_round(&outputs), "{outputs:?}");
}
