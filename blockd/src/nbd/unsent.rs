//! Sending a reply from a blocking thread without ever waiting there.
//! The thread that served a request writes its reply at once when the
//! connection's writer is free and the socket has room (the common case,
//! and the fastest: no hand-off). Whatever cannot go out at once (the
//! writer is busy, or the socket is full because the client is slow or
//! has stopped reading) is handed back, with the writer if a part is
//! already out, to the connection's task, which waits for the socket
//! without holding a thread: a client that stops reading cannot take the
//! blocking threads other connections need.

use std::io;
use std::sync::Arc;

use futures::FutureExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// What of a reply is left to send.
pub enum Unsent<W> {
    Nothing,
    /// Sent up to `.2`; the writer stays held so nothing else interleaves.
    Part(OwnedMutexGuard<W>, Vec<u8>, usize),
    Whole(Vec<u8>),
}

/// Writes as much of `reply` as goes without waiting; call from a thread
/// inside the runtime's context (a blocking thread of it).
pub fn send_now<W: AsyncWrite + Unpin>(
    writer: &Arc<Mutex<W>>,
    reply: Vec<u8>,
) -> io::Result<Unsent<W>> {
    let Ok(mut w) = writer.clone().try_lock_owned() else {
        return Ok(Unsent::Whole(reply));
    };
    let mut done = 0;
    while done < reply.len() {
        match w.write(&reply[done..]).now_or_never() {
            Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Some(Ok(n)) => done += n,
            Some(Err(e)) => return Err(e),
            None => return Ok(Unsent::Part(w, reply, done)),
        }
    }
    Ok(Unsent::Nothing)
}

impl<W: AsyncWrite + Unpin> Unsent<W> {
    /// Sends the rest, waiting as long as it takes.
    pub async fn finish(self, writer: &Mutex<W>) -> io::Result<()> {
        match self {
            Unsent::Nothing => Ok(()),
            Unsent::Part(mut w, reply, done) => w.write_all(&reply[done..]).await,
            Unsent::Whole(reply) => writer.lock().await.write_all(&reply).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_does_not_fit_is_left_to_finish_and_arrives_whole_and_in_order() {
        let (mut client, server) = tokio::io::duplex(1024);
        let writer = Arc::new(Mutex::new(server));
        let (first, second): (Vec<u8>, Vec<u8>) = (vec![1; 4000], vec![2; 10]);
        let w = writer.clone();
        let left = tokio::task::spawn_blocking(move || send_now(&w, first))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(left, Unsent::Part(_, _, 1024)), "only 1 KiB fits");
        // The writer stays held: a second reply waits for the first.
        let w = writer.clone();
        let queued = tokio::task::spawn_blocking(move || send_now(&w, second))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(queued, Unsent::Whole(_)));
        let (a, b) = (writer.clone(), writer.clone());
        let finishing = tokio::spawn(async move {
            left.finish(&a).await.unwrap();
            queued.finish(&b).await.unwrap();
        });
        let mut got = vec![0u8; 4010];
        client.read_exact(&mut got).await.unwrap();
        finishing.await.unwrap();
        assert!(got[..4000].iter().all(|&x| x == 1));
        assert!(got[4000..].iter().all(|&x| x == 2));
        // With room, all of it goes at once.
        let w = writer.clone();
        let sent = tokio::task::spawn_blocking(move || send_now(&w, vec![3; 100]))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(sent, Unsent::Nothing));
    }
}
