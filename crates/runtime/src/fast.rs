//! The fast channel: how the built-in Python bootstrap and the platform talk without HTTP.
//!
//! The Runtime API (`api.rs`) is what every runtime may use — `awslambdaric`, a custom
//! `bootstrap` — and it stays served for every environment. The built-in bootstrap, which the
//! platform writes itself, can skip HTTP: each of its environments gets one end of a Unix
//! socket pair (descriptor number in `_SLIPWAY_FAST_FD`, popped from the environment before the
//! handler is imported) and speaks these frames on it. An invoke is then one write and one read
//! on each side, with no HTTP parsing and no hop through the Runtime API server's task.
//!
//! Platform → runtime, one per invocation:
//!
//! ```text
//! u32 BE header length | u32 BE body length | header | body (the event)
//! header: request id \0 deadline ms \0 invoked function ARN \0 trace id \0 client context \0 cognito identity
//! ```
//!
//! (an empty client context or identity means none). The deadline is `+` and a number of
//! milliseconds for a frame written *ahead*: while the environment still runs another invocation
//! (see [`AheadWriter`]). The bootstrap counts that timeout from when it picks the frame up, and
//! writes a begin marker with the request ID on stdout before the invocation's first output, if
//! it has any, so that the platform attributes the lines that follow to it (`env.rs`).
//! Runtime → platform:
//!
//! ```text
//! u8 kind | u32 BE aux length | u32 BE body length | aux | body
//! N  ready (the first /next)                  aux empty, body empty
//! R  /invocation/{id}/response                aux = request id
//! r  the same, and nothing was written to stdout/stderr since the last flush marker, so
//!    none precedes it and the platform does not wait for one (saves a write and a wake-up
//!    of the log reader per quiet invoke)
//! E  /invocation/{id}/error                   aux = request id \0 error type
//! I  /init/error                              aux = error type
//! ```
//!
//! `R`, `r` and `E` may end their aux with one more field, `\0` and the process's peak resident
//! size in KiB (`getrusage(RUSAGE_SELF).ru_maxrss`, the kernel's `hiwater_rss`, which is what
//! `VmHWM` in `/proc/PID/status` shows). The platform then takes REPORT's `Max Memory Used`
//! from it instead of generating and parsing `/proc/PID/status` after every invocation, which
//! cost more CPU than anything else the platform did per warm invoke. The handler runs in that
//! process and could make the bootstrap under-report; that only mislabels its own REPORT line,
//! since the memory limit is enforced by the kernel (`limits.rs`), not by this figure.
//!
//! After the peak may come a second field: the microseconds from when the bootstrap took the
//! invocation's frame to its answer (the monotonic clock). The platform's own view of an
//! invocation also holds the time the answer waited to be read and the next frame to be
//! written, which on a machine with as many busy environments as cores is mostly the platform
//! waiting for a core; the profile that decides whether invokes wait for a busy environment
//! (`runtime.rs`) takes the bootstrap's figure, so that this wait does not make a CPU-bound
//! handler look like one that waits for I/O. The figure is only an input to that guess.
//!
//! The same rules as the Runtime API apply: a body over [`MAX_RESPONSE_BYTES`] is read and
//! dropped and the invocation ends as `ResponseTooLarge`; an answer for another request ID is
//! ignored (the HTTP server refuses it with 400); anything else unreadable ends the environment.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;

use bytes::Bytes;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::api::{ApiEvent, Invocation, MAX_RESPONSE_BYTES};

/// Environment variable naming the runtime's descriptor.
pub(crate) const FD_VAR: &str = "_SLIPWAY_FAST_FD";

/// Largest header or aux part accepted (request IDs, ARNs, error types are short).
const MAX_AUX_BYTES: usize = 64 * 1024;

/// What one read from the socket may take at most (a frame's rest goes straight to its body).
const READ_CHUNK: usize = 64 * 1024;

/// The platform's end.
///
/// The socket is registered with the reactor for reading only. A Unix stream socket signals
/// "writable" to whoever waits on it each time the peer reads (the kernel's `unix_write_space`
/// does not check whether a writer ever ran out of room, as TCP does), so a registration that
/// also asks for writability wakes a worker thread each time the runtime picks up an
/// invocation, for nothing. Frames are written without waiting, and only a write that finds the
/// socket full (an event of megabytes) waits for room, through a registration of its own.
pub(crate) struct FastChannel {
    socket: AsyncFd<UnixStream>,
    /// Bytes read and not consumed yet: `buf[start..end]`.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The last response read was an `r` frame.
    quiet: bool,
    /// The peak resident size the last answer reported, in KiB (cleared when an invocation is
    /// sent or begins ahead, so a timed-out or crashed invocation never shows an older figure).
    peak_kib: Option<u64>,
    /// The bootstrap's time from taking the invocation to answering it, in microseconds (cleared
    /// likewise).
    busy_us: Option<u64>,
}

impl FastChannel {
    /// Takes the platform's end; must be called within a Tokio runtime.
    pub(crate) fn new(stream: UnixStream) -> std::io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self {
            socket: register(stream, Interest::READABLE)?,
            buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            quiet: false,
            peak_kib: None,
            busy_us: None,
        })
    }

    /// Fills `out` from what was read before, then from the socket. `UnexpectedEof` when the
    /// runtime closed its end first.
    async fn read_exact(&mut self, mut out: &mut [u8]) -> std::io::Result<()> {
        loop {
            let buffered = (self.end - self.start).min(out.len());
            out[..buffered].copy_from_slice(&self.buf[self.start..self.start + buffered]);
            self.start += buffered;
            out = &mut out[buffered..];
            if out.is_empty() {
                return Ok(());
            }
            // The buffer is empty now: large rests are read in place, small ones through it.
            self.start = 0;
            self.end = 0;
            let direct = out.len() >= READ_CHUNK;
            let mut guard = self.socket.readable().await?;
            let target: &mut [u8] = if direct { out } else { &mut self.buf };
            match guard.try_io(|socket| socket.get_ref().read(target)) {
                Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(Ok(n)) if direct => out = &mut out[n..],
                Ok(Ok(n)) => self.end = n,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
            if out.is_empty() {
                return Ok(());
            }
        }
    }

    /// Writes all of `data`, waiting for room only when the socket is full.
    async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            match self.socket.get_ref().write(data) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // A second descriptor for the same socket, registered for writing until
                    // there is room: adding it reports room that came meanwhile at once.
                    let writer = register(self.socket.get_ref().try_clone()?, Interest::WRITABLE)?;
                    let _ = writer.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the last response came without a flush marker before it (an `r` frame).
    pub(crate) fn take_quiet(&mut self) -> bool {
        std::mem::take(&mut self.quiet)
    }

    /// The peak resident size, in bytes, the answer to the current invocation reported.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        self.peak_kib.map(|kib| kib * 1024)
    }

    /// How long the runtime worked on the current invocation by its own clock, from taking
    /// the frame to answering, when its answer said.
    pub(crate) fn busy(&self) -> Option<std::time::Duration> {
        self.busy_us.map(std::time::Duration::from_micros)
    }

    /// Clears what the last answer reported, for an invocation of which it says nothing
    /// (one that times out or crashes shows no older figure).
    pub(crate) fn forget_figures(&mut self) {
        self.peak_kib = None;
        self.busy_us = None;
    }

    /// Hands `invocation` to the runtime.
    pub(crate) async fn send(&mut self, invocation: &Invocation) -> std::io::Result<()> {
        self.forget_figures();
        let frame = encode_invocation(invocation, Deadline::At(invocation.deadline_ms));
        self.write_all(&frame).await
    }

    /// A writer of frames ahead for this channel, when its socket is roomy enough that a
    /// frame of up to [`MAX_AHEAD_BYTES`] always goes in whole beside another one.
    pub(crate) fn ahead_writer(&self) -> Option<AheadWriter> {
        let socket = self.socket.get_ref();
        let room = rustix::net::sockopt::socket_send_buffer_size(socket).ok()?;
        // Linux cuts a stream write into pieces of at most half the send buffer.
        if room / 2 < 4 * MAX_AHEAD_BYTES {
            return None;
        }
        Some(AheadWriter {
            socket: socket.try_clone().ok()?,
        })
    }

    /// The next thing the runtime says, as the Runtime API server would report it. `Err` when
    /// the runtime closed its end (it exited) or wrote something that is not a frame.
    pub(crate) async fn recv(&mut self) -> std::io::Result<ApiEvent> {
        let mut head = [0u8; 9];
        self.read_exact(&mut head).await?;
        let (kind, quiet) = match head[0] {
            b'r' => (b'R', true),
            other => (other, false),
        };
        self.quiet = quiet;
        let aux_len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let body_len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
        if aux_len > MAX_AUX_BYTES {
            return Err(invalid("an oversized frame header"));
        }
        let mut aux = vec![0u8; aux_len];
        self.read_exact(&mut aux).await?;
        let aux = String::from_utf8(aux).map_err(|_| invalid("a frame header not in UTF-8"))?;
        // The optional peak-memory and busy-time fields after the kind's own fields (one for
        // `R`, two for `E`).
        let (aux, peak, busy) = match kind {
            b'R' => split_figures(&aux, 1),
            b'E' => split_figures(&aux, 2),
            _ => (aux.as_str(), None, None),
        };
        self.peak_kib = peak;
        self.busy_us = busy;
        let aux = aux.to_owned();
        if body_len > MAX_RESPONSE_BYTES {
            // Read and dropped, a chunk at a time.
            let mut sink = vec![0u8; READ_CHUNK];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(sink.len());
                self.read_exact(&mut sink[..n]).await?;
                left -= n;
            }
            return match kind {
                b'R' | b'E' => Ok(ApiEvent::ResponseTooLarge {
                    request_id: aux.split('\0').next().unwrap_or_default().to_owned(),
                }),
                _ => Err(invalid("an oversized frame")),
            };
        }
        let mut body = vec![0u8; body_len];
        self.read_exact(&mut body).await?;
        let body = Bytes::from(body);
        let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        match kind {
            b'N' => Ok(ApiEvent::Ready),
            b'R' => Ok(ApiEvent::Response {
                request_id: aux,
                body,
            }),
            b'E' => {
                let (id, error_type) = aux.split_once('\0').unwrap_or((aux.as_str(), ""));
                Ok(ApiEvent::Error {
                    request_id: id.to_owned(),
                    error_type: none_if_empty(error_type),
                    body,
                })
            }
            b'I' => Ok(ApiEvent::InitError {
                error_type: none_if_empty(&aux),
                body,
            }),
            _ => Err(invalid("an unknown frame kind")),
        }
    }
}

/// Largest frame written ahead; a larger invocation waits for its environment instead.
pub(crate) const MAX_AHEAD_BYTES: usize = 16 * 1024;

/// Writes an invocation's frame while the environment still runs the ones before, so that the
/// runtime picks it up the moment it answered instead of sleeping until the platform has read
/// that answer and sent the next (a wake-up and a context switch on each side saved per
/// invocation under load; a hot loop of the bootstrap measured 85 µs of CPU per invocation in
/// lockstep against 46 µs four frames deep). Frames are no larger than [`MAX_AHEAD_BYTES`],
/// a few at a time, in a socket whose send buffer is at least eight times that: each goes as
/// one piece of the stream, so a write is whole or refused (`WouldBlock`), never partial.
pub(crate) struct AheadWriter {
    /// The same socket, through a second descriptor (not registered with the reactor).
    socket: UnixStream,
}

/// An invocation's frame for writing ahead: with a timeout counted from its pick-up, and no
/// larger than [`MAX_AHEAD_BYTES`].
pub(crate) struct AheadFrame(Vec<u8>);

impl AheadFrame {
    /// `invocation` with a timeout of `timeout_ms` counted from its pick-up; `None` when the
    /// frame is too large to go ahead.
    pub(crate) fn new(invocation: &Invocation, timeout_ms: u64) -> Option<Self> {
        // Not even encoded when the event alone is too large.
        if invocation.payload.len() > MAX_AHEAD_BYTES {
            return None;
        }
        let frame = encode_invocation(invocation, Deadline::After(timeout_ms));
        (frame.len() <= MAX_AHEAD_BYTES).then_some(Self(frame))
    }
}

impl AheadWriter {
    /// Writes `frame`. `Err` when the socket refused it (nothing written, or, in part, the
    /// channel closed).
    pub(crate) fn write(&self, frame: &AheadFrame) -> std::io::Result<()> {
        let frame = &frame.0;
        loop {
            return match (&self.socket).write(frame) {
                Ok(n) if n == frame.len() => Ok(()),
                Ok(_) => {
                    // Cannot happen (see above); if it did, the stream would be out of step:
                    // closing it ends the environment and its invocation as a crash.
                    let _ = self.socket.shutdown(std::net::Shutdown::Both);
                    Err(std::io::ErrorKind::WriteZero.into())
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }
}

/// The deadline field of a frame.
#[derive(Clone, Copy)]
enum Deadline {
    /// Milliseconds since the epoch.
    At(u64),
    /// A timeout counted from when the runtime picks the frame up (a frame written ahead).
    After(u64),
}

/// `socket` registered with the reactor for `interest` only (Tokio's own `UnixStream` always
/// asks for both directions).
#[allow(unsafe_code)]
fn register(socket: UnixStream, interest: Interest) -> std::io::Result<AsyncFd<UnixStream>> {
    // SAFETY: `register_with_interest` needs the descriptor to stay open and the same for as
    // long as the `AsyncFd` lives. The `UnixStream` owns it, the `AsyncFd` owns the stream,
    // and nothing here swaps or closes it.
    Ok(unsafe { AsyncFd::register_with_interest(socket, interest) }?)
}

/// `aux` without its trailing figures — the peak memory, then the busy time — when it has one
/// or two more `\0`-separated fields than the kind's `fields`, and those figures.
fn split_figures(aux: &str, fields: usize) -> (&str, Option<u64>, Option<u64>) {
    // `fields` fields have `fields - 1` separators.
    let extra = (aux.matches('\0').count() + 1).saturating_sub(fields);
    if extra > 2 {
        return (aux, None, None);
    }
    let mut rest = aux;
    let mut figures = [None, None];
    for slot in figures[..extra].iter_mut().rev() {
        if let Some((before, figure)) = rest.rsplit_once('\0') {
            *slot = figure.parse().ok();
            rest = before;
        }
    }
    (rest, figures[0], figures[1])
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the bootstrap wrote {what} on the fast channel"),
    )
}

/// An invocation as one frame. Fields cannot contain `\0`: IDs and ARNs are the platform's,
/// and client context / identity are JSON text, where a NUL is escaped.
fn encode_invocation(inv: &Invocation, deadline: Deadline) -> Vec<u8> {
    let deadline = match deadline {
        Deadline::At(ms) => ms.to_string(),
        Deadline::After(ms) => format!("+{ms}"),
    };
    let fields: [&str; 6] = [
        &inv.request_id,
        &deadline,
        &inv.invoked_function_arn,
        &inv.trace_id,
        inv.client_context.as_deref().unwrap_or(""),
        inv.cognito_identity.as_deref().unwrap_or(""),
    ];
    let header_len = fields.iter().map(|f| f.len()).sum::<usize>() + fields.len() - 1;
    let mut frame = Vec::with_capacity(8 + header_len + inv.payload.len());
    frame.extend_from_slice(&(header_len as u32).to_be_bytes());
    frame.extend_from_slice(&(inv.payload.len() as u32).to_be_bytes());
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            frame.push(0);
        }
        frame.extend_from_slice(f.as_bytes());
    }
    frame.extend_from_slice(&inv.payload);
    frame
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn frame(kind: u8, aux: &[u8], body: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&(aux.len() as u32).to_be_bytes());
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(aux);
        f.extend_from_slice(body);
        f
    }

    #[tokio::test]
    async fn frames_both_ways() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        let mut theirs = tokio::net::UnixStream::from_std(theirs).unwrap();
        let mut ch = FastChannel::new(ours).unwrap();
        let inv = Invocation {
            request_id: "r1".into(),
            deadline_ms: 42,
            invoked_function_arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            trace_id: "Root=1".into(),
            client_context: None,
            cognito_identity: Some("{}".into()),
            payload: Bytes::from_static(b"{\"a\":1}"),
        };
        ch.send(&inv).await.unwrap();
        let mut got = vec![0u8; 8];
        theirs.read_exact(&mut got).await.unwrap();
        let hl = u32::from_be_bytes(got[..4].try_into().unwrap()) as usize;
        let bl = u32::from_be_bytes(got[4..].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; hl + bl];
        theirs.read_exact(&mut rest).await.unwrap();
        assert_eq!(
            &rest[..hl],
            b"r1\x0042\x00arn:aws:lambda:us-east-1:1:function:f\x00Root=1\x00\x00{}"
        );
        assert_eq!(&rest[hl..], b"{\"a\":1}");

        let mut out = frame(b'N', b"", b"");
        out.extend(frame(b'R', b"r1", b"\"ok\""));
        out.extend(frame(b'r', b"r1", b"\"quiet\""));
        out.extend(frame(b'E', b"r2\0Runtime.Boom", b"{}"));
        out.extend(frame(b'R', b"r4\x0012345", b"\"peak\""));
        out.extend(frame(b'E', b"r5\0Runtime.Boom\x00678", b"{}"));
        out.extend(frame(b'r', b"r6\x00679\x0041", b"\"busy\""));
        out.extend(frame(b'I', b"", b"{}"));
        out.extend(frame(b'R', b"r3", &vec![b'x'; MAX_RESPONSE_BYTES + 1]));
        out.extend(frame(b'Z', b"", b""));
        let writer = tokio::spawn(async move {
            theirs.write_all(&out).await.unwrap();
            theirs
        });
        assert!(matches!(ch.recv().await.unwrap(), ApiEvent::Ready));
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::Response { request_id, body } if request_id == "r1" && &body[..] == b"\"ok\"")
        );
        assert!(!ch.take_quiet());
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::Response { request_id, body } if request_id == "r1" && &body[..] == b"\"quiet\"")
        );
        assert!(ch.take_quiet());
        assert!(!ch.take_quiet());
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::Error { request_id, error_type: Some(t), .. } if request_id == "r2" && t == "Runtime.Boom")
        );
        assert_eq!(ch.peak_bytes(), None);
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::Response { request_id, body } if request_id == "r4" && &body[..] == b"\"peak\"")
        );
        assert_eq!(ch.peak_bytes(), Some(12345 * 1024));
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::Error { request_id, error_type: Some(t), .. } if request_id == "r5" && t == "Runtime.Boom")
        );
        assert_eq!(ch.peak_bytes(), Some(678 * 1024));
        assert_eq!(ch.busy(), None);
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::Response { request_id, body } if request_id == "r6" && &body[..] == b"\"busy\"")
        );
        assert_eq!(ch.peak_bytes(), Some(679 * 1024));
        assert_eq!(ch.busy(), Some(std::time::Duration::from_micros(41)));
        assert!(matches!(
            ch.recv().await.unwrap(),
            ApiEvent::InitError {
                error_type: None,
                ..
            }
        ));
        assert!(
            matches!(ch.recv().await.unwrap(), ApiEvent::ResponseTooLarge { request_id } if request_id == "r3")
        );
        assert_eq!(
            ch.recv().await.unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        drop(writer.await.unwrap());
        assert_eq!(
            ch.recv().await.unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }
}
