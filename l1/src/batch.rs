//! Batches: which heights each holds, its data, and the header the committee signs.

use std::ops::RangeInclusive;

use alloy::primitives::Bytes;
use tandem_types::{decode, encode, Block, CommitCertificate, DecodeError, Hash, ValidatorSet};

use crate::error::{BatchError, ProposalRejected};

/// keccak-256, the L1's hash (batch data hashes and EIP-712 digests; the L2 uses SHA-256).
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    alloy::primitives::keccak256(bytes).0
}

/// The heights batch `index` holds: `index·batch_blocks + 1 ..= (index + 1)·batch_blocks`.
pub fn batch_heights(index: u64, batch_blocks: u64) -> RangeInclusive<u64> {
    let first = index.saturating_mul(batch_blocks).saturating_add(1);
    first..=first.saturating_add(batch_blocks.saturating_sub(1))
}

/// The batch holding `height` (heights start at 1).
pub fn batch_of_height(height: u64, batch_blocks: u64) -> u64 {
    height.saturating_sub(1) / batch_blocks.max(1)
}

/// The header of a batch, as the contract's `BatchHeader` (Borsh between validators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct BatchHeader {
    /// Batch index, from 0.
    pub index: u64,
    /// First height.
    pub first_height: u64,
    /// Last height.
    pub last_height: u64,
    /// State root before the batch (after `first_height - 1`; the genesis root for batch 0).
    pub prev_state_root: Hash,
    /// State root after `last_height`.
    pub state_root: Hash,
    /// Block hash of `last_height`.
    pub last_block_hash: Hash,
    /// keccak-256 of the batch data.
    pub data_hash: [u8; 32],
}

/// A batch: its header and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The header.
    pub header: BatchHeader,
    /// `borsh(Vec<(Block, CommitCertificate)>)` of its heights. Shared, not copied, by every
    /// call that sends it: a batch can be megabytes.
    pub data: Bytes,
}

impl Batch {
    /// Batch `index` of `blocks` (exactly its heights, in order, with their certificates),
    /// starting from `prev_state_root`.
    pub fn build(
        index: u64,
        batch_blocks: u64,
        prev_state_root: Hash,
        blocks: &[(Block, CommitCertificate)],
    ) -> Result<Batch, BatchError> {
        let heights = batch_heights(index, batch_blocks);
        let (Some((first, _)), Some((last, _))) = (blocks.first(), blocks.last()) else {
            return Err(BatchError::Empty);
        };
        for (position, (block, _)) in blocks.iter().enumerate() {
            let expected = heights.start() + position as u64;
            if block.header.height != expected || expected > *heights.end() {
                return Err(BatchError::WrongHeight {
                    index,
                    first: *heights.start(),
                    last: *heights.end(),
                    position,
                    found: block.header.height,
                });
            }
        }
        let data = encode_batch_data(blocks);
        let header = BatchHeader {
            index,
            first_height: first.header.height,
            last_height: last.header.height,
            prev_state_root,
            state_root: last.header.state_root,
            last_block_hash: last.hash(),
            data_hash: keccak256(&data),
        };
        Ok(Batch { header, data: data.into() })
    }
}

/// Checks a proposed batch against this node's own `blocks` of its heights: every certificate
/// must prove its block under `validators` (on chain `chain_id`), and the header must be
/// exactly the header of these blocks with these certificates after `prev_state_root`. Returns
/// the batch (header and data) to sign.
pub fn check_proposal(
    header: &BatchHeader,
    certificates: Vec<CommitCertificate>,
    blocks: Vec<Block>,
    prev_state_root: Hash,
    chain: (u64, &ValidatorSet),
    batch_blocks: u64,
) -> Result<Batch, ProposalRejected> {
    let (chain_id, validators) = chain;
    let heights = batch_heights(header.index, batch_blocks);
    if (header.first_height, header.last_height) != (*heights.start(), *heights.end()) {
        return Err(ProposalRejected::WrongHeights {
            index: header.index,
            first: header.first_height,
            last: header.last_height,
        });
    }
    if certificates.len() != blocks.len() || blocks.len() as u64 != batch_blocks {
        return Err(ProposalRejected::CertificateCount {
            certificates: certificates.len(),
            blocks: blocks.len(),
        });
    }
    let mut pairs = Vec::with_capacity(blocks.len());
    for (block, certificate) in blocks.into_iter().zip(certificates) {
        let height = block.header.height;
        certificate
            .verify(chain_id, height, &block.hash(), validators)
            .map_err(|error| ProposalRejected::Certificate { height, error })?;
        pairs.push((block, certificate));
    }
    let batch = Batch::build(header.index, batch_blocks, prev_state_root, &pairs)
        .map_err(ProposalRejected::Blocks)?;
    let ours = &batch.header;
    let differs = [
        ("prev_state_root", ours.prev_state_root != header.prev_state_root),
        ("state_root", ours.state_root != header.state_root),
        ("last_block_hash", ours.last_block_hash != header.last_block_hash),
        ("data_hash", ours.data_hash != header.data_hash),
    ];
    if let Some((field, _)) = differs.iter().find(|(_, differs)| *differs) {
        return Err(ProposalRejected::HeaderMismatch { index: header.index, field });
    }
    Ok(batch)
}

/// The batch data: `borsh(Vec<(Block, CommitCertificate)>)`.
pub fn encode_batch_data(blocks: &[(Block, CommitCertificate)]) -> Vec<u8> {
    encode(&blocks)
}

/// Decodes batch data strictly (anything but the canonical encoding is an error).
pub fn decode_batch_data(bytes: &[u8]) -> Result<Vec<(Block, CommitCertificate)>, DecodeError> {
    decode("batch data", bytes)
}

impl From<&BatchHeader> for crate::contract::TandemRollup::BatchHeader {
    fn from(header: &BatchHeader) -> Self {
        crate::contract::TandemRollup::BatchHeader {
            index: header.index,
            firstHeight: header.first_height,
            lastHeight: header.last_height,
            prevStateRoot: header.prev_state_root.0.into(),
            stateRoot: header.state_root.0.into(),
            lastBlockHash: header.last_block_hash.0.into(),
            dataHash: header.data_hash.into(),
        }
    }
}

impl From<&crate::contract::TandemRollup::BatchHeader> for BatchHeader {
    fn from(header: &crate::contract::TandemRollup::BatchHeader) -> Self {
        BatchHeader {
            index: header.index,
            first_height: header.firstHeight,
            last_height: header.lastHeight,
            prev_state_root: Hash(header.prevStateRoot.0),
            state_root: Hash(header.stateRoot.0),
            last_block_hash: Hash(header.lastBlockHash.0),
            data_hash: header.dataHash.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_tile_the_heights() {
        assert_eq!(batch_heights(0, 100), 1..=100);
        assert_eq!(batch_heights(3, 100), 301..=400);
        assert_eq!(batch_heights(0, 1), 1..=1);
        for height in 1..=1_000 {
            let index = batch_of_height(height, 7);
            assert!(batch_heights(index, 7).contains(&height), "height {height}");
        }
    }

    fn block(height: u64) -> (Block, CommitCertificate) {
        let header = tandem_types::BlockHeader {
            chain_id: 1,
            height,
            timestamp_ms: height,
            parent_hash: Hash([height as u8; 32]),
            proposer: tandem_types::Address([1; 32]),
            tx_root: Hash::ZERO,
            state_root: Hash([height as u8 + 100; 32]),
            tx_count: 0,
        };
        let block = Block { header, txs: Vec::new() };
        let certificate =
            CommitCertificate { height, round: 0, block_hash: block.hash(), signatures: vec![] };
        (block, certificate)
    }

    #[test]
    fn a_batch_holds_exactly_its_heights_and_commits_to_its_data() {
        let blocks: Vec<_> = (11..=15).map(block).collect();
        let batch = Batch::build(2, 5, Hash([9; 32]), &blocks).expect("heights 11..=15");
        assert_eq!((batch.header.first_height, batch.header.last_height), (11, 15));
        assert_eq!(batch.header.state_root, blocks[4].0.header.state_root);
        assert_eq!(batch.header.last_block_hash, blocks[4].0.hash());
        assert_eq!(batch.header.data_hash, keccak256(&batch.data));
        assert_eq!(decode_batch_data(&batch.data).expect("decodes"), blocks);
        let mut trailing = batch.data.to_vec();
        trailing.push(0);
        assert!(decode_batch_data(&trailing).is_err(), "strict decoding");

        let error = Batch::build(1, 5, Hash::ZERO, &blocks).expect_err("wrong batch");
        assert!(matches!(error, BatchError::WrongHeight { position: 0, found: 11, .. }));
        let gap = [block(11), block(13)];
        assert!(matches!(
            Batch::build(2, 5, Hash::ZERO, &gap),
            Err(BatchError::WrongHeight { position: 1, found: 13, .. })
        ));
        let too_many: Vec<_> = (11..=16).map(block).collect();
        assert!(Batch::build(2, 5, Hash::ZERO, &too_many).is_err());
        assert_eq!(Batch::build(2, 5, Hash::ZERO, &[]), Err(BatchError::Empty));
    }

    /// Five blocks at heights 11..=15 and four validators' keys; certificates signed by the
    /// validators in `signers`.
    fn signed_chain(signers: &[usize]) -> (Vec<Block>, Vec<CommitCertificate>, ValidatorSet) {
        use tandem_types::{CommitSignature, GenesisValidator, L1Address, SecretKey};
        let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let validators = ValidatorSet::new(
            keys.iter()
                .zip(1u8..)
                .map(|(key, i)| GenesisValidator {
                    address: key.address(),
                    l1_address: L1Address([i; 20]),
                    power: 1,
                })
                .collect(),
        )
        .expect("validators");
        let (blocks, _): (Vec<Block>, Vec<_>) = (11..=15).map(block).unzip();
        let certificates = blocks
            .iter()
            .map(|block| {
                let mut certificate = CommitCertificate {
                    height: block.header.height,
                    round: 0,
                    block_hash: block.hash(),
                    signatures: Vec::new(),
                };
                certificate.signatures = signers
                    .iter()
                    .map(|&signer| CommitSignature {
                        validator: keys[signer].address(),
                        signature: certificate
                            .precommit(1, keys[signer].address())
                            .sign(&keys[signer]),
                    })
                    .collect();
                certificate
            })
            .collect();
        (blocks, certificates, validators)
    }

    #[test]
    fn a_proposal_is_signed_only_if_it_is_this_nodes_blocks_with_valid_certificates() {
        let (blocks, theirs, validators) = signed_chain(&[0, 1, 3]);
        let (_, ours, _) = signed_chain(&[0, 1, 2]);
        let pairs: Vec<_> = blocks.iter().cloned().zip(theirs.clone()).collect();
        let proposed = Batch::build(2, 5, Hash([9; 32]), &pairs).expect("batch");
        let check = |header: &BatchHeader, certificates: Vec<CommitCertificate>| {
            check_proposal(header, certificates, blocks.clone(), Hash([9; 32]), (1, &validators), 5)
        };
        // Other certificates than this node's own, for the same blocks: valid, and signed.
        assert_eq!(check(&proposed.header, theirs.clone()), Ok(proposed.clone()));
        let own = Batch::build(
            2,
            5,
            Hash([9; 32]),
            &blocks.iter().cloned().zip(ours).collect::<Vec<_>>(),
        );
        assert_ne!(own.expect("batch").header.data_hash, proposed.header.data_hash);

        let mut wrong_root = proposed.header;
        wrong_root.state_root = Hash([0xee; 32]);
        assert_eq!(
            check(&wrong_root, theirs.clone()),
            Err(ProposalRejected::HeaderMismatch { index: 2, field: "state_root" })
        );
        let mut wrong_data = proposed.header;
        wrong_data.data_hash[0] ^= 1;
        assert_eq!(
            check(&wrong_data, theirs.clone()),
            Err(ProposalRejected::HeaderMismatch { index: 2, field: "data_hash" })
        );
        let mut wrong_heights = proposed.header;
        wrong_heights.index = 3;
        assert!(matches!(
            check(&wrong_heights, theirs.clone()),
            Err(ProposalRejected::WrongHeights { .. })
        ));
        assert!(matches!(
            check(&proposed.header, theirs[..4].to_vec()),
            Err(ProposalRejected::CertificateCount { certificates: 4, blocks: 5 })
        ));
        let (_, weak, _) = signed_chain(&[0, 1]);
        assert!(matches!(
            check(&proposed.header, weak),
            Err(ProposalRejected::Certificate { height: 11, .. })
        ));
        let mut swapped = theirs;
        swapped.swap(0, 1);
        assert!(matches!(
            check(&proposed.header, swapped),
            Err(ProposalRejected::Certificate { height: 11, .. })
        ));
    }

    #[test]
    fn known_keccak() {
        // keccak256("") as every Ethereum tool knows it.
        let empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
        assert_eq!(hex::encode(keccak256(b"")), empty);
    }
}
