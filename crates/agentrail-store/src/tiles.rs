//! Merkle hashes stored as tiles, after C2SP tlog-tiles: a tile at tile level `L`, index `N`
//! holds up to 256 hashes of tree level `8L`, those of nodes `256N .. 256N + 255`.
//!
//! Only every eighth tree level is stored; a node at level `8L + r` is recomputed from the
//! `2^r` stored hashes below it (at most 127 hash operations, for r = 7), so any proof for any leaf at any
//! checkpointed size is read from a handful of tiles, never recomputed from the leaves.
//! Tiles at the right edge are partial and are rewritten as the tree grows; full tiles never
//! change.

use crate::backend::{Backend, TileRow};
use crate::LedgerError;
use agentrail_core::merkle::{node_hash, NodeReader};
use agentrail_core::Hash;
use std::collections::HashMap;

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes per full tile.
pub const TILE_WIDTH: u64 = 256;

/// The right-edge tiles being filled, one per tile level, and the tiles completed or touched
/// since the last [`TileWriter::take_dirty`].
#[derive(Debug, Clone, Default)]
pub struct TileWriter {
    /// Per tile level: (tile index, hashes so far).
    edge: Vec<(u64, Vec<u8>)>,
    dirty: Vec<TileRow>,
    touched: Vec<bool>,
}

impl TileWriter {
    /// Loads the right-edge tiles for a tree of `size` leaves.
    pub fn load(backend: &mut dyn Backend, size: u64) -> Result<Self, LedgerError> {
        let mut edge = Vec::new();
        let mut level = 0u8;
        loop {
            // Number of stored hashes at tree level 8 * level.
            let count = size >> (TILE_HEIGHT as u32 * level as u32);
            if count == 0 {
                break;
            }
            let index = count / TILE_WIDTH;
            let width = (count % TILE_WIDTH) as usize;
            let hashes = if width == 0 {
                Vec::new()
            } else {
                let t = backend.tile(level, index)?.ok_or_else(|| {
                    LedgerError::Corrupt(format!("tile {level}/{index} is missing"))
                })?;
                if t.len() != width * 32 {
                    return Err(LedgerError::Corrupt(format!(
                        "tile {level}/{index} holds {} bytes; a tree of {size} leaves needs {}",
                        t.len(),
                        width * 32
                    )));
                }
                t
            };
            edge.push((index, hashes));
            level += 1;
        }
        let touched = vec![false; edge.len()];
        Ok(TileWriter {
            edge,
            dirty: Vec::new(),
            touched,
        })
    }

    /// Records a completed node; only nodes on tile-bottom levels (multiples of 8) are kept.
    pub fn add(&mut self, level: u8, index: u64, hash: &Hash) {
        if !level.is_multiple_of(TILE_HEIGHT) {
            return;
        }
        let tl = (level / TILE_HEIGHT) as usize;
        while self.edge.len() <= tl {
            self.edge.push((0, Vec::new()));
            self.touched.push(false);
        }
        let tile_index = index / TILE_WIDTH;
        let (cur_index, hashes) = &mut self.edge[tl];
        if *cur_index != tile_index {
            // INVARIANT: nodes arrive left to right, so the previous tile is full.
            debug_assert_eq!(hashes.len(), (TILE_WIDTH * 32) as usize);
            debug_assert_eq!(tile_index, *cur_index + 1);
            self.dirty.push(TileRow {
                level: tl as u8,
                index: *cur_index,
                hashes: std::mem::take(hashes),
            });
            *cur_index = tile_index;
        }
        debug_assert_eq!(hashes.len() as u64, (index % TILE_WIDTH) * 32);
        hashes.extend_from_slice(&hash.0);
        self.touched[tl] = true;
    }

    /// The tiles to write for the nodes added since the last call: completed ones and the
    /// current partial edge tiles.
    pub fn take_dirty(&mut self) -> Vec<TileRow> {
        let mut out = std::mem::take(&mut self.dirty);
        for (tl, touched) in self.touched.iter_mut().enumerate() {
            if std::mem::take(touched) {
                let (index, hashes) = &self.edge[tl];
                out.push(TileRow {
                    level: tl as u8,
                    index: *index,
                    hashes: hashes.clone(),
                });
            }
        }
        out
    }
}

/// Reads complete-subtree hashes from stored tiles (a [`NodeReader`] for proofs and roots).
///
/// Each tile read is folded once into all its levels, so the many nodes a batch of proofs needs
/// from one tile (the proofs of a session's events share most of theirs) cost one read and at
/// most 255 hashes, not one fold per node.
pub struct TileReader<'a> {
    backend: &'a mut dyn Backend,
    /// Per tile: level `r` holds the complete nodes `r` levels above the tile's base.
    cache: HashMap<(u8, u64), Vec<Vec<Hash>>>,
}

impl std::fmt::Debug for TileReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileReader")
            .field("cached_tiles", &self.cache.len())
            .finish()
    }
}

impl<'a> TileReader<'a> {
    pub fn new(backend: &'a mut dyn Backend) -> Self {
        TileReader {
            backend,
            cache: HashMap::new(),
        }
    }
}

/// Every complete node of a tile, level by level: level 0 is the tile's hashes, level `r + 1`
/// the hashes of the complete pairs of level `r`.
fn levels(hashes: &[u8]) -> Vec<Vec<Hash>> {
    let base: Vec<Hash> = hashes
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().expect("chunks_exact(32)")))
        .collect();
    let mut out = vec![base];
    while out.len() <= TILE_HEIGHT as usize {
        let below = out.last().expect("at least the base level");
        if below.len() < 2 {
            break;
        }
        let up = below
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
        out.push(up);
    }
    out
}

impl NodeReader for TileReader<'_> {
    type Error = LedgerError;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let tl = level / TILE_HEIGHT;
        let r = (level % TILE_HEIGHT) as usize;
        let first = index << r;
        let tile_index = first / TILE_WIDTH;
        let offset = (first % TILE_WIDTH) as usize;
        if !self.cache.contains_key(&(tl, tile_index)) {
            let t = self.backend.tile(tl, tile_index)?.ok_or_else(|| {
                LedgerError::Corrupt(format!(
                    "tile {tl}/{tile_index} is missing (needed for node {level}/{index})"
                ))
            })?;
            if t.is_empty() || !t.len().is_multiple_of(32) || t.len() > 32 * TILE_WIDTH as usize {
                return Err(LedgerError::Corrupt(format!(
                    "tile {tl}/{tile_index} holds {} bytes, not 1 to {TILE_WIDTH} hashes of 32 bytes",
                    t.len()
                )));
            }
            self.cache.insert((tl, tile_index), levels(&t));
        }
        let tile = &self.cache[&(tl, tile_index)];
        tile.get(r)
            .and_then(|l| l.get(offset >> r))
            .copied()
            .ok_or_else(|| {
                LedgerError::Corrupt(format!(
                    "tile {tl}/{tile_index} holds {} hashes; node {level}/{index} needs {}",
                    tile[0].len(),
                    offset + (1 << r)
                ))
            })
    }
}
