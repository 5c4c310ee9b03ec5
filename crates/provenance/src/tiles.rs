//! C2SP tlog-tiles: tile coordinates and paths, which tiles a tree size has, tiles as a
//! [`HashSource`] (proofs built from fetched tiles), and entry bundles.
//!
//! A tile at level `l`, index `n` holds up to 256 consecutive hashes of tree level `8 l`: the
//! hashes `[256 n, 256 n + width)` of that level. Full tiles have 256 hashes (8,192 bytes);
//! the rightmost tile of a level is partial (1-255 hashes) and is never hashed into the level
//! above. Paths are `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, where `N` is written
//! in 3-digit groups, every group but the last prefixed with `x` (`1234067` is
//! `x001/x234/067`). Parsing accepts only the one canonical spelling of each tile.
//!
//! Tiles come from an untrusted server: a proof built from them is only worth something once
//! verified against a signed checkpoint's root, which any wrong hash makes fail.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crate::hash::{HASH_SIZE, Hash, leaf_hash, node_hash};
use crate::subtree::{HashSource, Subtree, range_subtrees};

/// Tree levels per tile: a tile is a subtree of height 8.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u32 = 1 << TILE_HEIGHT;
/// Bytes of a full tile.
pub const TILE_SIZE: usize = TILE_WIDTH as usize * HASH_SIZE;
/// Highest tile level a path may name (tlog-tiles: 0-63).
pub const TILE_LEVEL_MAX: u8 = 63;
/// Largest entry an entry bundle can frame (a big-endian u16 length).
pub const ENTRY_SIZE_MAX: usize = u16::MAX as usize;

/// One tile: `width` hashes of tree level `8 * level`, starting at hash `256 * index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tile {
    /// Tile level (tree level divided by 8).
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes, 1-256; 256 is a full tile.
    pub width: u16,
}

/// A parsed tile path: a tile of hashes, or the entry bundle matching a level-0 tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`.
    Hashes(Tile),
    /// `tile/entries/<N>[.p/<W>]`; the tile's level is 0.
    Entries(Tile),
}

/// Why a tile path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePathError {
    /// It does not start with `tile/`.
    Prefix,
    /// The level is not `entries` nor a decimal 0-63 without leading zeros.
    Level,
    /// The index is not canonical `x###/.../###` groups, or does not fit 64 bits.
    Index,
    /// The width is not a decimal 1-255 without leading zeros.
    Width,
}

impl fmt::Display for TilePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            TilePathError::Prefix => "does not start with tile/",
            TilePathError::Level => "invalid level",
            TilePathError::Index => "invalid index",
            TilePathError::Width => "invalid partial width",
        };
        write!(f, "tile path: {what}")
    }
}

impl std::error::Error for TilePathError {}

impl Tile {
    /// Whether the tile holds all 256 hashes.
    pub fn is_full(&self) -> bool {
        u32::from(self.width) == TILE_WIDTH
    }

    /// The tile of tree `size` at (`level`, `index`): full, partial, or none if the tree has no
    /// hash there yet.
    pub fn for_size(level: u8, index: u64, size: u64) -> Option<Tile> {
        let count = hash_count(size, level);
        let start = index.checked_mul(u64::from(TILE_WIDTH))?;
        let available = count.checked_sub(start).filter(|&a| a > 0)?;
        let width = u16::try_from(available.min(u64::from(TILE_WIDTH))).expect("at most 256");
        Some(Tile {
            level,
            index,
            width,
        })
    }

    /// The tile's path: `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        self.format_path(&self.level.to_string())
    }

    /// The path of the entry bundle matching this level-0 tile: `tile/entries/<N>[.p/<W>]`.
    pub fn bundle_path(&self) -> String {
        assert_eq!(self.level, 0, "only level-0 tiles have entry bundles");
        self.format_path("entries")
    }

    fn format_path(&self, level: &str) -> String {
        let mut path = format!("tile/{level}/{}", format_index(self.index));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }
}

/// Hashes of tile-level `level` (tree level `8 * level`) in a tree of `size` leaves.
fn hash_count(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * TILE_HEIGHT)
        .unwrap_or(0)
}

/// `N` as tlog-tiles path elements: `1234067` is `x001/x234/067`.
pub fn format_index(index: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = index;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut out = String::new();
    for (position, group) in groups.iter().rev().enumerate() {
        if position + 1 < groups.len() {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
    out
}

fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = text == "0" || !text.starts_with('0');
    if text.is_empty() || !canonical || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_group(text: &str) -> Option<u64> {
    (text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit())).then(|| {
        text.bytes()
            .fold(0, |value, b| value * 10 + u64::from(b - b'0'))
    })
}

fn parse_index(elements: &[&str]) -> Result<u64, TilePathError> {
    let (last, groups) = elements.split_last().ok_or(TilePathError::Index)?;
    let mut index: u64 = 0;
    for (position, element) in groups.iter().enumerate() {
        let group = element
            .strip_prefix('x')
            .and_then(parse_group)
            .ok_or(TilePathError::Index)?;
        // A leading zero group would be a second spelling of the same index.
        if position == 0 && group == 0 {
            return Err(TilePathError::Index);
        }
        index = index
            .checked_mul(1000)
            .and_then(|i| i.checked_add(group))
            .ok_or(TilePathError::Index)?;
    }
    let group = parse_group(last).ok_or(TilePathError::Index)?;
    index
        .checked_mul(1000)
        .and_then(|i| i.checked_add(group))
        .ok_or(TilePathError::Index)
}

/// Parses a tile or entry-bundle path, accepting only canonical spellings.
pub fn parse_tile_path(path: &str) -> Result<TilePath, TilePathError> {
    let rest = path.strip_prefix("tile/").ok_or(TilePathError::Prefix)?;
    let elements: Vec<&str> = rest.split('/').collect();
    let (level_text, mut elements) = elements.split_first().ok_or(TilePathError::Level)?;
    let entries = *level_text == "entries";
    let level = if entries {
        0
    } else {
        parse_decimal(level_text)
            .and_then(|l| u8::try_from(l).ok())
            .filter(|&l| l <= TILE_LEVEL_MAX)
            .ok_or(TilePathError::Level)?
    };
    let mut width = TILE_WIDTH as u16;
    let mut last_group = None;
    if let [head @ .., partial, width_text] = elements
        && let Some(group) = partial.strip_suffix(".p")
    {
        width = parse_decimal(width_text)
            .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
            .and_then(|w| u16::try_from(w).ok())
            .ok_or(TilePathError::Width)?;
        elements = head;
        last_group = Some(group);
    }
    let mut index_elements = elements.to_vec();
    if let Some(group) = last_group {
        index_elements.push(group);
    }
    let index = parse_index(&index_elements)?;
    let tile = Tile {
        level,
        index,
        width,
    };
    Ok(if entries {
        TilePath::Entries(tile)
    } else {
        TilePath::Hashes(tile)
    })
}

/// The tiles a tree of `size` leaves has that the tree of `old_size` leaves did not have in the
/// same form: new full tiles, and the new partial tile of each level that changed. A storage
/// shell writes exactly these after integrating `old_size..size` (`golang.org/x/mod`
/// `sumdb/tlog` `NewTiles`, with height 8).
pub fn new_tiles(old_size: u64, size: u64) -> Vec<Tile> {
    new_tiles_with_height(TILE_HEIGHT, old_size, size)
        .into_iter()
        .map(|(level, index, width)| Tile {
            level,
            index,
            width: u16::try_from(width).expect("height 8 tiles have at most 256 hashes"),
        })
        .collect()
}

/// [`new_tiles`] for any tile height, as (level, index, width); other heights only serve to
/// check against the Go implementation's own test figures.
pub(crate) fn new_tiles_with_height(height: u32, old_size: u64, size: u64) -> Vec<(u8, u64, u64)> {
    let mut tiles = Vec::new();
    let mut level: u8 = 0;
    while let Some(new_count) = size
        .checked_shr(u32::from(level) * height)
        .filter(|&c| c > 0)
    {
        let old_count = old_size.checked_shr(u32::from(level) * height).unwrap_or(0);
        if old_count != new_count {
            for index in (old_count >> height)..(new_count >> height) {
                tiles.push((level, index, 1u64 << height));
            }
            let index = new_count >> height;
            let width = new_count - (index << height);
            if width > 0 {
                tiles.push((level, index, width));
            }
        }
        level += 1;
    }
    tiles
}

/// The partial tiles of a tree of `size` leaves, lowest level first (the ones a log must serve
/// for a checkpoint of that size).
pub fn partial_tiles(size: u64) -> Vec<Tile> {
    (0..=TILE_LEVEL_MAX)
        .map_while(|level| {
            let count = hash_count(size, level);
            (count > 0).then_some((level, count))
        })
        .filter_map(|(level, count)| {
            let width = count % u64::from(TILE_WIDTH);
            (width > 0).then(|| Tile {
                level,
                index: count / u64::from(TILE_WIDTH),
                width: u16::try_from(width).expect("below 256"),
            })
        })
        .collect()
}

/// Where `subtree` lives in the tiles of a tree of `size` leaves: the tile, and the run of its
/// hashes whose complete-subtree hash `subtree` is. `None` if the tree does not contain it.
pub fn tile_for_subtree(subtree: Subtree, size: u64) -> Option<(Tile, Range<usize>)> {
    if subtree.level >= 64 || (u128::from(subtree.index) + 1) << subtree.level > u128::from(size) {
        return None;
    }
    let tile_level = u32::from(subtree.level) / TILE_HEIGHT;
    let rest = u32::from(subtree.level) % TILE_HEIGHT;
    let first = subtree.index << rest;
    let tile = Tile::for_size(
        u8::try_from(tile_level).ok()?,
        first / u64::from(TILE_WIDTH),
        size,
    )?;
    let offset = usize::try_from(first % u64::from(TILE_WIDTH)).ok()?;
    Some((tile, offset..offset + (1 << rest)))
}

/// The tiles needed to read the hashes of `ranges` (as planned by the proof functions) from a
/// tree of `size` leaves, sorted and without repeats: what a client fetches before building a
/// proof from tiles.
pub fn tiles_for_ranges(ranges: &[Range<u64>], size: u64) -> Vec<Tile> {
    let mut tiles: Vec<Tile> = ranges
        .iter()
        .flat_map(|range| range_subtrees(range.clone()))
        .filter_map(|subtree| tile_for_subtree(subtree, size).map(|(tile, _)| tile))
        .collect();
    tiles.sort_unstable();
    tiles.dedup();
    tiles
}

/// Something holding tiles: a shell's files or cache, or a client's fetched set.
pub trait TileReader {
    /// Why a tile could not be read.
    type Error;

    /// The bytes of `tile`; a reader may answer with more hashes than asked (a full tile for a
    /// partial one), never fewer.
    fn read_tile(&self, tile: &Tile) -> Result<&[u8], Self::Error>;
}

/// Why a hash could not be computed from tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileError<E> {
    /// The subtree is not in the tree of the size being read.
    Missing(Subtree),
    /// The reader could not produce the tile.
    Read(E),
    /// The tile has fewer bytes than its width needs, or not a whole number of hashes.
    Length { tile: Tile, length: usize },
}

impl<E: fmt::Display> fmt::Display for TileError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileError::Missing(subtree) => {
                write!(
                    f,
                    "subtree level {} index {} is past the tree",
                    subtree.level, subtree.index
                )
            }
            TileError::Read(error) => write!(f, "reading tile: {error}"),
            TileError::Length { tile, length } => {
                write!(f, "tile {} has {length} bytes", tile.path())
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TileError<E> {}

/// The hashes of the tree of `size` leaves, computed from its tiles: a hash at tree level
/// `8 t + r` is the root of `2^r` hashes of a level-`t` tile.
pub struct TileHashes<'a, R: ?Sized> {
    reader: &'a R,
    size: u64,
}

impl<'a, R: TileReader + ?Sized> TileHashes<'a, R> {
    /// Reads the tree of `size` leaves from `reader`.
    pub fn new(reader: &'a R, size: u64) -> TileHashes<'a, R> {
        TileHashes { reader, size }
    }
}

impl<R: TileReader + ?Sized> HashSource for TileHashes<'_, R> {
    type Error = TileError<R::Error>;

    fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, Self::Error> {
        let (tile, run) =
            tile_for_subtree(subtree, self.size).ok_or(TileError::Missing(subtree))?;
        let bytes = self.reader.read_tile(&tile).map_err(TileError::Read)?;
        let length = bytes.len();
        if !length.is_multiple_of(HASH_SIZE) || length < usize::from(tile.width) * HASH_SIZE {
            return Err(TileError::Length { tile, length });
        }
        let mut hashes: Vec<Hash> = bytes[run.start * HASH_SIZE..run.end * HASH_SIZE]
            .chunks_exact(HASH_SIZE)
            .map(|chunk| chunk.try_into().expect("chunks of HASH_SIZE"))
            .collect();
        // A complete run of 2^r hashes: hash pairs level by level up to its root.
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(hashes[0])
    }
}

/// Tiles held in memory, one per place (level, index), the widest seen; a request for a tile
/// is answered by any tile at its place with at least its width (hashes never change once
/// written, so a wider tile's prefix is the narrower tile).
#[derive(Clone, Debug, Default)]
pub struct TileSet {
    tiles: BTreeMap<(u8, u64), Vec<u8>>,
}

/// A tile the set does not hold (or holds narrower).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileMissing(pub Tile);

impl fmt::Display for TileMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tile {} is missing", self.0.path())
    }
}

impl TileSet {
    /// An empty set.
    pub fn new() -> TileSet {
        TileSet::default()
    }

    /// Adds a tile's bytes, unless the set already holds a wider tile at its place.
    pub fn insert(&mut self, tile: Tile, bytes: Vec<u8>) {
        let slot = self.tiles.entry((tile.level, tile.index)).or_default();
        if bytes.len() > slot.len() {
            *slot = bytes;
        }
    }

    /// Number of places held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

impl TileReader for TileSet {
    type Error = TileMissing;

    fn read_tile(&self, tile: &Tile) -> Result<&[u8], TileMissing> {
        self.tiles
            .get(&(tile.level, tile.index))
            .filter(|bytes| bytes.len() >= usize::from(tile.width) * HASH_SIZE)
            .map(Vec::as_slice)
            .ok_or(TileMissing(*tile))
    }
}

/// Why an entry bundle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleError {
    /// An entry longer than 65,535 bytes cannot be framed.
    EntryTooLarge { length: usize },
    /// A bundle holds 1-256 entries.
    EntryCount { count: usize },
    /// A length prefix or entry runs past the end of the bundle.
    Truncated { offset: usize },
    /// The bundle's entry count differs from its level-0 tile's width.
    WidthMismatch { entries: usize, hashes: usize },
    /// An entry does not hash to the level-0 tile's hash at its position.
    HashMismatch { position: usize },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::EntryTooLarge { length } => {
                write!(f, "entry of {length} bytes is too large")
            }
            BundleError::EntryCount { count } => write!(f, "bundle of {count} entries"),
            BundleError::Truncated { offset } => write!(f, "bundle truncated at offset {offset}"),
            BundleError::WidthMismatch { entries, hashes } => {
                write!(f, "bundle has {entries} entries, its tile {hashes} hashes")
            }
            BundleError::HashMismatch { position } => {
                write!(f, "entry {position} does not match its tile hash")
            }
        }
    }
}

impl std::error::Error for BundleError {}

/// Frames entries as an entry bundle: each a big-endian u16 length, then its bytes.
pub fn encode_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, BundleError> {
    if entries.is_empty() || entries.len() > TILE_WIDTH as usize {
        return Err(BundleError::EntryCount {
            count: entries.len(),
        });
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for entry in entries {
        let length = u16::try_from(entry.len()).map_err(|_| BundleError::EntryTooLarge {
            length: entry.len(),
        })?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
pub fn decode_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, BundleError> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let prefix = bytes
            .get(offset..offset + 2)
            .ok_or(BundleError::Truncated { offset })?;
        let length = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let entry = bytes
            .get(offset + 2..offset + 2 + length)
            .ok_or(BundleError::Truncated { offset })?;
        entries.push(entry);
        offset += 2 + length;
        if entries.len() > TILE_WIDTH as usize {
            return Err(BundleError::EntryCount {
                count: entries.len(),
            });
        }
    }
    if entries.is_empty() {
        return Err(BundleError::EntryCount { count: 0 });
    }
    Ok(entries)
}

/// Checks that `entries` hash, one by one, to the hashes of their level-0 tile.
pub fn check_bundle(entries: &[&[u8]], tile_bytes: &[u8]) -> Result<(), BundleError> {
    let hashes = tile_bytes.len() / HASH_SIZE;
    if !tile_bytes.len().is_multiple_of(HASH_SIZE) || hashes != entries.len() {
        return Err(BundleError::WidthMismatch {
            entries: entries.len(),
            hashes,
        });
    }
    for (position, (entry, hash)) in entries
        .iter()
        .zip(tile_bytes.chunks_exact(HASH_SIZE))
        .enumerate()
    {
        if leaf_hash(entry)[..] != *hash {
            return Err(BundleError::HashMismatch { position });
        }
    }
    Ok(())
}
