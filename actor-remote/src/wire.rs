//! The wire format: one binary frame per request and per reply, versioned, with the message's
//! arguments and the reply's value as JSON (named fields, so that a newer release may add
//! fields with defaults and still read an older sender's messages).
//!
//! A request:
//!
//! | bytes | what |
//! |---|---|
//! | 1 | wire version ([`WIRE_VERSION`]) |
//! | 1 | kind: 0 ask, 1 tell, 2 ping |
//! | 1 + n | the actor's type tag (its name), length-prefixed |
//! | 1 + n | the message's tag (its handler's name), length-prefixed |
//! | 4 | the sender's protocol version of the actor (little-endian) |
//! | 4 | how long the caller waits for the reply, in milliseconds (little-endian; 0: not said) |
//! | 2 + n | the sender's trace context, a JSON object, length-prefixed (0: none; a context over 64 KiB is not sent) |
//! | rest | the arguments, a JSON object |
//!
//! A reply: the wire version, a status byte ([`Status`]), then the value as JSON (status 0),
//! the server's protocol version (status [`Status::Version`], 4 bytes), or a UTF-8 explanation.
//!
//! Decoding never panics: every length is checked, and a frame that does not parse is an
//! error value.

use actor_core::trace::TraceContext;

/// The version of the frame layout itself; a frame of another version is refused.
pub const WIRE_VERSION: u8 = 1;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message whose reply the sender waits for.
    Ask,
    /// A message sent at most once, without a reply.
    Tell,
    /// A liveness check: the server answers with its protocol version.
    Ping,
}

/// A request as read from the wire (borrowing the frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Ask, tell or ping.
    pub kind: Kind,
    /// The actor's type tag.
    pub actor: &'a str,
    /// The message's tag.
    pub message: &'a str,
    /// The sender's protocol version.
    pub version: u32,
    /// How long the caller waits for the reply, if it said: a served factory drops a call
    /// still queued after that, since nobody reads its answer any more.
    pub timeout: Option<std::time::Duration>,
    /// The sender's trace context, if any.
    pub trace: Option<TraceContext>,
    /// The arguments, JSON.
    pub body: &'a [u8],
}

/// The status of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Handled; the value follows.
    Ok = 0,
    /// The server could not read the request.
    Decode = 1,
    /// The request came from a newer protocol version than the server's.
    Version = 2,
    /// The actor has no handler of this name.
    UnknownMessage = 3,
    /// Another actor type is served under this name.
    WrongActor = 4,
    /// The handler panicked.
    Panicked = 5,
    /// The actor stopped before it answered.
    Stopped = 6,
    /// The server could not encode the reply.
    Encode = 7,
    /// The served handle's own timeout passed before the actor answered.
    Timeout = 8,
    /// A served factory had no room (its queue was full, or it was draining): the call was
    /// not queued.
    Busy = 9,
    /// The call was accepted but dropped without an answer (a served factory's job was
    /// discarded, or its worker dropped it unanswered); the explanation follows.
    Unanswered = 10,
}

impl Status {
    fn from_byte(byte: u8) -> Option<Status> {
        Some(match byte {
            0 => Status::Ok,
            1 => Status::Decode,
            2 => Status::Version,
            3 => Status::UnknownMessage,
            4 => Status::WrongActor,
            5 => Status::Panicked,
            6 => Status::Stopped,
            7 => Status::Encode,
            8 => Status::Timeout,
            9 => Status::Busy,
            10 => Status::Unanswered,
            _ => return None,
        })
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame ended early.
    #[error("the frame ends after {0} bytes, in the middle of its {1}")]
    Truncated(usize, &'static str),
    /// Wire version of another release.
    #[error("wire version {0}, expected {WIRE_VERSION}")]
    WireVersion(u8),
    /// A byte outside its range.
    #[error("invalid {what} byte {byte}")]
    Invalid {
        /// Which field.
        what: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// A tag that is not UTF-8.
    #[error("the {0} is not UTF-8")]
    Utf8(&'static str),
    /// A trace context that is not a JSON object of strings.
    #[error("the trace context is not a JSON object of strings")]
    Trace,
}

/// Encodes a request (the body is already JSON), without a caller's timeout.
pub fn request(
    kind: Kind,
    actor: &str,
    message: &str,
    version: u32,
    trace: Option<&TraceContext>,
    body: &[u8],
) -> Vec<u8> {
    let mut frame = request_head(kind, actor, message, version, None, trace, body.len());
    frame.extend_from_slice(body);
    frame
}

/// A request's frame up to its body, with room for `body` more bytes: the caller writes the
/// JSON arguments straight after it.
pub(crate) fn request_head(
    kind: Kind,
    actor: &str,
    message: &str,
    version: u32,
    timeout: Option<std::time::Duration>,
    trace: Option<&TraceContext>,
    body: usize,
) -> Vec<u8> {
    let trace = trace.map(|t| {
        let map: serde_json::Map<String, serde_json::Value> =
            t.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect();
        serde_json::Value::Object(map).to_string().into_bytes()
    });
    let trace = trace.as_deref().unwrap_or_default();
    let mut frame = Vec::with_capacity(14 + actor.len() + message.len() + trace.len() + body);
    frame.push(WIRE_VERSION);
    frame.push(match kind {
        Kind::Ask => 0,
        Kind::Tell => 1,
        Kind::Ping => 2,
    });
    push_short(&mut frame, actor.as_bytes());
    push_short(&mut frame, message.as_bytes());
    frame.extend_from_slice(&version.to_le_bytes());
    // At least 1 ms once said (0 is "not said"), at most u32::MAX ms (49 days).
    let millis = timeout.map_or(0, |t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX).max(1));
    frame.extend_from_slice(&millis.to_le_bytes());
    let trace_len = u16::try_from(trace.len()).unwrap_or(0);
    frame.extend_from_slice(&trace_len.to_le_bytes());
    if trace_len > 0 {
        frame.extend_from_slice(trace);
    }
    frame
}

/// A tag of at most 255 bytes (longer ones are cut at a character boundary).
fn push_short(frame: &mut Vec<u8>, bytes: &[u8]) {
    let mut len = bytes.len().min(255);
    while len > 0 && std::str::from_utf8(&bytes[..len]).is_err() {
        len -= 1;
    }
    frame.push(u8::try_from(len).unwrap_or(u8::MAX));
    frame.extend_from_slice(&bytes[..len]);
}

/// Reads a request.
///
/// # Errors
///
/// A frame that is truncated, of another wire version, or malformed.
pub fn read_request(frame: &[u8]) -> Result<Request<'_>, FrameError> {
    let mut at = Cursor { frame, at: 0 };
    let wire = at.byte("wire version")?;
    if wire != WIRE_VERSION {
        return Err(FrameError::WireVersion(wire));
    }
    let kind = match at.byte("kind")? {
        0 => Kind::Ask,
        1 => Kind::Tell,
        2 => Kind::Ping,
        byte => return Err(FrameError::Invalid { what: "kind", byte }),
    };
    let actor = at.text("actor tag")?;
    let message = at.text("message tag")?;
    let version = u32::from_le_bytes(at.array("version")?);
    let millis = u32::from_le_bytes(at.array("timeout")?);
    let timeout = (millis > 0).then(|| std::time::Duration::from_millis(u64::from(millis)));
    let trace_len = usize::from(u16::from_le_bytes(at.array("trace length")?));
    // A context that does not parse is a hint lost, not a reason to refuse the message.
    let trace = match trace_len {
        0 => None,
        len => read_trace(at.take(len, "trace")?).ok(),
    };
    Ok(Request { kind, actor, message, version, timeout, trace, body: &frame[at.at..] })
}

fn read_trace(bytes: &[u8]) -> Result<TraceContext, FrameError> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(bytes) else {
        return Err(FrameError::Trace);
    };
    fields
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(v) => Ok((k, v)),
            _ => Err(FrameError::Trace),
        })
        .collect()
}

/// The reply to a handled call, from its JSON value: the value's buffer with the frame's two
/// header bytes put in front (no new allocation while the buffer has room for them).
pub(crate) fn reply_ok(mut json: Vec<u8>) -> Vec<u8> {
    json.splice(0..0, [WIRE_VERSION, Status::Ok as u8]);
    json
}

/// Encodes a reply: `status`, then `body` (JSON for [`Status::Ok`], text otherwise).
pub fn reply(status: Status, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(2 + body.len());
    frame.push(WIRE_VERSION);
    frame.push(status as u8);
    frame.extend_from_slice(body);
    frame
}

/// Reads a reply: its status and body.
///
/// # Errors
///
/// A frame that is truncated, of another wire version, or of an unknown status.
pub fn read_reply(frame: &[u8]) -> Result<(Status, &[u8]), FrameError> {
    let mut at = Cursor { frame, at: 0 };
    let wire = at.byte("wire version")?;
    if wire != WIRE_VERSION {
        return Err(FrameError::WireVersion(wire));
    }
    let byte = at.byte("status")?;
    let status = Status::from_byte(byte).ok_or(FrameError::Invalid { what: "status", byte })?;
    Ok((status, &frame[at.at..]))
}

struct Cursor<'a> {
    frame: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.frame.len());
        let end = end.ok_or(FrameError::Truncated(self.frame.len(), what))?;
        let bytes = &self.frame[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, what)?[0])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FrameError> {
        let bytes = self.take(N, what)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    fn text(&mut self, what: &'static str) -> Result<&'a str, FrameError> {
        let len = usize::from(self.byte(what)?);
        std::str::from_utf8(self.take(len, what)?).map_err(|_| FrameError::Utf8(what))
    }
}
