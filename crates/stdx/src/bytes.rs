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
