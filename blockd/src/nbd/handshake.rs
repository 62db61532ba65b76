//! The fixed newstyle handshake and option haggling: `GO`/`INFO` (with
//! export, name, description and block-size information), `EXPORT_NAME`,
//! `LIST` (which names nothing), `STRUCTURED_REPLY`,
//! `EXTENDED_HEADERS`, `LIST_META_CONTEXT`/`SET_META_CONTEXT` for
//! `base:allocation`, `ABORT`, and `STARTTLS` (refused by policy when no
//! TLS is configured; when TLS is required, every other option is refused
//! with `ERR_TLS_REQD` until it is up). `greet` sends the greeting; `haggle`
//! answers options until the client picks an export, asks for TLS (the
//! caller then wraps the stream and haggles again, from a clean state) or
//! leaves. Each reply goes out in one write.

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
    let mut msg = Vec::with_capacity(20 + data.len());
    msg.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    msg.extend_from_slice(&opt.to_be_bytes());
    msg.extend_from_slice(&kind.to_be_bytes());
    msg.extend_from_slice(&(data.len() as u32).to_be_bytes());
    msg.extend_from_slice(data);
    w.write_all(&msg).await?;
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

/// What the connection's TLS is.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsState {
    /// The server can do TLS.
    pub offered: bool,
    /// Nothing but `STARTTLS` (or `ABORT`) is answered without TLS.
    pub required: bool,
    /// The stream is already TLS.
    pub active: bool,
}

/// How option haggling ended.
pub enum Outcome {
    /// An export was chosen: transmission starts.
    Session(Session),
    /// `STARTTLS` was acknowledged: the TLS handshake comes next.
    StartTls,
    /// The client aborted or left.
    Aborted,
}

/// Sends the greeting and reads the client's flags; answers whether the
/// client asked for no zeroes after `EXPORT_NAME`.
pub async fn greet<S>(s: &mut S) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = NBDMAGIC.to_be_bytes().to_vec();
    hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
    hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    s.write_all(&hello).await?;
    s.flush().await?;
    let client_flags = s.read_u32().await?;
    if client_flags & FLAG_C_FIXED_NEWSTYLE == 0 {
        return Err(io::Error::other("client does not speak fixed newstyle"));
    }
    Ok(client_flags & FLAG_C_NO_ZEROES != 0)
}

/// Answers options until the client chooses an export, asks for TLS or
/// leaves.
pub async fn haggle<S>(
    s: &mut S,
    exports: &Exports,
    no_zeroes: bool,
    tls: TlsState,
) -> io::Result<Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framing = Framing::Simple;
    let mut contexts: Option<(String, bool)> = None;
    loop {
        let opt = match s.read_u64().await {
            Ok(IHAVEOPT) => s.read_u32().await?,
            Ok(_) => return Err(io::Error::other("bad option magic")),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Outcome::Aborted),
            Err(e) => return Err(e),
        };
        let len = s.read_u32().await?;
        if len > MAX_OPTION {
            // Too long to be anything this server understands: drop it.
            tokio::io::copy(&mut (&mut *s).take(u64::from(len)), &mut tokio::io::sink()).await?;
            if tls.required && !tls.active {
                error(s, opt, REP_ERR_TLS_REQD, "TLS is required").await?;
            } else {
                error(s, opt, REP_ERR_TOO_BIG, "option too long").await?;
            }
            continue;
        }
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).await?;
        if tls.required && !tls.active && !matches!(opt, OPT_STARTTLS | OPT_ABORT) {
            if opt == OPT_EXPORT_NAME {
                // No error reply exists for it: close.
                return Err(io::Error::other("EXPORT_NAME before TLS"));
            }
            error(s, opt, REP_ERR_TLS_REQD, "TLS is required").await?;
            continue;
        }
        match opt {
            OPT_ABORT => {
                let _ = reply(s, opt, REP_ACK, &[]).await;
                return Ok(Outcome::Aborted);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    error(s, opt, REP_ERR_INVALID, "LIST takes no data").await?;
                } else {
                    reply(s, opt, REP_ACK, &[]).await?;
                }
            }
            OPT_STARTTLS => {
                if !tls.offered {
                    error(s, opt, REP_ERR_POLICY, "TLS is not configured").await?;
                } else if tls.active {
                    error(s, opt, REP_ERR_INVALID, "TLS is already on").await?;
                } else if !data.is_empty() {
                    error(s, opt, REP_ERR_INVALID, "STARTTLS takes no data").await?;
                } else {
                    reply(s, opt, REP_ACK, &[]).await?;
                    return Ok(Outcome::StartTls);
                }
            }
            OPT_STRUCTURED_REPLY | OPT_EXTENDED_HEADERS => {
                let wanted = match opt {
                    OPT_EXTENDED_HEADERS => Framing::Extended,
                    _ => Framing::Structured,
                };
                if !data.is_empty() {
                    error(s, opt, REP_ERR_INVALID, "this option takes no data").await?;
                } else if framing == Framing::Extended {
                    // Asked twice, or a downgrade to structured replies.
                    let kind = match wanted {
                        Framing::Extended => REP_ERR_INVALID,
                        _ => REP_ERR_EXT_HEADER_REQD,
                    };
                    error(s, opt, kind, "extended headers already negotiated").await?;
                } else {
                    framing = wanted;
                    reply(s, opt, REP_ACK, &[]).await?;
                }
            }
            OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                let set = opt == OPT_SET_META_CONTEXT;
                if !framing.chunked() {
                    error(s, opt, REP_ERR_INVALID, "structured replies first").await?;
                    continue;
                }
                let Some((export, selected)) = matching_contexts(&data, !set) else {
                    error(s, opt, REP_ERR_INVALID, "malformed meta context request").await?;
                    continue;
                };
                if exports.get(&export).is_none() {
                    error(s, opt, REP_ERR_UNKNOWN, "no such export").await?;
                    continue;
                }
                if selected {
                    let mut ctx = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                    ctx.extend_from_slice(BASE_ALLOCATION.as_bytes());
                    reply(s, opt, REP_META_CONTEXT, &ctx).await?;
                }
                if set {
                    contexts = Some((export, selected));
                }
                reply(s, opt, REP_ACK, &[]).await?;
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
                let mut msg = export.device.size().to_be_bytes().to_vec();
                msg.extend_from_slice(&transmission_flags(&export, framing).to_be_bytes());
                if !no_zeroes {
                    msg.extend_from_slice(&[0u8; 124]);
                }
                s.write_all(&msg).await?;
                s.flush().await?;
                let base_allocation = contexts.as_ref().is_some_and(|(e, s)| *e == name && *s);
                return Ok(Outcome::Session(Session {
                    name,
                    export,
                    framing,
                    base_allocation,
                }));
            }
            OPT_INFO | OPT_GO => {
                let mut rest = &data[..];
                let Some(name) = take_string(&mut rest) else {
                    error(s, opt, REP_ERR_INVALID, "malformed export name").await?;
                    continue;
                };
                let count = rest.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                let Some(count) = count.filter(|c| rest.len() == 2 + 2 * usize::from(*c)) else {
                    error(s, opt, REP_ERR_INVALID, "malformed information requests").await?;
                    continue;
                };
                let requests: Vec<u16> = (0..usize::from(count))
                    .map(|i| u16::from_be_bytes([rest[2 + 2 * i], rest[3 + 2 * i]]))
                    .collect();
                let Some(export) = exports.get(&name) else {
                    error(s, opt, REP_ERR_UNKNOWN, "no such export").await?;
                    continue;
                };
                let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                info.extend_from_slice(&export.device.size().to_be_bytes());
                info.extend_from_slice(&transmission_flags(&export, framing).to_be_bytes());
                reply(s, opt, REP_INFO, &info).await?;
                if requests.contains(&INFO_NAME) {
                    let mut i = INFO_NAME.to_be_bytes().to_vec();
                    i.extend_from_slice(name.as_bytes());
                    reply(s, opt, REP_INFO, &i).await?;
                }
                if requests.contains(&INFO_DESCRIPTION) {
                    let mut i = INFO_DESCRIPTION.to_be_bytes().to_vec();
                    i.extend_from_slice(export.description.as_bytes());
                    reply(s, opt, REP_INFO, &i).await?;
                }
                if requests.contains(&INFO_BLOCK_SIZE) {
                    let mut i = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                    i.extend_from_slice(&MIN_BLOCK.to_be_bytes());
                    i.extend_from_slice(&PREFERRED_BLOCK.to_be_bytes());
                    i.extend_from_slice(&MAX_PAYLOAD.to_be_bytes());
                    reply(s, opt, REP_INFO, &i).await?;
                }
                reply(s, opt, REP_ACK, &[]).await?;
                if opt == OPT_GO {
                    let base_allocation = contexts.as_ref().is_some_and(|(e, s)| *e == name && *s);
                    return Ok(Outcome::Session(Session {
                        name,
                        export,
                        framing,
                        base_allocation,
                    }));
                }
            }
            _ => error(s, opt, REP_ERR_UNSUP, "option not supported").await?,
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
