// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title TandemRollup
/// @notice Records the batches of the Tandem L2 on L1. A batch is accepted when it extends the
/// last one (next index, same state root, next height) and carries EIP-712 signatures over its
/// header from sequencers holding strictly more than two thirds of the committee's weight.
/// @dev The committee is fixed at deployment. Anyone may send `submitBatch`: the authority is in
/// the signatures, not in `msg.sender`. The order of `sequencers()` is the poster rotation the
/// nodes follow off-chain; the contract does not enforce it, so a batch never waits on one poster.
contract TandemRollup {
    /// @notice The header of a batch of L2 blocks, signed by the sequencers with EIP-712.
    struct BatchHeader {
        uint64 index;
        uint64 firstHeight;
        uint64 lastHeight;
        bytes32 prevStateRoot;
        bytes32 stateRoot;
        bytes32 lastBlockHash;
        bytes32 dataHash;
    }

    /// @dev What is kept of a committed batch: two words of hashes and one of heights.
    struct Batch {
        bytes32 stateRoot;
        bytes32 dataHash;
        uint64 lastHeight;
        uint64 l1Block;
    }

    /// @notice The EIP-712 type hash of `BatchHeader`.
    bytes32 public constant BATCH_HEADER_TYPEHASH = keccak256(
        "BatchHeader(uint64 index,uint64 firstHeight,uint64 lastHeight,bytes32 prevStateRoot,"
        "bytes32 stateRoot,bytes32 lastBlockHash,bytes32 dataHash)"
    );

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("TandemRollup");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @dev Half the order of secp256k1. A signature with a higher `s` has a twin with `n - s` and
    /// the other `v`; accepting only the lower one makes each signature the only valid encoding.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private immutable genesisRoot;
    /// @notice The sum of the sequencers' weights.
    uint256 public immutable totalWeight;
    /// @notice The least signed weight a batch needs: `totalWeight * 2 / 3 + 1`, strictly more
    /// than two thirds, so that two conflicting batches need more than a third of the weight
    /// to sign both.
    uint256 public immutable quorumWeight;

    uint256 private immutable cachedChainId;
    bytes32 private immutable cachedDomainSeparator;

    /// @notice The index the next batch must have; also the number of batches committed.
    uint64 public nextBatchIndex;
    /// @notice The last L2 height committed (0 before the first batch).
    uint64 public lastHeight;
    /// @notice The state root after the last committed batch.
    bytes32 public lastStateRoot;

    address[] private sequencerList;
    uint64[] private weightList;
    mapping(address => uint64) private weightOfSequencer;
    mapping(uint64 => Batch) private batches;

    /// @notice A batch was committed.
    /// @param index The batch's index.
    /// @param firstHeight The first L2 height it holds.
    /// @param lastHeight The last L2 height it holds.
    /// @param stateRoot The state root after its last block.
    /// @param dataHash The keccak-256 of its data.
    /// @param poster The account that sent it.
    event BatchCommitted(
        uint64 indexed index,
        uint64 firstHeight,
        uint64 lastHeight,
        bytes32 stateRoot,
        bytes32 dataHash,
        address indexed poster
    );

    /// @notice The constructor was given no sequencer.
    error NoSequencers();
    /// @notice The constructor's lists of sequencers and weights differ in length.
    error LengthMismatch(uint256 sequencers, uint256 weights);
    /// @notice The sequencer at `position` is the zero address, which `ecrecover` returns for
    /// an invalid signature, so it could never be told apart from one.
    error ZeroAddress(uint256 position);
    /// @notice A sequencer appears twice in the constructor's list.
    error DuplicateSequencer(address sequencer);
    /// @notice A sequencer was given weight 0; a weightless member is not a member.
    error ZeroWeight(address sequencer);

    /// @notice The batch's index is not `nextBatchIndex`: batches are committed one after
    /// another, without gaps.
    error WrongBatchIndex(uint64 expected, uint64 got);
    /// @notice The batch does not start from the last committed state root.
    error WrongPrevStateRoot(bytes32 expected, bytes32 got);
    /// @notice The batch does not start at the height after the last committed one.
    error WrongFirstHeight(uint64 expected, uint64 got);
    /// @notice The batch's last height is below its first: it holds no block.
    error EmptyBatch();
    /// @notice The keccak-256 of the data sent (`got`) is not the header's `dataHash`
    /// (`expected`).
    error BadDataHash(bytes32 expected, bytes32 got);
    /// @notice The signature at `position` is not 65 bytes `r || s || v`, has a `v` other than 27
    /// or 28 or an `s` in the upper half of the curve order, or recovers no address.
    error BadSignature(uint256 position);
    /// @notice Two signatures recover the same signer.
    error DuplicateSigner(address signer);
    /// @notice The signers are not in strictly ascending address order. The order is required so
    /// that a duplicate is always next to its twin and one pass finds it, in O(n) with no storage.
    error SignersNotSorted(address signer);
    /// @notice A signature recovers an address that is not a sequencer.
    error NotASequencer(address signer);
    /// @notice The signers hold `signed` weight, less than the `required` quorum weight.
    error InsufficientWeight(uint256 signed, uint256 required);
    /// @notice No batch with this index has been committed.
    error UnknownBatch(uint64 index);

    /// @param sequencers The committee, in poster-rotation order.
    /// @param weights The weight of each sequencer, in the same order; each above 0.
    /// @param genesisStateRoot The state root before the first batch.
    constructor(address[] memory sequencers, uint64[] memory weights, bytes32 genesisStateRoot) {
        uint256 n = sequencers.length;
        if (n == 0) revert NoSequencers();
        if (weights.length != n) revert LengthMismatch(n, weights.length);
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            address sequencer = sequencers[i];
            uint64 weight = weights[i];
            if (sequencer == address(0)) revert ZeroAddress(i);
            if (weight == 0) revert ZeroWeight(sequencer);
            if (weightOfSequencer[sequencer] != 0) revert DuplicateSequencer(sequencer);
            weightOfSequencer[sequencer] = weight;
            total += weight;
        }
        sequencerList = sequencers;
        weightList = weights;
        totalWeight = total;
        quorumWeight = total * 2 / 3 + 1;
        genesisRoot = genesisStateRoot;
        lastStateRoot = genesisStateRoot;
        cachedChainId = block.chainid;
        cachedDomainSeparator = buildDomainSeparator();
    }

    /// @notice Commits a batch: checks that it extends the last one, that `data` is what the
    /// header commits to and that sequencers holding a quorum of the weight signed the header.
    /// @param header The batch's header; `header.index` must be `nextBatchIndex`.
    /// @param data The batch's data, whose keccak-256 must be `header.dataHash`.
    /// @param signatures EIP-712 signatures over `batchDigest(header)`, each 65 bytes `r || s || v`,
    /// ordered by strictly ascending signer address.
    function submitBatch(BatchHeader calldata header, bytes calldata data, bytes[] calldata signatures)
        external
    {
        uint64 expectedIndex = nextBatchIndex;
        if (header.index != expectedIndex) revert WrongBatchIndex(expectedIndex, header.index);
        if (header.prevStateRoot != lastStateRoot) {
            revert WrongPrevStateRoot(lastStateRoot, header.prevStateRoot);
        }
        uint64 expectedFirst = lastHeight + 1;
        if (header.firstHeight != expectedFirst) revert WrongFirstHeight(expectedFirst, header.firstHeight);
        if (header.lastHeight < header.firstHeight) revert EmptyBatch();
        bytes32 computed = keccak256(data);
        if (computed != header.dataHash) revert BadDataHash(header.dataHash, computed);

        uint256 signed = signedWeight(digest(header), signatures);
        if (signed < quorumWeight) revert InsufficientWeight(signed, quorumWeight);

        batches[expectedIndex] = Batch({
            stateRoot: header.stateRoot,
            dataHash: header.dataHash,
            lastHeight: header.lastHeight,
            l1Block: uint64(block.number)
        });
        lastStateRoot = header.stateRoot;
        lastHeight = header.lastHeight;
        nextBatchIndex = expectedIndex + 1;
        emit BatchCommitted(
            expectedIndex, header.firstHeight, header.lastHeight, header.stateRoot, header.dataHash, msg.sender
        );
    }

    /// @notice The state root before the first batch.
    function genesisStateRoot() external view returns (bytes32) {
        return genesisRoot;
    }

    /// @notice The committee in poster-rotation order and the weight of each member.
    function sequencers() external view returns (address[] memory, uint64[] memory) {
        return (sequencerList, weightList);
    }

    /// @notice The weight of `account`: 0 when it is not a sequencer.
    function weightOf(address account) external view returns (uint64) {
        return weightOfSequencer[account];
    }

    /// @notice A committed batch and the L1 block that committed it.
    /// @dev Reverts with `UnknownBatch` for an index not committed yet.
    function batchAt(uint64 index)
        external
        view
        returns (bytes32 stateRoot, bytes32 dataHash, uint64 lastHeight, uint64 l1Block)
    {
        if (index >= nextBatchIndex) revert UnknownBatch(index);
        Batch storage batch = batches[index];
        return (batch.stateRoot, batch.dataHash, batch.lastHeight, batch.l1Block);
    }

    /// @notice The EIP-712 domain separator: name "TandemRollup", version "1", this chain and
    /// this contract. Recomputed if the chain id changed since deployment (after a fork).
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == cachedChainId ? cachedDomainSeparator : buildDomainSeparator();
    }

    /// @notice The EIP-712 digest of `header`, the message each sequencer signs.
    function batchDigest(BatchHeader calldata header) external view returns (bytes32) {
        return digest(header);
    }

    function buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function digest(BatchHeader calldata header) private view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                BATCH_HEADER_TYPEHASH,
                header.index,
                header.firstHeight,
                header.lastHeight,
                header.prevStateRoot,
                header.stateRoot,
                header.lastBlockHash,
                header.dataHash
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @dev The total weight of the signers of `digest_`, after checking every signature and the
    /// ascending order of the signers.
    function signedWeight(bytes32 digest_, bytes[] calldata signatures) private view returns (uint256 signed) {
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            bytes calldata signature = signatures[i];
            if (signature.length != 65) revert BadSignature(i);
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                r := calldataload(signature.offset)
                s := calldataload(add(signature.offset, 32))
                v := byte(0, calldataload(add(signature.offset, 64)))
            }
            if ((v != 27 && v != 28) || uint256(s) > HALF_ORDER) revert BadSignature(i);
            address signer = ecrecover(digest_, v, r, s);
            if (signer == address(0)) revert BadSignature(i);
            if (signer == previous) revert DuplicateSigner(signer);
            if (signer < previous) revert SignersNotSorted(signer);
            uint64 weight = weightOfSequencer[signer];
            if (weight == 0) revert NotASequencer(signer);
            signed += weight;
            previous = signer;
        }
    }
}
