//! Messages: serde types with a stable wire name, and the envelope that carries one
//! between processes.
//!
//! A local send moves the typed value itself (boxed, never serialized); a remote send
//! carries MessagePack bytes (rmp-serde *named* encoding, so a field added later with
//! `#[serde(default)]` still decodes). The receiving process decodes by name.

use std::any::Any;
use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::pid::Pid;

/// A message that processes can exchange, locally or over the wire.
///
/// `NAME` is the stable wire name, e.g. `mesos.internal.RegisterSlaveMessage`. Two types on
/// one node must not share a name. Implement it with [`message!`](crate::message!).
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// The stable wire name of this message type.
    const NAME: &'static str;
}

/// Implements [`Message`] for a type with the given wire name:
/// `libproc::message!(PingMessage, "mesos.internal.PingSlaveMessage");`
#[macro_export]
macro_rules! message {
    ($ty:ty, $name:expr) => {
        impl $crate::Message for $ty {
            const NAME: &'static str = $name;
        }
    };
}

/// Why a payload could not be turned into the type a handler wanted.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The remote bytes are not a valid encoding of the handler's type.
    #[error("undecodable body for '{name}': {reason}")]
    Body {
        /// Message name.
        name: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A local payload of another Rust type was sent under this name.
    #[error("local payload for '{0}' has a different type than its handler expects")]
    WrongType(&'static str),
}

/// Object-safe face of a locally sent message: the value itself, plus a way to encode it
/// when a filter needs the bytes. Implemented for every [`Message`].
pub trait LocalMessageObj: Send {
    #[doc(hidden)]
    fn __into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    #[doc(hidden)]
    fn __encode(&self) -> Result<Vec<u8>, rmp_serde::encode::Error>;
}

impl<M: Message> LocalMessageObj for M {
    fn __into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn __encode(&self) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        rmp_serde::to_vec_named(self)
    }
}

/// The body of an envelope: a typed value (local) or bytes (remote).
pub enum Payload {
    /// A value sent within this OS process.
    Local(Box<dyn LocalMessageObj>),
    /// MessagePack bytes from the wire.
    Remote(Bytes),
}

impl Payload {
    /// Wraps a typed message for a local send.
    pub fn local<M: Message>(msg: M) -> Payload {
        Payload::Local(Box::new(msg))
    }

    /// Decodes (remote) or unwraps (local) into `M`.
    pub fn decode<M: Message>(self) -> Result<M, DecodeError> {
        match self {
            Payload::Local(b) => b
                .__into_any()
                .downcast::<M>()
                .map(|b| *b)
                .map_err(|_| DecodeError::WrongType(M::NAME)),
            Payload::Remote(bytes) => {
                rmp_serde::from_slice(&bytes).map_err(|e| DecodeError::Body {
                    name: M::NAME,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// The encoded bytes, encoding a local value if needed (used by observers in tests).
    pub fn to_bytes(&self) -> Option<Bytes> {
        match self {
            Payload::Local(b) => b.__encode().ok().map(Bytes::from),
            Payload::Remote(bytes) => Some(bytes.clone()),
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Local(_) => f.write_str("Payload::Local(..)"),
            Payload::Remote(b) => write!(f, "Payload::Remote({} bytes)", b.len()),
        }
    }
}

/// One message on its way to a process: who sent it, to whom, its name and body.
#[derive(Debug)]
pub struct Envelope {
    /// The sending process (its PID carries the return address).
    pub from: Pid,
    /// The receiving process.
    pub to: Pid,
    /// The message's wire name.
    pub name: MessageName,
    /// The body.
    pub payload: Payload,
    /// The inbound connection it arrived on; `None` for a local send.
    pub connection: Option<crate::connection::ConnectionId>,
}

/// A message name: static for local sends, owned when it came from the wire.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum MessageName {
    /// Known at compile time.
    Static(&'static str),
    /// Read from a frame.
    Owned(std::sync::Arc<str>),
}

/// Every message name some handler was installed for, so that a name read from the wire
/// can become a [`MessageName::Static`] (no reference counting per message).
fn known_names() -> &'static std::sync::Mutex<std::collections::HashSet<&'static str>> {
    static NAMES: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    NAMES.get_or_init(Default::default)
}

/// Records a name a handler exists for.
pub(crate) fn register_name(name: &'static str) {
    known_names()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name);
}

impl MessageName {
    /// The name for text read from the wire: static if some handler knows it.
    pub(crate) fn from_wire(text: &str) -> MessageName {
        let known = known_names()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
            .copied();
        match known {
            Some(s) => MessageName::Static(s),
            None => MessageName::Owned(text.into()),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        match self {
            MessageName::Static(s) => s,
            MessageName::Owned(s) => s,
        }
    }
}

impl fmt::Debug for MessageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for MessageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Delivered to a process when a process it linked to is gone (or its node unreachable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    /// The linked process that exited, or whose connection broke.
    pub pid: Pid,
}
