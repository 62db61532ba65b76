//! Reply encoding: simple replies, structured chunks (20-byte headers) or
//! extended chunks (32-byte headers carrying the request's offset and a
//! 64-bit length), appended to one buffer per reply so that a reply, data
//! included, leaves in one write.

use super::handshake::Framing;
use super::proto::*;
use super::request::Request;
use crate::device::Extent;

/// Appends a simple reply header (data, if any, follows).
pub fn simple(out: &mut Vec<u8>, error: u32, cookie: u64) {
    out.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&cookie.to_be_bytes());
}

/// Appends a chunk header announcing `len` bytes of payload.
pub fn chunk(
    out: &mut Vec<u8>,
    framing: Framing,
    req: &Request,
    flags: u16,
    kind: u16,
    len: usize,
) {
    let extended = framing == Framing::Extended;
    let magic = if extended {
        EXTENDED_REPLY_MAGIC
    } else {
        STRUCTURED_REPLY_MAGIC
    };
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&req.cookie.to_be_bytes());
    if extended {
        out.extend_from_slice(&req.offset.to_be_bytes());
        out.extend_from_slice(&(len as u64).to_be_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Success without data.
pub fn ok(out: &mut Vec<u8>, framing: Framing, req: &Request) {
    match framing {
        Framing::Simple => simple(out, 0, req.cookie),
        _ => chunk(out, framing, req, REPLY_FLAG_DONE, REPLY_TYPE_NONE, 0),
    }
}

/// A failure, with a message where the framing carries one.
pub fn error(out: &mut Vec<u8>, framing: Framing, req: &Request, err: u32, msg: &str) {
    if framing == Framing::Simple {
        return simple(out, err, req.cookie);
    }
    chunk(
        out,
        framing,
        req,
        REPLY_FLAG_DONE,
        REPLY_TYPE_ERROR,
        6 + msg.len(),
    );
    out.extend_from_slice(&err.to_be_bytes());
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg.as_bytes());
}

/// A content chunk of a read for `e` at `at`: an `OFFSET_HOLE` chunk, or
/// an `OFFSET_DATA` chunk's header, the caller appending the bytes.
pub fn content_chunk(
    out: &mut Vec<u8>,
    framing: Framing,
    req: &Request,
    at: u64,
    e: &Extent,
    last: bool,
) {
    let flags = if last { REPLY_FLAG_DONE } else { 0 };
    if e.hole {
        chunk(out, framing, req, flags, REPLY_TYPE_OFFSET_HOLE, 12);
        out.extend_from_slice(&at.to_be_bytes());
        // A read is at most 32 MiB, and so are its holes.
        out.extend_from_slice(&(e.len as u32).to_be_bytes());
    } else {
        let len = 8 + e.len as usize;
        chunk(out, framing, req, flags, REPLY_TYPE_OFFSET_DATA, len);
        out.extend_from_slice(&at.to_be_bytes());
    }
}

/// A `base:allocation` status chunk: 32-bit descriptors, or 64-bit ones
/// (`BLOCK_STATUS_EXT`, with a descriptor count) under extended headers.
pub fn block_status(out: &mut Vec<u8>, framing: Framing, req: &Request, extents: &[Extent]) {
    let state = |e: &Extent| if e.hole { STATE_HOLE | STATE_ZERO } else { 0 };
    if framing == Framing::Extended {
        let len = 8 + 16 * extents.len();
        chunk(
            out,
            framing,
            req,
            REPLY_FLAG_DONE,
            REPLY_TYPE_BLOCK_STATUS_EXT,
            len,
        );
        out.extend_from_slice(&BASE_ALLOCATION_ID.to_be_bytes());
        out.extend_from_slice(&(extents.len() as u32).to_be_bytes());
        for e in extents {
            out.extend_from_slice(&e.len.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&state(e).to_be_bytes());
        }
    } else {
        let len = 4 + 8 * extents.len();
        chunk(
            out,
            framing,
            req,
            REPLY_FLAG_DONE,
            REPLY_TYPE_BLOCK_STATUS,
            len,
        );
        out.extend_from_slice(&BASE_ALLOCATION_ID.to_be_bytes());
        for e in extents {
            // Compact requests span under 4 GiB, and so do their extents.
            out.extend_from_slice(&(e.len as u32).to_be_bytes());
            out.extend_from_slice(&state(e).to_be_bytes());
        }
    }
}
