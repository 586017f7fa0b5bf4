//! The write-ahead log: every input Malachite asks to record for the current height, so that
//! a restarted validator replays its height and re-uses the votes it signed instead of signing
//! different ones.
//!
//! The core emits [`crate::Output::WalAppend`] in order with its other outputs; the shell
//! appends, and makes the log durable before it sends any message that follows an append
//! (so nothing this node signed leaves it unless it is on disk). [`crate::Output::WalReset`]
//! starts a new height once the previous block is committed. [`FileWal`] is the log on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_consensus::{Input, ProposedValue};
use malachitebft_core_types::{Round, SignedMessage, Timeout, TimeoutKind, Validity, ValueOrigin};
use tandem_types::{decode, encode, sha256, Address, Block, DecodeError, Signature, Vote};

use crate::context::{BlockHeight, BlockValue, ConsensusVote, TandemContext, ValidatorAddress};
use crate::wire::proposal_from_wire;

/// One recorded input.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WalEntry {
    /// A vote (this node's own or a peer's).
    Vote {
        /// The vote.
        vote: Vote,
        /// Its signature.
        signature: Signature,
    },
    /// A signed proposal.
    Proposal {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Proof-of-lock round.
        pol_round: Option<u32>,
        /// Proposer.
        proposer: Address,
        /// The block.
        block: Block,
        /// The proposer's signature.
        signature: Signature,
    },
    /// A value known to be valid or invalid (this node's own proposals).
    ProposedValue {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Valid round.
        valid_round: Option<u32>,
        /// Proposer.
        proposer: Address,
        /// The block.
        block: Block,
        /// Whether it was valid.
        valid: bool,
        /// Whether it came from sync.
        from_sync: bool,
    },
    /// Votes forming a polka or round certificate.
    Certificate {
        /// What they certify.
        kind: crate::wire::CertificateKind,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The signed votes.
        votes: Vec<(Vote, Signature)>,
    },
    /// An elapsed timeout.
    Timeout {
        /// Round.
        round: u32,
        /// 0 propose, 1 prevote, 2 precommit, 3 rebroadcast.
        kind: u8,
    },
}

fn round_option(round: Round) -> Option<u32> {
    round.as_u32()
}

impl WalEntry {
    /// The entry recording `input`, if it is one the log keeps.
    pub(crate) fn from_input(chain_id: u64, input: &Input<TandemContext>) -> Option<WalEntry> {
        Some(match input {
            Input::Vote(vote) => {
                WalEntry::Vote { vote: vote.message.to_protocol()?, signature: vote.signature }
            }
            Input::Proposal(proposal) => {
                let message = &proposal.message;
                WalEntry::Proposal {
                    height: message.height.0,
                    round: message.round.as_u32()?,
                    pol_round: round_option(message.pol_round),
                    proposer: message.proposer.0,
                    block: message.value.block().clone(),
                    signature: proposal.signature,
                }
            }
            Input::ProposedValue(value, origin) => WalEntry::ProposedValue {
                height: value.height.0,
                round: value.round.as_u32()?,
                valid_round: round_option(value.valid_round),
                proposer: value.proposer.0,
                block: value.value.block().clone(),
                valid: value.validity.is_valid(),
                from_sync: origin.is_sync(),
            },
            Input::TimeoutElapsed(timeout) => WalEntry::Timeout {
                round: timeout.round.as_u32()?,
                kind: match timeout.kind {
                    TimeoutKind::Propose => 0,
                    TimeoutKind::Prevote => 1,
                    TimeoutKind::Precommit => 2,
                    TimeoutKind::Rebroadcast => 3,
                    TimeoutKind::FinalizeHeight(_) => return None,
                },
            },
            Input::PolkaCertificate(certificate) => certificate_entry(crate::wire::from_polka(
                &TandemContext { chain_id },
                certificate,
            )?)?,
            Input::RoundCertificate(certificate) => certificate_entry(crate::wire::from_round(
                &TandemContext { chain_id },
                certificate,
            )?)?,
            _ => return None,
        })
    }

    /// The input this entry records.
    pub(crate) fn to_input(&self, chain_id: u64) -> Option<Input<TandemContext>> {
        Some(match self {
            WalEntry::Vote { vote, signature } => {
                Input::Vote(SignedMessage::new(ConsensusVote::from_protocol(vote), *signature))
            }
            WalEntry::Proposal { height, round, pol_round, proposer, block, signature } => {
                let proposal = proposal_from_wire(
                    chain_id,
                    *height,
                    *round,
                    *pol_round,
                    *proposer,
                    block.clone(),
                );
                Input::Proposal(SignedMessage::new(proposal, *signature))
            }
            WalEntry::ProposedValue {
                height,
                round,
                valid_round,
                proposer,
                block,
                valid,
                from_sync,
            } => {
                let value = ProposedValue {
                    height: BlockHeight(*height),
                    round: Round::new(*round),
                    valid_round: valid_round.map_or(Round::Nil, Round::new),
                    proposer: ValidatorAddress(*proposer),
                    value: BlockValue::new(block.clone()),
                    validity: Validity::from_bool(*valid),
                };
                let origin = if *from_sync { ValueOrigin::Sync } else { ValueOrigin::Consensus };
                Input::ProposedValue(value, origin)
            }
            WalEntry::Certificate { kind, height, round, votes } => match kind {
                crate::wire::CertificateKind::Polka => {
                    Input::PolkaCertificate(crate::wire::to_polka(*height, *round, votes)?)
                }
                _ => Input::RoundCertificate(crate::wire::to_round(*kind, *height, *round, votes)?),
            },
            WalEntry::Timeout { round, kind } => {
                let kind = match kind {
                    0 => TimeoutKind::Propose,
                    1 => TimeoutKind::Prevote,
                    2 => TimeoutKind::Precommit,
                    3 => TimeoutKind::Rebroadcast,
                    _ => return None,
                };
                Input::TimeoutElapsed(Timeout::new(Round::new(*round), kind))
            }
        })
    }

    /// The block this entry carries, if any.
    pub(crate) fn block(&self) -> Option<&Block> {
        match self {
            WalEntry::Proposal { block, .. } | WalEntry::ProposedValue { block, .. } => Some(block),
            _ => None,
        }
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes an entry.
    pub fn from_bytes(bytes: &[u8]) -> Result<WalEntry, DecodeError> {
        decode("wal entry", bytes)
    }
}

/// The log on disk: one file of records `u32 length ++ 4-byte checksum ++ u64 height ++ entry`,
/// the checksum being the first 4 bytes of SHA-256 over height and entry. A torn record at the
/// end (a crash mid-append) is dropped when the log is read.
pub struct FileWal {
    path: PathBuf,
    file: File,
    dirty: bool,
}

impl FileWal {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> io::Result<FileWal> {
        let file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        Ok(FileWal { path: path.to_path_buf(), file, dirty: false })
    }

    /// Appends one entry for `height` (not yet durable).
    pub fn append(&mut self, height: u64, entry: &[u8]) -> io::Result<()> {
        let mut body = height.to_le_bytes().to_vec();
        body.extend_from_slice(entry);
        let mut record = (body.len() as u32).to_le_bytes().to_vec();
        record.extend_from_slice(&sha256(&body).0[..4]);
        record.extend_from_slice(&body);
        self.file.write_all(&record)?;
        self.dirty = true;
        Ok(())
    }

    /// Makes every append durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Whether appends wait for a sync.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Empties the log: a new height starts. Not synced on its own: the entries it drops
    /// are of the height just committed, which a restart skips, and the truncation becomes
    /// durable with the first sync of the new height's entries. A sync here cost every
    /// height one more fsync, on the way to the next proposal.
    pub fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.dirty = false;
        Ok(())
    }

    /// Every intact record, in order: (height, entry bytes).
    pub fn entries(&self) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut entries = Vec::new();
        let mut rest = bytes.as_slice();
        while rest.len() >= 8 {
            let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            let Some(body) = rest.get(8..8 + length) else { break };
            if body.len() < 8 || sha256(body).0[..4] != rest[4..8] {
                break;
            }
            let height = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
            entries.push((height, body[8..].to_vec()));
            rest = &rest[8 + length..];
        }
        Ok(entries)
    }
}

fn certificate_entry(wire: crate::wire::WireMessage) -> Option<WalEntry> {
    match wire {
        crate::wire::WireMessage::Certificate { kind, height, round, votes } => {
            Some(WalEntry::Certificate { kind, height, round, votes })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_in(dir: &tempfile::TempDir) -> FileWal {
        FileWal::open(&dir.path().join("consensus.wal")).expect("open the log")
    }

    #[test]
    fn appended_entries_read_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut wal = open_in(&dir);
        wal.append(5, b"first").expect("append");
        wal.append(5, b"second").expect("append");
        assert!(wal.is_dirty());
        wal.sync().expect("sync");
        assert!(!wal.is_dirty());
        let entries = open_in(&dir).entries().expect("read");
        assert_eq!(entries, vec![(5, b"first".to_vec()), (5, b"second".to_vec())]);
    }

    #[test]
    fn a_reset_drops_the_entries_before_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut wal = open_in(&dir);
        wal.append(5, b"old").expect("append");
        wal.sync().expect("sync");
        wal.reset().expect("reset");
        assert_eq!(wal.entries().expect("read"), Vec::new());
        wal.append(6, b"new").expect("append");
        wal.sync().expect("sync");
        assert_eq!(open_in(&dir).entries().expect("read"), vec![(6, b"new".to_vec())]);
    }

    #[test]
    fn a_torn_last_record_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut wal = open_in(&dir);
        wal.append(5, b"whole").expect("append");
        wal.append(5, b"torn off").expect("append");
        wal.sync().expect("sync");
        let path = dir.path().join("consensus.wal");
        let length = std::fs::metadata(&path).expect("metadata").len();
        File::options().write(true).open(&path).expect("open").set_len(length - 3).expect("cut");
        assert_eq!(open_in(&dir).entries().expect("read"), vec![(5, b"whole".to_vec())]);
    }

    /// The reset is not synced: after a crash the new height's first record may sit over the
    /// start of the old height's records. What survives of those reads as the old height
    /// (which a restart skips) or not at all.
    #[test]
    fn a_new_record_over_an_unsynced_reset_leaves_only_old_height_records() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("consensus.wal");
        let mut wal = open_in(&dir);
        for entry in [b"aaaa", b"bbbb", b"cccc"] {
            wal.append(5, entry).expect("append");
        }
        wal.sync().expect("sync");
        let old = std::fs::read(&path).expect("read the old log");

        // The new height's record, of the same length as an old one, then one shorter.
        for new_entry in [&b"nnnn"[..], &b"nn"[..]] {
            let fresh = tempfile::tempdir().expect("temp dir");
            let mut new_wal = open_in(&fresh);
            new_wal.append(6, new_entry).expect("append");
            new_wal.sync().expect("sync");
            let new = std::fs::read(fresh.path().join("consensus.wal")).expect("read");
            let mut crashed = old.clone();
            crashed[..new.len()].copy_from_slice(&new);
            std::fs::write(&path, &crashed).expect("write the crashed log");

            let entries = open_in(&dir).entries().expect("read");
            assert_eq!(entries[0], (6, new_entry.to_vec()));
            assert!(entries[1..].iter().all(|(height, _)| *height == 5), "{entries:?}");
        }
    }
}
