//! The fixed newstyle handshake and option haggling: `GO`/`INFO` (with
//! export, name, description and block-size information), `EXPORT_NAME`,
//! `LIST` (which names nothing), `STRUCTURED_REPLY`,
//! `EXTENDED_HEADERS`, `LIST_META_CONTEXT`/`SET_META_CONTEXT` for
//! `base:allocation`, `ABORT`; `STARTTLS` is refused by policy (no TLS
//! configured) and anything else is unsupported.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::proto::*;
use super::{Export, Exports};

/// Longest option payload read (names and queries are short).
const MAX_OPTION: u32 = 64 * 1024;

/// How transmission messages are framed, as negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Compact requests; simple replies only.
    Simple,
    /// Compact requests; structured replies.
    Structured,
    /// Extended requests and replies (32-byte headers, 64-bit lengths).
    Extended,
}

impl Framing {
    /// Whether replies come as chunks (structured or extended).
    pub fn chunked(self) -> bool {
        self != Framing::Simple
    }
}

/// What the handshake agreed on.
pub struct Session {
    pub name: String,
    pub export: Export,
    pub framing: Framing,
    /// Whether `base:allocation` was selected for block status.
    pub base_allocation: bool,
}

/// Transmission flags of an export.
pub fn transmission_flags(export: &Export, framing: Framing) -> u16 {
    let mut f = TF_HAS_FLAGS
        | TF_SEND_FLUSH
        | TF_SEND_FUA
        | TF_SEND_TRIM
        | TF_SEND_WRITE_ZEROES
        | TF_CAN_MULTI_CONN
        | TF_SEND_CACHE
        | TF_SEND_FAST_ZERO;
    if framing.chunked() {
        f |= TF_SEND_DF;
    }
    if export.read_only {
        f |= TF_READ_ONLY;
    }
    f
}

async fn reply<W: AsyncWrite + Unpin>(
    w: &mut W,
    opt: u32,
    kind: u32,
    data: &[u8],
) -> io::Result<()> {
    w.write_u64(REPLY_MAGIC).await?;
    w.write_u32(opt).await?;
    w.write_u32(kind).await?;
    w.write_u32(data.len() as u32).await?;
    w.write_all(data).await?;
    w.flush().await
}

async fn error<W: AsyncWrite + Unpin>(w: &mut W, opt: u32, kind: u32, msg: &str) -> io::Result<()> {
    reply(w, opt, kind, msg.as_bytes()).await
}

/// Splits a length-prefixed string off the front of `data`.
fn take_string(data: &mut &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let s = data.get(4..4 + len)?;
    let s = String::from_utf8(s.to_vec()).ok()?;
    *data = &data[4 + len..];
    Some(s)
}

/// The meta contexts a query list selects (only `base:allocation` exists).
fn matching_contexts(mut data: &[u8], list: bool) -> Option<(String, bool)> {
    let export = take_string(&mut data)?;
    let count = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
    data = &data[4..];
    let mut selected = list && count == 0;
    for _ in 0..count {
        let q = take_string(&mut data)?;
        if q == BASE_ALLOCATION || (list && (q == "base:" || q == "base:allocation")) {
            selected = true;
        }
    }
    data.is_empty().then_some((export, selected))
}

/// Runs the handshake; answers the agreed session, or `None` if the
/// client aborted or left.
pub async fn negotiate<R, W>(r: &mut R, w: &mut W, exports: &Exports) -> io::Result<Option<Session>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    w.write_u64(NBDMAGIC).await?;
    w.write_u64(IHAVEOPT).await?;
    w.write_u16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).await?;
    w.flush().await?;
    let client_flags = r.read_u32().await?;
    if client_flags & FLAG_C_FIXED_NEWSTYLE == 0 {
        return Err(io::Error::other("client does not speak fixed newstyle"));
    }
    let no_zeroes = client_flags & FLAG_C_NO_ZEROES != 0;
    let mut framing = Framing::Simple;
    let mut contexts: Option<(String, bool)> = None;
    loop {
        if r.read_u64().await? != IHAVEOPT {
            return Err(io::Error::other("bad option magic"));
        }
        let opt = r.read_u32().await?;
        let len = r.read_u32().await?;
        if len > MAX_OPTION {
            // Too long to be anything this server understands: drop it.
            tokio::io::copy(&mut r.take(u64::from(len)), &mut tokio::io::sink()).await?;
            error(w, opt, REP_ERR_TOO_BIG, "option too long").await?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        r.read_exact(&mut data).await?;
        match opt {
            OPT_ABORT => {
                let _ = reply(w, opt, REP_ACK, &[]).await;
                return Ok(None);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    error(w, opt, REP_ERR_INVALID, "LIST takes no data").await?;
                } else {
                    reply(w, opt, REP_ACK, &[]).await?;
                }
            }
            OPT_STARTTLS => error(w, opt, REP_ERR_POLICY, "TLS is not configured").await?,
            OPT_STRUCTURED_REPLY | OPT_EXTENDED_HEADERS => {
                let wanted = match opt {
                    OPT_EXTENDED_HEADERS => Framing::Extended,
                    _ => Framing::Structured,
                };
                if !data.is_empty() {
                    error(w, opt, REP_ERR_INVALID, "this option takes no data").await?;
                } else if framing == Framing::Extended {
                    // Asked twice, or a downgrade to structured replies.
                    let kind = match wanted {
                        Framing::Extended => REP_ERR_INVALID,
                        _ => REP_ERR_EXT_HEADER_REQD,
                    };
                    error(w, opt, kind, "extended headers already negotiated").await?;
                } else {
                    framing = wanted;
                    reply(w, opt, REP_ACK, &[]).await?;
                }
            }
            OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                let set = opt == OPT_SET_META_CONTEXT;
                if !framing.chunked() {
                    error(w, opt, REP_ERR_INVALID, "structured replies first").await?;
                    continue;
                }
                let Some((export, selected)) = matching_contexts(&data, !set) else {
                    error(w, opt, REP_ERR_INVALID, "malformed meta context request").await?;
                    continue;
                };
                if exports.get(&export).is_none() {
                    error(w, opt, REP_ERR_UNKNOWN, "no such export").await?;
                    continue;
                }
                if selected {
                    let mut ctx = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                    ctx.extend_from_slice(BASE_ALLOCATION.as_bytes());
                    reply(w, opt, REP_META_CONTEXT, &ctx).await?;
                }
                if set {
                    contexts = Some((export, selected));
                }
                reply(w, opt, REP_ACK, &[]).await?;
            }
            OPT_EXPORT_NAME => {
                if framing == Framing::Extended {
                    // Forbidden after extended headers, and unanswerable.
                    return Err(io::Error::other("EXPORT_NAME after extended headers"));
                }
                let name = String::from_utf8_lossy(&data).into_owned();
                let Some(export) = exports.get(&name) else {
                    // The protocol has no error reply here: close.
                    return Err(io::Error::other("unknown export requested"));
                };
                w.write_u64(export.device.size()).await?;
                w.write_u16(transmission_flags(&export, framing)).await?;
                if !no_zeroes {
                    w.write_all(&[0u8; 124]).await?;
                }
                w.flush().await?;
                let base_allocation = contexts.as_ref().is_some_and(|(e, s)| *e == name && *s);
                return Ok(Some(Session {
                    name,
                    export,
                    framing,
                    base_allocation,
                }));
            }
            OPT_INFO | OPT_GO => {
                let mut rest = &data[..];
                let Some(name) = take_string(&mut rest) else {
                    error(w, opt, REP_ERR_INVALID, "malformed export name").await?;
                    continue;
                };
                let count = rest.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                let Some(count) = count.filter(|c| rest.len() == 2 + 2 * usize::from(*c)) else {
                    error(w, opt, REP_ERR_INVALID, "malformed information requests").await?;
                    continue;
                };
                let requests: Vec<u16> = (0..usize::from(count))
                    .map(|i| u16::from_be_bytes([rest[2 + 2 * i], rest[3 + 2 * i]]))
                    .collect();
                let Some(export) = exports.get(&name) else {
                    error(w, opt, REP_ERR_UNKNOWN, "no such export").await?;
                    continue;
                };
                let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                info.extend_from_slice(&export.device.size().to_be_bytes());
                info.extend_from_slice(&transmission_flags(&export, framing).to_be_bytes());
                reply(w, opt, REP_INFO, &info).await?;
                if requests.contains(&INFO_NAME) {
                    let mut i = INFO_NAME.to_be_bytes().to_vec();
                    i.extend_from_slice(name.as_bytes());
                    reply(w, opt, REP_INFO, &i).await?;
                }
                if requests.contains(&INFO_DESCRIPTION) {
                    let mut i = INFO_DESCRIPTION.to_be_bytes().to_vec();
                    i.extend_from_slice(export.description.as_bytes());
                    reply(w, opt, REP_INFO, &i).await?;
                }
                if requests.contains(&INFO_BLOCK_SIZE) {
                    let mut i = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                    i.extend_from_slice(&MIN_BLOCK.to_be_bytes());
                    i.extend_from_slice(&PREFERRED_BLOCK.to_be_bytes());
                    i.extend_from_slice(&MAX_PAYLOAD.to_be_bytes());
                    reply(w, opt, REP_INFO, &i).await?;
                }
                reply(w, opt, REP_ACK, &[]).await?;
                if opt == OPT_GO {
                    let base_allocation = contexts.as_ref().is_some_and(|(e, s)| *e == name && *s);
                    return Ok(Some(Session {
                        name,
                        export,
                        framing,
                        base_allocation,
                    }));
                }
            }
            _ => error(w, opt, REP_ERR_UNSUP, "option not supported").await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(export: &str, queries: &[&str]) -> Vec<u8> {
        let mut d = (export.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(export.as_bytes());
        d.extend_from_slice(&(queries.len() as u32).to_be_bytes());
        for q in queries {
            d.extend_from_slice(&(q.len() as u32).to_be_bytes());
            d.extend_from_slice(q.as_bytes());
        }
        d
    }

    #[test]
    fn meta_context_queries() {
        assert_eq!(
            matching_contexts(&query("v", &["base:allocation"]), false),
            Some(("v".into(), true))
        );
        assert_eq!(
            matching_contexts(&query("v", &["qemu:dirty-bitmap:x"]), false),
            Some(("v".into(), false))
        );
        assert_eq!(
            matching_contexts(&query("v", &[]), true),
            Some(("v".into(), true))
        );
        assert_eq!(
            matching_contexts(&query("v", &["base:"]), true),
            Some(("v".into(), true))
        );
        let mut bad = query("v", &["base:allocation"]);
        bad.push(0);
        assert_eq!(matching_contexts(&bad, false), None);
        assert_eq!(matching_contexts(&[0, 0, 0, 9], false), None);
    }
}
