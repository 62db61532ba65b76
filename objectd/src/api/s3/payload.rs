//! Request bodies as their signature declares them: passed through
//! (`UNSIGNED-PAYLOAD`), hashed and compared with `x-amz-content-sha256`, or
//! decoded from aws-chunked with every chunk signature checked. A body that
//! fails ends its stream with an error instead of its end, so the upload
//! pipeline stores nothing; the reason waits in the `BodyCheck`.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use http::StatusCode;
use http_body_util::{BodyDataStream, BodyExt};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::error::S3Error;
use super::sigv4::{ChunkSigner, Payload, Verified};
use crate::proxy::put::BodyStream;

/// Why a body stream failed, if it did.
#[derive(Default)]
pub struct BodyCheck {
    failure: Mutex<Option<S3Error>>,
}

impl BodyCheck {
    fn fail(&self, e: S3Error) -> io::Error {
        let err = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        *self.failure.lock().expect("body check lock never poisoned") = Some(e);
        err
    }

    /// The S3 error of a failed body.
    pub fn failure(&self) -> Option<S3Error> {
        self.failure
            .lock()
            .expect("body check lock never poisoned")
            .clone()
    }
}

/// The body as a checked stream of its decoded bytes.
pub fn stream(body: Incoming, verified: &Verified) -> (BodyStream, Arc<BodyCheck>) {
    let raw: BodyStream = Box::pin(BodyDataStream::new(body).map(|r| r.map_err(io::Error::other)));
    checked(raw, verified)
}

/// Wraps a raw body stream with the checks its payload mode needs.
pub fn checked(raw: BodyStream, verified: &Verified) -> (BodyStream, Arc<BodyCheck>) {
    let check = Arc::new(BodyCheck::default());
    let s = match &verified.payload {
        Payload::Unsigned => raw,
        Payload::Sha256(want) => sha256_checked(raw, want.clone(), check.clone()),
        Payload::StreamingSigned => aws_chunked(raw, verified.chunk_signer.clone(), check.clone()),
        Payload::StreamingUnsignedTrailer => aws_chunked(raw, None, check.clone()),
    };
    (s, check)
}

/// Reads a whole (small) body, checked; bodies over `limit` are refused.
pub async fn read_all(body: Incoming, verified: &Verified, limit: usize) -> Result<Bytes, S3Error> {
    let (mut s, check) = stream(body, verified);
    let mut out = BytesMut::new();
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(c) => {
                out.extend_from_slice(&c);
                if out.len() > limit {
                    return Err(S3Error::new(
                        "MaxMessageLengthExceeded",
                        StatusCode::BAD_REQUEST,
                        "Your request was too big.",
                    ));
                }
            }
            Err(_) => {
                return Err(check.failure().unwrap_or_else(|| {
                    S3Error::new(
                        "IncompleteBody",
                        StatusCode::BAD_REQUEST,
                        "The request body could not be read.",
                    )
                }))
            }
        }
    }
    Ok(out.freeze())
}

/// Drains and drops a body nobody needs.
pub async fn discard(body: Incoming) {
    let _ = body.collect().await;
}

fn sha256_mismatch() -> S3Error {
    S3Error::new(
        "XAmzContentSHA256Mismatch",
        StatusCode::BAD_REQUEST,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
}

fn sha256_checked(raw: BodyStream, want: String, check: Arc<BodyCheck>) -> BodyStream {
    let state = (raw, Some(Sha256::new()));
    Box::pin(futures::stream::unfold(state, move |(mut raw, hasher)| {
        let want = want.clone();
        let check = check.clone();
        async move {
            let mut hasher = hasher?;
            match raw.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    Some((Ok(chunk), (raw, Some(hasher))))
                }
                Some(Err(e)) => Some((Err(e), (raw, None))),
                None => {
                    if hex::encode(hasher.finalize()) == want {
                        None
                    } else {
                        Some((Err(check.fail(sha256_mismatch())), (raw, None)))
                    }
                }
            }
        }
    }))
}

/// Longest chunk header line accepted.
const MAX_HEADER_LINE: usize = 4096;

enum Phase {
    /// Expecting `hex-size[;chunk-signature=sig]\r\n`.
    Header,
    /// Inside a chunk's data with this much left.
    Data {
        left: u64,
    },
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty one.
    Trailer,
    Done,
}

struct Decoder {
    raw: BodyStream,
    buf: BytesMut,
    phase: Phase,
    signer: Option<ChunkSigner>,
    hasher: Sha256,
    signature: String,
    check: Arc<BodyCheck>,
    /// The raw body has ended.
    ended: bool,
    /// The last (empty) chunk has been seen.
    final_seen: bool,
}

fn bad_chunk(msg: &str) -> S3Error {
    S3Error::new("IncompleteBody", StatusCode::BAD_REQUEST, msg)
}

impl Decoder {
    /// Takes one `\r\n`-terminated line from the buffer, if complete.
    fn line(&mut self) -> Result<Option<String>, S3Error> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(pos) => {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                self.buf.advance(pos + 2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_HEADER_LINE => Err(bad_chunk("chunk header too long")),
            None => Ok(None),
        }
    }

    /// Checks the signature of the chunk just finished.
    fn finish_chunk(&mut self) -> Result<(), S3Error> {
        let digest = std::mem::take(&mut self.hasher).finalize();
        if let Some(signer) = self.signer.as_mut() {
            let want = signer.next(&digest);
            if want != self.signature {
                return Err(S3Error::signature_mismatch());
            }
        }
        Ok(())
    }

    /// Advances until there are bytes to hand out, the end, or a failure.
    fn step(&mut self) -> Result<Option<Bytes>, S3Error> {
        loop {
            match self.phase {
                Phase::Header => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    let (size, sig) = match line.split_once(';') {
                        Some((s, ext)) => (s, ext.strip_prefix("chunk-signature=")),
                        None => (line.as_str(), None),
                    };
                    let size = u64::from_str_radix(size.trim(), 16)
                        .map_err(|_| bad_chunk("invalid chunk size"))?;
                    match (self.signer.is_some(), sig) {
                        (true, Some(sig)) => self.signature = sig.trim().to_string(),
                        (true, None) => return Err(S3Error::signature_mismatch()),
                        _ => {}
                    }
                    if size == 0 {
                        self.finish_chunk()?;
                        self.final_seen = true;
                        self.phase = if self.signer.is_some() {
                            Phase::DataEnd
                        } else {
                            Phase::Trailer
                        };
                    } else {
                        self.phase = Phase::Data { left: size };
                    }
                }
                Phase::Data { left } => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (self.buf.len() as u64).min(left) as usize;
                    let data = self.buf.split_to(n).freeze();
                    self.hasher.update(&data);
                    self.phase = if left == n as u64 {
                        Phase::DataEnd
                    } else {
                        Phase::Data {
                            left: left - n as u64,
                        }
                    };
                    return Ok(Some(data));
                }
                Phase::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad_chunk("chunk data longer than its size"));
                    }
                    self.buf.advance(2);
                    if self.final_seen {
                        // The final, empty chunk was checked when its header came.
                        self.phase = Phase::Done;
                        continue;
                    }
                    self.finish_chunk()?;
                    self.phase = Phase::Header;
                }
                Phase::Trailer => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.phase = Phase::Done;
                    }
                }
                Phase::Done => return Ok(None),
            }
        }
    }
}

fn aws_chunked(raw: BodyStream, signer: Option<ChunkSigner>, check: Arc<BodyCheck>) -> BodyStream {
    let decoder = Decoder {
        raw,
        buf: BytesMut::new(),
        phase: Phase::Header,
        signer,
        hasher: Sha256::new(),
        signature: String::new(),
        check,
        ended: false,
        final_seen: false,
    };
    Box::pin(futures::stream::unfold(Some(decoder), |d| async move {
        let mut d = d?;
        loop {
            match d.step() {
                Ok(Some(bytes)) => return Some((Ok(bytes), Some(d))),
                Ok(None) if matches!(d.phase, Phase::Done) => return None,
                Ok(None) if d.ended => {
                    let e = d.check.fail(bad_chunk("the aws-chunked body ended early"));
                    return Some((Err(e), None));
                }
                Ok(None) => match d.raw.next().await {
                    Some(Ok(c)) => d.buf.extend_from_slice(&c),
                    Some(Err(e)) => return Some((Err(e), None)),
                    None => d.ended = true,
                },
                Err(e) => {
                    let e = d.check.fail(e);
                    return Some((Err(e), None));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests;
