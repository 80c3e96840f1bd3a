//! CRC-32 (IEEE 802.3, reflected polynomial `0xEDB88320`, initial value and final XOR
//! `0xFFFFFFFF`) — the checksum of the policy binary format. The same function as zlib's
//! `crc32()`, so a blob can be checked with standard tools.
//!
//! Table-driven with the table built at compile time: no allocation, no runtime set-up, usable
//! from a kernel module.

/// The 256-entry lookup table, computed by the compiler.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// Incremental CRC-32, for checksumming a blob in pieces (the policy checksum is computed
/// with its own field replaced by zeros without copying the blob).
#[derive(Clone, Copy, Debug)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A fresh checksum (of the empty string so far).
    pub const fn new() -> Self {
        Self { state: 0xFFFF_FFFF }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.state;
        for &b in data {
            // `as u8` keeps the index in 0..=255, so this cannot go out of bounds.
            c = TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8);
        }
        self.state = c;
    }

    /// Feeds `n` zero bytes.
    pub fn update_zeros(&mut self, n: usize) {
        let mut c = self.state;
        for _ in 0..n {
            c = TABLE[usize::from(c as u8)] ^ (c >> 8);
        }
        self.state = c;
    }

    /// The checksum of everything fed so far.
    pub const fn finish(&self) -> u32 {
        self.state ^ 0xFFFF_FFFF
    }
}

/// CRC-32 of `data` in one call.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data = b"semguard policy blob with a checksum field";
        for split in 0..data.len() {
            let mut c = Crc32::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.finish(), crc32(data));
        }
    }

    #[test]
    fn zeros_equal_zero_bytes() {
        let mut a = Crc32::new();
        a.update(b"xy");
        a.update_zeros(4);
        a.update(b"z");
        assert_eq!(a.finish(), crc32(b"xy\0\0\0\0z"));
    }

    #[test]
    fn single_bit_flip_changes_checksum() {
        let mut data = [0x5Au8; 64];
        let base = crc32(&data);
        for i in 0..data.len() * 8 {
            data[i / 8] ^= 1 << (i % 8);
            assert_ne!(crc32(&data), base, "bit {i}");
            data[i / 8] ^= 1 << (i % 8);
        }
    }
}
