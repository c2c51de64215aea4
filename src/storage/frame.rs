//! Checksummed frames: the unit of every append-only file shikaku writes
//! (the update journal, the check log).
//!
//! ```text
//! [payload length u32][xxh3-64 of the rest u64][fixed part][payload]
//! ```
//!
//! all little-endian. The fixed part has a length set by the file kind
//! (the journal's LSN and process-id hash, the check log's batch header);
//! the checksum covers it and the payload. A crash can only tear the frame
//! being written at the end of a file; [`Framing::intact_after`] tells such
//! a torn tail from damage (an intact frame further on).

use xxhash_rust::xxh3::xxh3_64;

/// Bytes before the fixed part: payload length and checksum.
pub const FRAME_HEADER_LEN: usize = 4 + 8;

/// The frame layout of one kind of file.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    /// Length of the fixed part.
    pub fixed: usize,
    /// Longest payload a frame may carry; a longer length field is damage.
    pub max_payload: usize,
}

/// One decoded frame, borrowed from the file's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The fixed part, [`Framing::fixed`] bytes long.
    pub fixed: &'a [u8],
    /// The payload, as long as the frame's length field says.
    pub payload: &'a [u8],
}

impl Framing {
    /// Appends one frame to `out`; `fixed` must be `self.fixed` bytes long.
    pub fn encode(&self, fixed: &[u8], payload: &[u8], out: &mut Vec<u8>) {
        debug_assert_eq!(fixed.len(), self.fixed);
        let start = out.len();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(fixed);
        out.extend_from_slice(payload);
        let checksum = xxh3_64(&out[start + FRAME_HEADER_LEN..]);
        out[start + 4..start + FRAME_HEADER_LEN].copy_from_slice(&checksum.to_le_bytes());
    }

    /// The frame at the start of `bytes` and its encoded length, if it is
    /// complete and its checksum holds.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Option<(Frame<'a>, usize)> {
        let payload_len = u32_at(bytes, 0)? as usize;
        if payload_len > self.max_payload {
            return None;
        }
        let len = FRAME_HEADER_LEN + self.fixed + payload_len;
        let body = bytes.get(FRAME_HEADER_LEN..len)?;
        if xxh3_64(body) != u64_at(bytes, 4)? {
            return None;
        }
        let (fixed, payload) = body.split_at(self.fixed);
        Some((Frame { fixed, payload }, len))
    }

    /// The length of the frame whose header starts `bytes`, read from the
    /// header alone (no checksum): what to read next from a file.
    pub fn frame_len(&self, header: &[u8]) -> Option<usize> {
        let payload_len = u32_at(header, 0)? as usize;
        (payload_len <= self.max_payload).then_some(FRAME_HEADER_LEN + self.fixed + payload_len)
    }

    /// True when an intact frame whose fixed part passes `plausible` starts
    /// anywhere after `offset`. `plausible` is a cheap filter run before the
    /// checksum, so that a long tail is searched quickly.
    pub fn intact_after(
        &self,
        bytes: &[u8],
        offset: usize,
        plausible: impl Fn(&[u8]) -> bool,
    ) -> bool {
        let header = FRAME_HEADER_LEN + self.fixed;
        (offset + 1..bytes.len().saturating_sub(header - 1)).any(|at| {
            plausible(&bytes[at + FRAME_HEADER_LEN..at + header])
                && self.decode(&bytes[at..]).is_some()
        })
    }
}

/// The little-endian `u32` at `at`, if `bytes` reaches that far.
pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The little-endian `u64` at `at`, if `bytes` reaches that far.
pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAMING: Framing = Framing {
        fixed: 8,
        max_payload: 1024,
    };

    #[test]
    fn round_trip_and_damage() {
        let mut out = Vec::new();
        FRAMING.encode(&7u64.to_le_bytes(), b"hello", &mut out);
        FRAMING.encode(&8u64.to_le_bytes(), b"world!", &mut out);
        let (first, len) = FRAMING.decode(&out).unwrap();
        assert_eq!(first.payload, b"hello");
        assert_eq!(first.fixed, 7u64.to_le_bytes());
        assert_eq!(FRAMING.frame_len(&out), Some(len));
        let (second, _) = FRAMING.decode(&out[len..]).unwrap();
        assert_eq!(second.payload, b"world!");
        for cut in 0..len {
            assert!(FRAMING.decode(&out[..cut]).is_none(), "cut at {cut}");
        }
        let mut damaged = out.clone();
        damaged[FRAME_HEADER_LEN + 9] ^= 1;
        assert!(FRAMING.decode(&damaged).is_none());
        assert!(FRAMING.intact_after(&damaged, 0, |_| true));
        assert!(!FRAMING.intact_after(&damaged, len, |_| true));
        assert!(!FRAMING.intact_after(&damaged, 0, |fixed| fixed[0] == 9));
    }
}
