//! Transmission requests as they arrive: the compact header (28 bytes,
//! 32-bit length) or, once extended headers are negotiated, the 32-byte
//! one, whose 64-bit length is an effect length, or the length of a
//! payload that follows when `NBD_CMD_FLAG_PAYLOAD_LEN` is set. A write's
//! length is its payload's, flag or not (clients that leave the flag off
//! writes exist, QEMU's among them).

use super::handshake::Framing;
use super::proto::*;

/// Longest request header.
pub const MAX_HEADER: usize = 32;

/// One parsed request header.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub flags: u16,
    pub kind: u16,
    pub cookie: u64,
    pub offset: u64,
    pub len: u64,
    /// Bytes of payload after the header.
    pub payload: u64,
}

/// Header length under `framing`.
pub fn header_len(framing: Framing) -> usize {
    match framing {
        Framing::Extended => 32,
        _ => 28,
    }
}

fn be<const N: usize>(b: &[u8]) -> [u8; N] {
    b[..N].try_into().expect("header is long enough")
}

impl Request {
    /// Parses a header of `header_len(framing)` bytes; `None` if its magic
    /// is not the negotiated one.
    pub fn parse(hdr: &[u8], framing: Framing) -> Option<Request> {
        let magic = u32::from_be_bytes(be(hdr));
        let flags = u16::from_be_bytes(be(&hdr[4..]));
        let kind = u16::from_be_bytes(be(&hdr[6..]));
        let cookie = u64::from_be_bytes(be(&hdr[8..]));
        let offset = u64::from_be_bytes(be(&hdr[16..]));
        let (len, payload) = if framing == Framing::Extended {
            if magic != EXTENDED_REQUEST_MAGIC {
                return None;
            }
            let len = u64::from_be_bytes(be(&hdr[24..]));
            let payload = flags & CMD_FLAG_PAYLOAD_LEN != 0 || kind == CMD_WRITE;
            (len, if payload { len } else { 0 })
        } else {
            if magic != REQUEST_MAGIC {
                return None;
            }
            let len = u64::from(u32::from_be_bytes(be(&hdr[24..])));
            (len, if kind == CMD_WRITE { len } else { 0 })
        };
        Some(Request {
            flags,
            kind,
            cookie,
            offset,
            len,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_extended_headers() {
        let mut c = REQUEST_MAGIC.to_be_bytes().to_vec();
        c.extend_from_slice(&1u16.to_be_bytes());
        c.extend_from_slice(&CMD_WRITE.to_be_bytes());
        c.extend_from_slice(&7u64.to_be_bytes());
        c.extend_from_slice(&4096u64.to_be_bytes());
        c.extend_from_slice(&512u32.to_be_bytes());
        let r = Request::parse(&c, Framing::Structured).unwrap();
        assert_eq!(
            (r.kind, r.cookie, r.offset, r.len, r.payload),
            (1, 7, 4096, 512, 512)
        );

        let mut e = EXTENDED_REQUEST_MAGIC.to_be_bytes().to_vec();
        e.extend_from_slice(&0u16.to_be_bytes());
        e.extend_from_slice(&CMD_TRIM.to_be_bytes());
        e.extend_from_slice(&9u64.to_be_bytes());
        e.extend_from_slice(&0u64.to_be_bytes());
        e.extend_from_slice(&(5u64 << 32).to_be_bytes());
        let r = Request::parse(&e, Framing::Extended).unwrap();
        assert_eq!((r.kind, r.len, r.payload), (CMD_TRIM, 5 << 32, 0));
        assert!(Request::parse(&e, Framing::Simple).is_none());
        e[5] = CMD_FLAG_PAYLOAD_LEN as u8;
        assert_eq!(
            Request::parse(&e, Framing::Extended).unwrap().payload,
            5 << 32
        );
    }
}
