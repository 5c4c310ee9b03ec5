//! Little-endian field cursors for fixed-size records and snapshots (credit, promotions): one
//! writer that appends, one bounds-checked reader. Reading past the end is an error naming the
//! offset, never a panic.

/// Appends little-endian fields to a buffer.
pub struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    pub fn put(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.put(&[v])
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn u128(&mut self, v: u128) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    /// A count of items, as u32.
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).expect("counts fit u32"))
    }
    /// Zero bytes up to `len` bytes after `start`: fixed-size records end in padding.
    pub fn pad_to(&mut self, start: usize, len: usize) {
        debug_assert!(self.0.len() <= start + len, "fields overflow the record");
        self.0.resize(start + len, 0);
    }
}

/// The reader ran out of bytes at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated {
    pub offset: usize,
}

/// Reads little-endian fields; every read checks the bounds.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }
    pub fn offset(&self) -> usize {
        self.at
    }
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }
    /// The offset of the first non-zero byte left, if any: fixed-size records end in zero
    /// padding, and a decoder refuses anything else there.
    #[must_use]
    pub fn nonzero_rest(&self) -> Option<usize> {
        self.rest()
            .iter()
            .position(|&b| b != 0)
            .map(|i| self.at + i)
    }
    /// The offset of the last byte read (an enum byte found out of range).
    #[must_use]
    pub fn last_offset(&self) -> usize {
        self.at - 1
    }
    pub fn take<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let field = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or(Truncated { offset: self.at })?;
        self.at += N;
        Ok(field.try_into().expect("a slice of N bytes"))
    }
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.take::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    pub fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    pub fn u128(&mut self) -> Result<u128, Truncated> {
        Ok(u128::from_le_bytes(self.take()?))
    }
}

/// Where a large encoding goes. A `Vec<u8>` holds all of it; a [`ChunkedOut`] hands it on in
/// chunks at record boundaries, so a snapshot of gigabytes never sits whole in memory.
pub trait ByteSink {
    /// The buffer to append the next record to.
    fn bytes(&mut self) -> &mut Vec<u8>;
    /// A record boundary: a streaming sink may hand on what it holds here (never inside a
    /// record, whose encoder may still refer to positions in the buffer).
    fn boundary(&mut self) {}
}

impl ByteSink for Vec<u8> {
    fn bytes(&mut self) -> &mut Vec<u8> {
        self
    }
}

/// A [`ByteSink`] that, at a boundary where its buffer holds at least `chunk` bytes, hands the
/// buffer to a consumer, which returns an empty one to go on in (recycled buffers keep their
/// pages, so a large encoding costs no fresh page faults).
pub struct ChunkedOut<'a> {
    buffer: Vec<u8>,
    chunk: usize,
    handed: u64,
    consumer: &'a mut dyn FnMut(Vec<u8>) -> Vec<u8>,
}

impl<'a> ChunkedOut<'a> {
    /// Starts with `buffer` (empty); hands on chunks of at least `chunk` bytes (at least 1).
    pub fn new(
        chunk: usize,
        buffer: Vec<u8>,
        consumer: &'a mut dyn FnMut(Vec<u8>) -> Vec<u8>,
    ) -> ChunkedOut<'a> {
        debug_assert!(buffer.is_empty(), "a chunked output starts empty");
        ChunkedOut {
            buffer,
            chunk: chunk.max(1),
            handed: 0,
            consumer,
        }
    }

    /// Bytes written so far, handed on or not.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.handed + self.buffer.len() as u64
    }

    /// The bytes not handed on yet (the last, short chunk), and the total written.
    #[must_use]
    pub fn finish(self) -> (Vec<u8>, u64) {
        let written = self.written();
        (self.buffer, written)
    }

    #[cold]
    fn hand_on(&mut self) {
        self.handed += self.buffer.len() as u64;
        let full = std::mem::take(&mut self.buffer);
        self.buffer = (self.consumer)(full);
        debug_assert!(
            self.buffer.is_empty(),
            "the consumer returns an empty buffer"
        );
        self.buffer.clear();
    }
}

impl ByteSink for ChunkedOut<'_> {
    fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    #[inline]
    fn boundary(&mut self) {
        if self.buffer.len() >= self.chunk {
            self.hand_on();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ByteSink, ChunkedOut};
    use proptest::prelude::*;

    /// Writes `records` (each a byte run, then a boundary) into `out`.
    fn write(out: &mut impl ByteSink, records: &[(u8, usize)]) {
        for &(byte, length) in records {
            out.bytes().extend(std::iter::repeat_n(byte, length));
            out.boundary();
        }
    }

    proptest! {
        #[test]
        fn chunks_concatenate_to_the_whole_encoding(
            // Goal: what a chunked output hands on, followed by what it holds at the end, is
            // byte for byte what a plain Vec receives; every chunk handed on holds at least
            // `chunk` bytes and ends at a record boundary; `written` counts every byte.
            records in proptest::collection::vec((any::<u8>(), 0usize..300), 0..200),
            chunk in 1usize..2000,
        ) {
            let mut whole = Vec::new();
            write(&mut whole, &records);
            let mut ends = std::collections::BTreeSet::new();
            let mut end = 0;
            for &(_, length) in &records {
                end += length;
                ends.insert(end);
            }
            let mut handed: Vec<Vec<u8>> = Vec::new();
            let mut consumer = |full: Vec<u8>| {
                handed.push(full.clone());
                let mut empty = full;
                empty.clear();
                empty
            };
            let mut out = ChunkedOut::new(chunk, Vec::new(), &mut consumer);
            write(&mut out, &records);
            let (rest, written) = out.finish();
            prop_assert_eq!(written, whole.len() as u64);
            let mut joined = Vec::new();
            for piece in &handed {
                prop_assert!(piece.len() >= chunk);
                joined.extend_from_slice(piece);
                prop_assert!(ends.contains(&joined.len()), "a chunk ends inside a record");
            }
            joined.extend_from_slice(&rest);
            prop_assert_eq!(joined, whole);
        }
    }
}
