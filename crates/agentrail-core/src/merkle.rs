//! RFC 6962 / RFC 9162 Merkle trees: hashing, root computation, inclusion and consistency proofs.
//!
//! This module owns the tree algebra every agentrail log shares with the world: the leaf and node
//! hash domain separation (`0x00` / `0x01` prefixes), MTH over any prefix of the log, proof
//! generation (RFC 6962 §2.1.1 PATH and §2.1.2 PROOF order) and proof verification (RFC 9162
//! §2.1.3.2 and §2.1.4.2), plus the right edge of a growing tree ([`CompactRange`]).
//!
//! Trees are read through [`NodeReader`], which only ever returns hashes of *complete* subtrees
//! (the ones a store can persist once and never rewrite). Everything here is a pure function of
//! those hashes: this module must never do I/O, read a clock, or decide what a leaf means. What a
//! leaf hash commits to belongs to the event model; where node hashes live belongs to the store.

use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// The RFC 6962 leaf hash: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The RFC 6962 interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    hash_children(&left.0, &right.0)
}

/// SHA-256(0x01 || left || right) over arbitrary byte strings: RFC 6962's `HashChildren`, kept
/// separate so the published vectors (which hash 4-byte strings) can test it.
fn hash_children(left: &[u8], right: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    Hash(h.finalize().into())
}

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
///
/// Deliberately different from `leaf_hash(b"")`, the root of a tree holding one empty leaf.
pub fn empty_root() -> Hash {
    Hash::sha256(b"")
}

/// Reads the hash of a *complete* subtree: level `level`, index `index` covers leaves
/// `[index << level, (index + 1) << level)`.
///
/// Implemented by the store (from tiles) and by [`MemoryTree`]. Callers in this module only ask
/// for nodes that are complete in the tree they were given the size of; an implementation may
/// treat any other request as an error.
pub trait NodeReader {
    /// Why a node could not be read.
    type Error;

    /// Returns the hash of the complete subtree at (`level`, `index`); level 0 is the leaf hashes.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof (or a compact range) was rejected, or why proof arguments were invalid.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error(
        "old tree size {size1} is larger than new tree size {size2}; consistency only goes forward"
    )]
    SizeDecreased {
        /// The old (first) tree size.
        size1: u64,
        /// The new (second) tree size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes for the index and sizes it claims to prove.
    #[error("proof has {got} hashes but {want} are needed for these sizes; the proof or the sizes are wrong")]
    WrongProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes an RFC 6962 proof for these arguments has.
        want: usize,
    },
    /// The root the proof leads to is not the trusted (new) root.
    #[error("computed root {computed} does not match expected {expected}")]
    RootMismatch {
        /// The root recomputed from the proof.
        computed: Hash,
        /// The root the caller trusts.
        expected: Hash,
    },
    /// A consistency proof does not lead back to the trusted old root.
    #[error("computed old root {computed} does not match expected {expected}")]
    OldRootMismatch {
        /// The old root recomputed from the proof.
        computed: Hash,
        /// The old root the caller trusts.
        expected: Hash,
    },
    /// A compact range was given a hash count that does not fit its size.
    #[error("a compact range of size {size} has {want} hashes, got {got}")]
    WrongRangeLength {
        /// The tree size.
        size: u64,
        /// Hashes given.
        got: usize,
        /// `size.count_ones()`.
        want: usize,
    },
}

/// Why a proof could not be generated: the reader failed, or the arguments were invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProveError<E> {
    /// The node reader failed.
    #[error("could not read a tree node to build the proof")]
    Read(#[source] E),
    /// The arguments do not describe a proof that exists (index or sizes out of range).
    #[error(transparent)]
    Invalid(#[from] ProofError),
}

/// The largest power of two strictly less than `n`. Requires `n >= 2`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D\[start:end\]) (RFC 6962 §2.1) of the leaves `start..end`, read through complete subtrees.
///
/// For a range that is a subtree or a right edge of an RFC 6962 tree (an aligned power of two,
/// or a range starting at a multiple of the next power of two of its length) this reads exactly
/// one node per set bit of `end - start`. Any other range still gets its correct MTH, at the cost
/// of more (smaller) reads. An empty range is [`empty_root`].
///
/// # Panics
///
/// If `start > end`.
pub fn subtree_hash<R: NodeReader>(r: &mut R, start: u64, end: u64) -> Result<Hash, R::Error> {
    assert!(start <= end, "subtree_hash: start {start} > end {end}");
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        // level <= 63, so it fits a u8.
        return r.node(level as u8, start >> level);
    }
    let mid = start + split_point(n);
    let left = subtree_hash(r, start, mid)?;
    let right = subtree_hash(r, mid, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves; [`empty_root`] for size 0.
pub fn root<R: NodeReader>(r: &mut R, size: u64) -> Result<Hash, R::Error> {
    subtree_hash(r, 0, size)
}

/// The RFC 6962 §2.1.1 audit path for leaf `index` in the tree of `size` leaves, from the leaf's
/// sibling up to the root's child.
pub fn inclusion_proof<R: NodeReader>(
    r: &mut R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    // Walk down from the root, recording the sibling of the side that holds `index`; the path is
    // that list bottom-up.
    let (mut start, mut end) = (0, size);
    let mut path = Vec::new();
    while end - start > 1 {
        let mid = start + split_point(end - start);
        if index < mid {
            path.push(subtree_hash(r, mid, end).map_err(ProveError::Read)?);
            end = mid;
        } else {
            path.push(subtree_hash(r, start, mid).map_err(ProveError::Read)?);
            start = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// The RFC 6962 §2.1.2 consistency proof PROOF(size1, D\[size2\]); empty when `size1 == size2`
/// or `size1 == 0`.
pub fn consistency_proof<R: NodeReader>(
    r: &mut R,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if size1 > size2 {
        return Err(ProofError::SizeDecreased { size1, size2 }.into());
    }
    if size1 == 0 || size1 == size2 {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], b), unrolled: `whole_old_tree` is RFC 6962's `b`, true while the
    // old tree is still the left edge of the current range (its root is then known to the
    // verifier and is not sent).
    let (mut start, mut end) = (0, size2);
    let mut whole_old_tree = true;
    let mut proof = Vec::new();
    loop {
        if size1 == end {
            if !whole_old_tree {
                proof.push(subtree_hash(r, start, end).map_err(ProveError::Read)?);
            }
            break;
        }
        let mid = start + split_point(end - start);
        if size1 <= mid {
            proof.push(subtree_hash(r, mid, end).map_err(ProveError::Read)?);
            end = mid;
        } else {
            proof.push(subtree_hash(r, start, mid).map_err(ProveError::Read)?);
            start = mid;
            whole_old_tree = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// How many hashes the inclusion proof for `index` in a tree of `size` has (`index < size`).
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    debug_assert!(index < size);
    // Levels where the paths to `index` and to the last leaf diverge contribute one sibling each;
    // above them, the path follows the right edge and gets a left sibling per set bit.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Recomputes the root from a leaf hash and its audit path (RFC 9162 §2.1.3.2 steps 1-4).
///
/// Fails if `index >= size` or if the proof does not have exactly the RFC 6962 length for this
/// index and size; does not compare against any root (see [`verify_inclusion`]).
pub fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_proof_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // Cannot happen once the length matches; kept because it is the RFC's own guard.
        if s == 0 {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want,
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    debug_assert_eq!(s, 0, "a proof of the right length consumes the whole tree");
    Ok(r)
}

/// Verifies that `leaf` is the leaf hash at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Verifies that the tree of `size2` leaves with `root2` extends the tree of `size1` leaves with
/// `root1` (RFC 9162 §2.1.4.2).
///
/// Edge cases (which RFC 9162 leaves to the caller): `size1 == size2` needs an empty proof and
/// equal roots; `size1 == 0` needs an empty proof and `root1 == empty_root()` (every tree extends
/// the empty tree, but a wrong "empty" root is a caller bug worth reporting).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizeDecreased { size1, size2 });
    }
    let empty = |got: usize| ProofError::WrongProofLength { got, want: 0 };
    if size1 == 0 {
        if !proof.is_empty() {
            return Err(empty(proof.len()));
        }
        let e = empty_root();
        if *root1 != e {
            return Err(ProofError::OldRootMismatch {
                computed: e,
                expected: *root1,
            });
        }
        if size2 == 0 && *root2 != e {
            return Err(ProofError::RootMismatch {
                computed: e,
                expected: *root2,
            });
        }
        return Ok(());
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(empty(proof.len()));
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch {
                computed: *root1,
                expected: *root2,
            });
        }
        return Ok(());
    }

    // The proof is the inclusion proof of the largest complete subtree ending at size1, preceded
    // by that subtree's hash unless it is the whole old tree (size1 a power of two).
    let level = size1.trailing_zeros();
    let node_index = (size1 - 1) >> level;
    let node_count = ((size2 - 1) >> level) + 1;
    let want = inclusion_proof_len(node_index, node_count) + usize::from(node_index != 0);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }

    let (seed, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want,
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    debug_assert_eq!(s, 0, "a proof of the right length consumes the whole tree");
    if fr != *root1 {
        return Err(ProofError::OldRootMismatch {
            computed: fr,
            expected: *root1,
        });
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch {
            computed: sr,
            expected: *root2,
        });
    }
    Ok(())
}

/// The right edge ("compact range" / frontier) of a tree: the hashes of the maximal complete
/// subtrees of `[0, size)`, left to right (largest first).
///
/// Appending a leaf reports every complete subtree node it completes, so the caller can store
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    // INVARIANT: hashes.len() == size.count_ones(), and hashes[i] is the root of the subtree of
    // the i-th highest set bit of `size`, covering the leaves after those of hashes[..i].
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds from a size and the frontier hashes (as returned by [`CompactRange::hashes`]).
    ///
    /// Fails if the number of hashes is not `size.count_ones()`; the hashes themselves cannot be
    /// checked here.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(ProofError::WrongRangeLength {
                size,
                got: hashes.len(),
                want,
            });
        }
        Ok(Self { size, hashes })
    }

    /// Rebuilds the frontier of the tree of `size` leaves from a reader (one read per set bit).
    pub fn from_reader<R: NodeReader>(r: &mut R, size: u64) -> Result<Self, R::Error> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                hashes.push(r.node(level, start >> level)?);
                start += width;
            }
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier hashes, left to right.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash; calls `on_node(level, index, hash)` for the leaf itself (level 0) and
    /// then for every internal node that becomes complete, bottom-up.
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash, mut on_node: impl FnMut(u8, u64, &Hash)) {
        assert!(self.size < u64::MAX, "compact range is full");
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        on_node(level, index, &hash);
        // Each trailing one bit of the old size is a complete left sibling on the frontier.
        while index & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("INVARIANT: one frontier hash per set bit of size");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            on_node(level, index, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The tree root: the frontier folded right to left; [`empty_root`] when empty.
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// An in-memory tree over leaf hashes, keeping every complete subtree node (for tests and small
/// verifiers).
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    // INVARIANT: levels[l] holds exactly the complete level-l nodes, size >> l of them.
    levels: Vec<Vec<Hash>>,
    frontier: CompactRange,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (already [`leaf_hash`]ed).
    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.push(leaf, |level, index, hash| {
            let level = usize::from(level);
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            debug_assert_eq!(levels[level].len() as u64, index);
            levels[level].push(*hash);
        });
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl NodeReader for MemoryTree {
    type Error = std::convert::Infallible;

    /// # Panics
    ///
    /// If (`level`, `index`) is not a complete subtree of this tree: the caller asked about
    /// leaves the tree does not have.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let found = self
            .levels
            .get(usize::from(level))
            .and_then(|l| l.get(usize::try_from(index).ok()?));
        match found {
            Some(h) => Ok(*h),
            None => panic!(
                "node ({level}, {index}) is not a complete subtree of a tree of size {}",
                self.size()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(hex: &str) -> Hash {
        Hash::from_hex(hex).expect("test vector is 64 hex digits")
    }

    fn hs(hexes: &[&str]) -> Vec<Hash> {
        hexes.iter().map(|x| h(x)).collect()
    }

    // Vectors re-typed from transparency-dev/merkle (`rfc6962_test.go`, `testonly/constants.go`,
    // `testonly/reference_test.go`), the pre-bcba819 `proof/verify_test.go` (consistency 6 -> 7)
    // and the Haskell `hash-tree` docs.

    /// The classic 8-leaf RFC 6962 test tree: leaf inputs d(0)..d(7), as hex.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Every complete subtree of the 8-leaf tree: (level, index, hash).
    const NODES: [(u8, u64, &str); 15] = [
        (
            0,
            0,
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        ),
        (
            0,
            1,
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        ),
        (
            0,
            2,
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        ),
        (
            0,
            3,
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        ),
        (
            0,
            4,
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
        (
            0,
            5,
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        ),
        (
            0,
            6,
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        ),
        (
            0,
            7,
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ),
        (
            1,
            0,
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ),
        (
            1,
            1,
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        ),
        (
            1,
            2,
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ),
        (
            1,
            3,
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ),
        (
            2,
            0,
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
        (
            2,
            1,
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
        (
            3,
            0,
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ),
    ];

    /// MTH(D[0:n]) for n = 0..=8, as hex and as base64.
    const ROOTS: [(&str, &str); 9] = [
        (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ),
        (
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
        ),
        (
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=",
        ),
        (
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=",
        ),
        (
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ),
        (
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
        ),
        (
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
        ),
        (
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
        ),
        (
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        ),
    ];

    /// Inclusion proofs in the 8-leaf tree: (0-based leaf index, tree size, path).
    const INCLUSION: [(u64, u64, &[&str]); 7] = [
        (0, 1, &[]),
        (
            0,
            2,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            1,
            2,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// Consistency proofs in the 8-leaf tree: (size1, size2, proof).
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn leaf_data(i: usize) -> Vec<u8> {
        crate::hash::from_hex(LEAVES[i]).expect("test vector is hex")
    }

    fn tree8() -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..LEAVES.len() {
            t.push(leaf_hash(&leaf_data(i)));
        }
        t
    }

    fn root8(size: u64) -> Hash {
        h(ROOTS[size as usize].0)
    }

    /// The root for `size` in the 8-leaf tree, or an unrelated hash past its end.
    fn root_or_any(size: u64) -> Hash {
        ROOTS
            .get(size as usize)
            .map_or_else(|| Hash::sha256(b"no such tree"), |(hex, _)| h(hex))
    }

    fn ok<T>(r: Result<T, std::convert::Infallible>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => match e {},
        }
    }

    fn prove_incl(t: &mut MemoryTree, index: u64, size: u64) -> Vec<Hash> {
        inclusion_proof(t, index, size).expect("valid arguments")
    }

    fn prove_cons(t: &mut MemoryTree, size1: u64, size2: u64) -> Vec<Hash> {
        consistency_proof(t, size1, size2).expect("valid arguments")
    }

    // ---- RFC 6962 §2.1, transcribed literally over slices: the oracle for the fast code. ----

    fn ref_k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn ref_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = ref_k(n);
                node_hash(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
            }
        }
    }

    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return Vec::new();
        }
        let k = ref_k(n);
        let (mut p, sibling) = if m < k {
            (ref_path(m, &d[..k]), ref_mth(&d[k..]))
        } else {
            (ref_path(m - k, &d[k..]), ref_mth(&d[..k]))
        };
        p.push(sibling);
        p
    }

    fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![ref_mth(d)] };
        }
        let k = ref_k(n);
        let (mut p, sibling) = if m <= k {
            (ref_subproof(m, &d[..k], b), ref_mth(&d[k..]))
        } else {
            (ref_subproof(m - k, &d[k..], false), ref_mth(&d[..k]))
        };
        p.push(sibling);
        p
    }

    fn ref_proof(m: usize, d: &[Hash]) -> Vec<Hash> {
        if m == 0 {
            return Vec::new();
        }
        ref_subproof(m, d, true)
    }

    /// Every single-hash alteration of a proof: one bit flipped in each hash (first and last
    /// byte), each hash dropped, a hash appended and prepended.
    fn altered(proof: &[Hash]) -> Vec<Vec<Hash>> {
        let mut out = Vec::new();
        for i in 0..proof.len() {
            for (byte, bit) in [(0, 0x01), (31, 0x80), (17, 0x10)] {
                let mut p = proof.to_vec();
                p[i].0[byte] ^= bit;
                out.push(p);
            }
            let mut p = proof.to_vec();
            p.remove(i);
            out.push(p);
        }
        let extra = Hash::sha256(b"extra");
        let mut p = proof.to_vec();
        p.push(extra);
        out.push(p);
        let mut p = proof.to_vec();
        p.insert(0, extra);
        out.push(p);
        out
    }

    /// Records every node read, to check read counts.
    struct Counting<'a> {
        tree: &'a mut MemoryTree,
        reads: Vec<(u8, u64)>,
    }

    impl NodeReader for Counting<'_> {
        type Error = std::convert::Infallible;
        fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
            self.reads.push((level, index));
            self.tree.node(level, index)
        }
    }

    #[test]
    fn hasher_known_answers() {
        let cases = [
            (
                empty_root(),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                leaf_hash(b""),
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            ),
            (
                leaf_hash(b"L123456"),
                "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
            ),
            (
                hash_children(b"N123", b"N456"),
                "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
            ),
            // Haskell hash-tree: a one-leaf tree over "1" (prefix published, rest derived).
            (
                leaf_hash(b"1"),
                "2215e8ac4e2b871c2a48189e79738c956c081e23ac2f2415bf77da199dfd920c",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.to_hex(), want);
        }
        assert_ne!(empty_root(), leaf_hash(b""));
        let (l, r) = (h(NODES[0].2), h(NODES[1].2));
        assert_eq!(node_hash(&l, &r), hash_children(&l.0, &r.0));
    }

    #[test]
    fn hash_tree_three_ascii_leaves() {
        let mut t = MemoryTree::new();
        for d in [b"0", b"1", b"2"] {
            t.push(leaf_hash(d));
        }
        let want = "725d5230db68f557470dc35f1d8865813acd7ebb07ad152774141decbae71327";
        assert_eq!(t.root().to_hex(), want);
        assert_eq!(ok(root(&mut t, 3)).to_hex(), want);
        assert_eq!(MemoryTree::new().root(), empty_root());
    }

    #[test]
    fn eight_leaf_node_hashes() {
        let mut t = tree8();
        for (level, index, want) in NODES {
            assert_eq!(ok(t.node(level, index)), h(want), "node ({level}, {index})");
            let (start, end) = (index << level, (index + 1) << level);
            assert_eq!(ok(subtree_hash(&mut t, start, end)), h(want));
        }
    }

    #[test]
    fn eight_leaf_roots_for_every_size() {
        let mut full = tree8();
        let mut growing = MemoryTree::new();
        let mut cr = CompactRange::new();
        for (size, (hex, b64)) in ROOTS.iter().enumerate() {
            let size = size as u64;
            let want = h(hex);
            assert_eq!(want.to_base64(), *b64);
            assert_eq!(ok(root(&mut full, size)), want, "root({size})");
            assert_eq!(growing.root(), want, "MemoryTree of size {size}");
            assert_eq!(cr.root(), want, "CompactRange of size {size}");
            assert_eq!(ok(CompactRange::from_reader(&mut full, size)), cr);
            if size < 8 {
                let leaf = leaf_hash(&leaf_data(size as usize));
                growing.push(leaf);
                cr.push(leaf, |_, _, _| {});
            }
        }
    }

    #[test]
    fn eight_leaf_compact_ranges() {
        let node = |level: u8, index: u64| {
            let (_, _, hex) = NODES
                .iter()
                .find(|(l, i, _)| (*l, *i) == (level, index))
                .expect("node is in the table");
            h(hex)
        };
        let cases: [(u64, &[(u8, u64)]); 4] = [
            (3, &[(1, 0), (0, 2)]),
            (5, &[(2, 0), (0, 4)]),
            (6, &[(2, 0), (1, 2)]),
            (7, &[(2, 0), (1, 2), (0, 6)]),
        ];
        let mut t = tree8();
        for (size, parts) in cases {
            let want: Vec<Hash> = parts.iter().map(|&(l, i)| node(l, i)).collect();
            let cr = ok(CompactRange::from_reader(&mut t, size));
            assert_eq!(cr.hashes(), &want[..], "size {size}");
            assert_eq!(cr.size(), size);
            assert_eq!(CompactRange::from_parts(size, want), Ok(cr));
        }
    }

    #[test]
    fn compact_range_from_parts_checks_count() {
        let x = Hash::sha256(b"x");
        assert_eq!(
            CompactRange::from_parts(3, vec![x]),
            Err(ProofError::WrongRangeLength {
                size: 3,
                got: 1,
                want: 2
            })
        );
        assert!(CompactRange::from_parts(0, vec![x]).is_err());
        assert_eq!(CompactRange::from_parts(0, vec![]), Ok(CompactRange::new()));
    }

    #[test]
    fn compact_range_push_reports_completed_nodes() {
        let mut cr = CompactRange::new();
        let mut seen = Vec::new();
        for i in 0..8 {
            cr.push(leaf_hash(&leaf_data(i)), |l, i, h| seen.push((l, i, *h)));
        }
        // Bottom-up within each push; pushes in leaf order.
        let order: [(u8, u64); 15] = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
            (0, 5),
            (1, 2),
            (0, 6),
            (0, 7),
            (1, 3),
            (2, 1),
            (3, 0),
        ];
        let want: Vec<(u8, u64, Hash)> = order
            .iter()
            .map(|&(l, i)| {
                let (_, _, hex) = NODES.iter().find(|n| (n.0, n.1) == (l, i)).unwrap();
                (l, i, h(hex))
            })
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn eight_leaf_inclusion_proofs() {
        let mut t = tree8();
        for (index, size, hexes) in INCLUSION {
            let want = hs(hexes);
            let leaf = leaf_hash(&leaf_data(index as usize));
            let root = root8(size);
            assert_eq!(prove_incl(&mut t, index, size), want, "({index}, {size})");
            assert_eq!(verify_inclusion(&leaf, index, size, &want, &root), Ok(()));

            for bad in altered(&want) {
                assert!(
                    verify_inclusion(&leaf, index, size, &bad, &root).is_err(),
                    "altered proof {bad:?} for ({index}, {size}) verified"
                );
            }
            let mut other = leaf;
            other.0[5] ^= 0x04;
            assert!(verify_inclusion(&other, index, size, &want, &root).is_err());
            let mut other_root = root;
            other_root.0[0] ^= 0x01;
            assert!(verify_inclusion(&leaf, index, size, &want, &other_root).is_err());
            // A wrong index against the same root; a wrong size against that size's root. (The
            // same root with another size can verify: the root, not the size, is what a proof
            // binds, which is why checkpoints sign both.)
            for (i, s) in [
                (index + 1, size),
                (index.wrapping_sub(1), size),
                (index, size + 1),
                (index, size - 1),
            ] {
                let r = if s == size { root } else { root_or_any(s) };
                assert!(
                    verify_inclusion(&leaf, i, s, &want, &r).is_err(),
                    "({index}, {size}) proof verified as ({i}, {s})"
                );
            }
        }
    }

    #[test]
    fn eight_leaf_consistency_proofs() {
        let mut t = tree8();
        for (size1, size2, hexes) in CONSISTENCY {
            let want = hs(hexes);
            let (root1, root2) = (root8(size1), root8(size2));
            assert_eq!(prove_cons(&mut t, size1, size2), want, "({size1}, {size2})");
            assert_eq!(
                verify_consistency(size1, size2, &want, &root1, &root2),
                Ok(())
            );

            for bad in altered(&want) {
                assert!(
                    verify_consistency(size1, size2, &bad, &root1, &root2).is_err(),
                    "altered proof {bad:?} for ({size1}, {size2}) verified"
                );
            }
            for flip in [0usize, 1] {
                let mut roots = [root1, root2];
                roots[flip].0[9] ^= 0x20;
                assert!(verify_consistency(size1, size2, &want, &roots[0], &roots[1]).is_err());
            }
            for (s1, s2) in [
                (size1 + 1, size2),
                (size1 - 1, size2),
                (size1, size2 + 1),
                (size1, size2 - 1),
            ] {
                if s1 == 0 {
                    continue; // (0, n) with an empty proof is always consistent
                }
                let (r1, r2) = (root_or_any(s1), root_or_any(s2));
                assert!(
                    verify_consistency(s1, s2, &want, &r1, &r2).is_err(),
                    "({size1}, {size2}) proof verified as ({s1}, {s2})"
                );
            }
        }
        // The 1 -> 8 proof is the index-0 inclusion proof: size1 is a power of two.
        assert_eq!(prove_cons(&mut t, 1, 8), prove_incl(&mut t, 0, 8));
    }

    #[test]
    fn invalid_arguments_are_reported() {
        let mut t = tree8();
        assert_eq!(
            inclusion_proof(&mut t, 8, 8),
            Err(ProveError::Invalid(ProofError::IndexOutOfRange {
                index: 8,
                size: 8
            }))
        );
        assert_eq!(
            consistency_proof(&mut t, 5, 4),
            Err(ProveError::Invalid(ProofError::SizeDecreased {
                size1: 5,
                size2: 4
            }))
        );
        assert_eq!(prove_cons(&mut t, 0, 8), Vec::<Hash>::new());
        assert_eq!(prove_cons(&mut t, 0, 0), Vec::<Hash>::new());
        assert_eq!(prove_cons(&mut t, 5, 5), Vec::<Hash>::new());

        let leaf = h(NODES[0].2);
        assert_eq!(
            verify_inclusion(&leaf, 0, 0, &[], &empty_root()),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 8, &[], &root8(8)),
            Err(ProofError::WrongProofLength { got: 0, want: 3 })
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 2, &[leaf], &root8(2)),
            Err(ProofError::RootMismatch {
                computed: node_hash(&leaf, &leaf),
                expected: root8(2)
            })
        );
        assert_eq!(
            verify_consistency(5, 4, &[], &root8(5), &root8(4)),
            Err(ProofError::SizeDecreased { size1: 5, size2: 4 })
        );
        // Every tree extends the empty tree, but only with an empty proof and the empty root.
        assert_eq!(
            verify_consistency(0, 8, &[], &empty_root(), &root8(8)),
            Ok(())
        );
        assert_eq!(
            verify_consistency(0, 0, &[], &empty_root(), &empty_root()),
            Ok(())
        );
        assert!(verify_consistency(0, 8, &[leaf], &empty_root(), &root8(8)).is_err());
        assert!(verify_consistency(0, 8, &[], &root8(1), &root8(8)).is_err());
        assert!(verify_consistency(0, 0, &[], &empty_root(), &root8(1)).is_err());
        // Equal sizes: empty proof, equal roots.
        assert_eq!(verify_consistency(8, 8, &[], &root8(8), &root8(8)), Ok(()));
        assert!(verify_consistency(8, 8, &[leaf], &root8(8), &root8(8)).is_err());
        assert!(verify_consistency(8, 8, &[], &root8(7), &root8(8)).is_err());
        // A non-trivial consistency proof is never empty.
        assert_eq!(
            verify_consistency(2, 5, &[], &root8(2), &root8(5)),
            Err(ProofError::WrongProofLength { got: 0, want: 2 })
        );
    }

    #[test]
    fn error_messages() {
        let e = ProofError::RootMismatch {
            computed: root8(1),
            expected: root8(2),
        };
        assert_eq!(
            e.to_string(),
            format!(
                "computed root {} does not match expected {}",
                ROOTS[1].0, ROOTS[2].0
            )
        );
        let e: ProveError<std::convert::Infallible> =
            ProofError::IndexOutOfRange { index: 3, size: 2 }.into();
        assert_eq!(
            e.to_string(),
            "leaf index 3 is out of range for tree size 2"
        );
    }

    #[test]
    fn right_edge_ranges_read_one_node_per_set_bit() {
        let mut t = MemoryTree::new();
        for i in 0u64..100 {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        for size in 0..=100u64 {
            let mut c = Counting {
                tree: &mut t,
                reads: Vec::new(),
            };
            let got = ok(root(&mut c, size));
            assert_eq!(c.reads.len(), size.count_ones() as usize, "size {size}");
            assert_eq!(got, ok(CompactRange::from_reader(&mut t, size)).root());
        }
    }

    #[test]
    fn roots_match_the_rfc_definition() {
        let leaves: Vec<Hash> = (0u64..130).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut t = MemoryTree::new();
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(t.root(), ref_mth(&leaves[..i]));
            t.push(*leaf);
        }
        for size in 0..=leaves.len() {
            assert_eq!(ok(root(&mut t, size as u64)), ref_mth(&leaves[..size]));
        }
    }

    /// A tree over `n` distinct leaves, with the leaf hashes.
    fn tree_of(n: u64) -> (MemoryTree, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut t = MemoryTree::new();
        for leaf in &leaves {
            t.push(*leaf);
        }
        (t, leaves)
    }

    /// One random alteration of a proof: flip one bit, truncate, or extend.
    #[derive(Debug, Clone)]
    enum Alteration {
        Flip { which: usize, bit: usize },
        Truncate { keep: usize },
        Extend { extra: [u8; 32], at: usize },
    }

    fn alteration() -> impl Strategy<Value = Alteration> {
        prop_oneof![
            (any::<usize>(), 0..256usize).prop_map(|(which, bit)| Alteration::Flip { which, bit }),
            any::<usize>().prop_map(|keep| Alteration::Truncate { keep }),
            (any::<[u8; 32]>(), any::<usize>())
                .prop_map(|(extra, at)| Alteration::Extend { extra, at }),
        ]
    }

    /// Applies `a`; `None` if it cannot change this proof (a flip or truncation of an empty one).
    fn apply(a: &Alteration, proof: &[Hash]) -> Option<Vec<Hash>> {
        let mut p = proof.to_vec();
        match *a {
            Alteration::Flip { which, bit } => {
                if p.is_empty() {
                    return None;
                }
                let i = which % p.len();
                p[i].0[bit / 8] ^= 1 << (bit % 8);
            }
            Alteration::Truncate { keep } => {
                if p.is_empty() {
                    return None;
                }
                p.truncate(keep % p.len());
            }
            Alteration::Extend { extra, at } => p.insert(at % (p.len() + 1), Hash(extra)),
        }
        Some(p)
    }

    /// (tree size n, size <= n, index < size).
    fn tree_size_index() -> impl Strategy<Value = (u64, u64, u64)> {
        (1..=300u64)
            .prop_flat_map(|n| (Just(n), 1..=n))
            .prop_flat_map(|(n, size)| (Just(n), Just(size), 0..size))
    }

    /// (tree size n, size2 <= n, size1 <= size2).
    fn tree_sizes() -> impl Strategy<Value = (u64, u64, u64)> {
        (0..=300u64)
            .prop_flat_map(|n| (Just(n), 0..=n))
            .prop_flat_map(|(n, size2)| (Just(n), Just(size2), 0..=size2))
    }

    proptest! {
        #[test]
        fn inclusion_proofs_verify_and_alterations_fail(
            (n, size, index) in tree_size_index(),
            other in any::<u64>(),
            change in alteration(),
        ) {
            let (mut t, leaves) = tree_of(n);
            let proof = prove_incl(&mut t, index, size);
            prop_assert_eq!(&proof, &ref_path(index as usize, &leaves[..size as usize]));
            let root = ok(root(&mut t, size));
            let leaf = leaves[index as usize];
            prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));

            if let Some(bad) = apply(&change, &proof) {
                prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
            let wrong_index = other % size;
            if wrong_index != index {
                prop_assert!(verify_inclusion(&leaf, wrong_index, size, &proof, &root).is_err());
            }
            let wrong_size = 1 + other % n;
            if wrong_size != size {
                let wrong_root = ok(super::root(&mut t, wrong_size));
                prop_assert!(
                    verify_inclusion(&leaf, index, wrong_size, &proof, &wrong_root).is_err()
                );
            }
        }

        #[test]
        fn consistency_proofs_verify_and_alterations_fail(
            (n, size2, size1) in tree_sizes(),
            change in alteration(),
        ) {
            let (mut t, leaves) = tree_of(n);
            let proof = prove_cons(&mut t, size1, size2);
            prop_assert_eq!(&proof, &ref_proof(size1 as usize, &leaves[..size2 as usize]));
            let root1 = ok(root(&mut t, size1));
            let root2 = ok(root(&mut t, size2));
            prop_assert_eq!(verify_consistency(size1, size2, &proof, &root1, &root2), Ok(()));

            if let Some(bad) = apply(&change, &proof) {
                prop_assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
            }
        }

        #[test]
        fn compact_range_matches_memory_tree(n in 0..=300u64) {
            let (mut t, leaves) = tree_of(n);
            let mut cr = CompactRange::new();
            let mut reported = Vec::new();
            for (i, leaf) in leaves.iter().enumerate() {
                prop_assert_eq!(cr.root(), ok(root(&mut t, i as u64)));
                prop_assert_eq!(&cr, &ok(CompactRange::from_reader(&mut t, i as u64)));
                cr.push(*leaf, |l, i, h| reported.push((l, i, *h)));
            }
            prop_assert_eq!(cr.root(), ref_mth(&leaves));
            prop_assert_eq!(cr.root(), t.root());

            // Exactly the complete nodes of the tree, each once.
            let mut want = Vec::new();
            for level in 0..64u8 {
                for index in 0..(n >> level) {
                    want.push((level, index, ok(t.node(level, index))));
                }
            }
            reported.sort_by_key(|&(l, i, _)| (l, i));
            prop_assert_eq!(reported, want);
        }

        #[test]
        fn verification_never_panics(
            index in any::<u64>(),
            size1 in prop_oneof![any::<u64>(), 0..20u64, (u64::MAX - 20)..=u64::MAX],
            size2 in prop_oneof![any::<u64>(), 0..20u64, (u64::MAX - 20)..=u64::MAX],
            proof in prop::collection::vec(any::<[u8; 32]>().prop_map(Hash), 0..70),
        ) {
            let (a, b) = (Hash::sha256(b"a"), Hash::sha256(b"b"));
            let _ = verify_inclusion(&a, index, size2, &proof, &b);
            let _ = verify_consistency(size1, size2, &proof, &a, &b);
        }

        #[test]
        fn any_range_gets_its_own_mth(
            (start, end) in (0..=200u64).prop_flat_map(|e| (0..=e, Just(e))),
        ) {
            let (mut t, leaves) = tree_of(200);
            prop_assert_eq!(
                ok(subtree_hash(&mut t, start, end)),
                ref_mth(&leaves[start as usize..end as usize])
            );
        }
    }
}
