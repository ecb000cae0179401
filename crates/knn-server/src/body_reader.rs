//! A request body as a blocking `Read`, one received frame at a time, so that a parser can
//! consume it as it arrives instead of after it was buffered whole. Run it on a blocking thread
//! (`tokio::task::spawn_blocking`): each read waits for the next frame on the runtime.
//!
//! A read that cannot go on records why ([`BodyFailure`]), since the parser reports only that
//! reading failed.

use std::io::{self, Read};
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use tokio::runtime::Handle;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// The body passed the size limit (tower-http's `RequestBodyLimitLayer`).
    TooLarge,
    /// The deadline came before the body's end.
    Deadline,
    /// The connection failed or the body could not be decompressed.
    Broken,
}

pub struct BodyReader {
    body: Body,
    runtime: Handle,
    deadline: Option<Instant>,
    frame: Bytes,
    /// How much of `frame` was read: the parser reads a byte at a time, so the frame is indexed
    /// rather than split at each read.
    read: usize,
    pub failure: Option<BodyFailure>,
}

impl BodyReader {
    pub fn new(body: Body, runtime: Handle, deadline: Option<Instant>) -> BodyReader {
        BodyReader {
            body,
            runtime,
            deadline,
            frame: Bytes::new(),
            read: 0,
            failure: None,
        }
    }

    /// The first byte that is not JSON whitespace, left unread; `None` for a body of whitespace.
    pub fn first_significant_byte(&mut self) -> io::Result<Option<u8>> {
        loop {
            let skip = self
                .unread()
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            self.read += skip;
            if let Some(&first) = self.unread().first() {
                return Ok(Some(first));
            }
            if !self.next_frame()? {
                return Ok(None);
            }
        }
    }

    fn unread(&self) -> &[u8] {
        &self.frame[self.read..]
    }

    /// Waits for the next data frame; false at the body's end.
    fn next_frame(&mut self) -> io::Result<bool> {
        let body = &mut self.body;
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx));
        let received = match self.deadline {
            Some(at) => self
                .runtime
                .block_on(async { tokio::time::timeout_at(at, frame).await })
                .map_err(|_| BodyFailure::Deadline),
            None => Ok(self.runtime.block_on(frame)),
        };
        let failure = match received {
            Ok(None) => return Ok(false),
            Ok(Some(Ok(frame))) => {
                // Trailers carry no data.
                self.frame = frame.into_data().unwrap_or_default();
                self.read = 0;
                return Ok(true);
            }
            Ok(Some(Err(error))) => {
                let mut causes =
                    std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source());
                if causes.any(|cause| cause.is::<http_body_util::LengthLimitError>()) {
                    BodyFailure::TooLarge
                } else {
                    BodyFailure::Broken
                }
            }
            Err(deadline) => deadline,
        };
        self.failure = Some(failure);
        Err(io::Error::other(format!("{failure:?}")))
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.unread().is_empty() {
            if !self.next_frame()? {
                return Ok(0);
            }
        }
        let unread = self.unread();
        let n = buf.len().min(unread.len());
        buf[..n].copy_from_slice(&unread[..n]);
        self.read += n;
        Ok(n)
    }
}
