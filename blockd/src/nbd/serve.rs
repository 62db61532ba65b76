//! What each command does to the export's device, and the reply it gets.
//! `handle` serves a request either inline (`now`: only what needs no
//! waiting, through the device's `try_` calls, declining the rest) or on
//! a blocking thread (anything), appending the reply to a buffer.

use std::io;

use super::handshake::{Framing, Session};
use super::proto::*;
use super::reply;
use super::request::Request;
use crate::device::{BlockDevice, Extent};

/// Reads up to this long go out as one data chunk even over holes
/// (finding the holes would cost more than sending their zeros).
const HOLE_CHUNKS_ABOVE: u64 = 64 * 1024;
/// Longest write served inline; longer ones take a blocking thread.
const INLINE_MAX: u64 = 256 * 1024;
/// Longest read served inline (from memory or the page cache only). Large
/// reads served inline go out gathered (see `transmission::SEND_AT`),
/// which measured faster than sending each from a blocking thread: the
/// client finds several replies waiting instead of sleeping between them.
const INLINE_READ_MAX: u64 = 4 << 20;
/// Most block-status descriptors in one reply.
const MAX_DESCRIPTORS: usize = 512;

fn errno(e: &io::Error) -> u32 {
    match e.kind() {
        io::ErrorKind::StorageFull => ENOSPC,
        io::ErrorKind::Unsupported => ENOTSUP,
        _ => EIO,
    }
}

/// Serves `req` (with its `payload`) and appends its reply to `out`. With
/// `now`, answers false, leaving `out` as it was, if the request needs
/// waiting.
pub fn handle(s: &Session, req: &Request, payload: &[u8], now: bool, out: &mut Vec<u8>) -> bool {
    let mark = out.len();
    match run(s, req, payload, now, out) {
        Ok(true) => true,
        Ok(false) => {
            out.truncate(mark);
            false
        }
        Err(e) => {
            out.truncate(mark);
            tracing::warn!(export = %s.name, "device error: {e}");
            reply::error(out, s.framing, req, errno(&e), "device error");
            true
        }
    }
}

fn refuse(s: &Session, req: &Request, out: &mut Vec<u8>, err: u32, msg: &str) -> io::Result<bool> {
    reply::error(out, s.framing, req, err, msg);
    Ok(true)
}

fn done(s: &Session, req: &Request, out: &mut Vec<u8>) -> io::Result<bool> {
    reply::ok(out, s.framing, req);
    Ok(true)
}

fn run(
    s: &Session,
    req: &Request,
    payload: &[u8],
    now: bool,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let export = &s.export;
    let dev = export.device.as_ref();
    let (offset, len) = (req.offset, req.len);
    if req.payload > 0 && req.kind != CMD_WRITE {
        return refuse(s, req, out, EINVAL, "no payload expected");
    }
    let writes = matches!(req.kind, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
    if writes && export.read_only {
        return refuse(s, req, out, EPERM, "export is read-only");
    }
    let in_range = offset.checked_add(len).is_some_and(|end| end <= dev.size());
    if req.kind != CMD_FLUSH && !in_range {
        return refuse(s, req, out, EINVAL, "request beyond the end of the export");
    }
    let fua = req.flags & CMD_FLAG_FUA != 0;
    match req.kind {
        CMD_READ => {
            if len > u64::from(MAX_PAYLOAD) {
                return refuse(s, req, out, EOVERFLOW, "read larger than advertised");
            }
            if now && len > INLINE_READ_MAX {
                return Ok(false);
            }
            read(dev, s.framing, req, now, out)
        }
        CMD_WRITE => {
            if now {
                if fua || len > INLINE_MAX || !dev.try_write_at(payload, offset)? {
                    return Ok(false);
                }
            } else {
                dev.write_at(payload, offset)?;
                if fua {
                    dev.flush()?;
                }
            }
            done(s, req, out)
        }
        CMD_WRITE_ZEROES => {
            let may_punch = req.flags & CMD_FLAG_NO_HOLE == 0;
            if req.flags & CMD_FLAG_FAST_ZERO != 0 && !dev.zeroes_fast(may_punch) {
                return refuse(s, req, out, ENOTSUP, "zeroing is no faster than writing");
            }
            if now {
                return Ok(false);
            }
            dev.write_zeroes(offset, len, may_punch)?;
            if fua {
                dev.flush()?;
            }
            done(s, req, out)
        }
        CMD_FLUSH | CMD_TRIM if now => Ok(false),
        CMD_FLUSH => {
            dev.flush()?;
            done(s, req, out)
        }
        CMD_TRIM => {
            dev.trim(offset, len)?;
            if fua {
                dev.flush()?;
            }
            done(s, req, out)
        }
        CMD_CACHE => done(s, req, out),
        CMD_BLOCK_STATUS => {
            if !s.framing.chunked() || !s.base_allocation {
                return refuse(s, req, out, EINVAL, "no metadata context negotiated");
            }
            if len == 0 {
                return refuse(s, req, out, EINVAL, "empty range");
            }
            let Some(mut ext) = extents(dev, offset, len, now)? else {
                return Ok(false);
            };
            let one = req.flags & CMD_FLAG_REQ_ONE != 0;
            ext.truncate(if one { 1 } else { MAX_DESCRIPTORS });
            reply::block_status(out, s.framing, req, &ext);
            Ok(true)
        }
        _ => refuse(s, req, out, EINVAL, "unknown command"),
    }
}

fn extents(
    dev: &dyn BlockDevice,
    offset: u64,
    len: u64,
    now: bool,
) -> io::Result<Option<Vec<Extent>>> {
    if now {
        dev.try_extents(offset, len)
    } else {
        dev.extents(offset, len).map(Some)
    }
}

/// A read's reply: simple (data), one data chunk, or data and hole chunks.
fn read(
    dev: &dyn BlockDevice,
    framing: Framing,
    req: &Request,
    now: bool,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let len = req.len;
    if len == 0 {
        reply::ok(out, framing, req);
        return Ok(true);
    }
    let whole = !framing.chunked() || req.flags & CMD_FLAG_DF != 0 || len <= HOLE_CHUNKS_ABOVE;
    // One data extent (the common case) lives on the stack: no
    // allocation per read.
    let (one, found);
    let extents: &[Extent] = if whole {
        one = [Extent { len, hole: false }];
        &one
    } else {
        found = match extents(dev, req.offset, len, now)? {
            Some(e) => e,
            None => return Ok(false),
        };
        &found
    };
    if !framing.chunked() {
        reply::simple(out, 0, req.cookie);
    }
    let last = extents.len().saturating_sub(1);
    let mut at = req.offset;
    for (i, e) in extents.iter().enumerate() {
        if framing.chunked() {
            reply::content_chunk(out, framing, req, at, e, i == last);
        }
        if !e.hole {
            let start = out.len();
            out.resize(start + e.len as usize, 0);
            let buf = &mut out[start..];
            if now {
                if !dev.try_read_at(buf, at)? {
                    return Ok(false);
                }
            } else {
                dev.read_at(buf, at)?;
            }
        }
        at += e.len;
    }
    Ok(true)
}
