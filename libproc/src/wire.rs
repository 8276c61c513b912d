//! The wire format between nodes.
//!
//! A connection opens with a handshake: the 4 magic bytes `LPRC`, a version byte, then the
//! sender node's listening address as a u16-length-prefixed string (so the receiver knows
//! which peer node an inbound connection belongs to). HTTP requests never start with
//! `LPRC`, which is how one port serves both.
//!
//! After the handshake the stream is a sequence of frames: a u32 big-endian length, then a
//! MessagePack array `[from_pid: str, to_id: str, name: str, body: bin]`. The body is the
//! message encoded with rmp-serde's named (map) encoding. Frames larger than the node's
//! limit, and frames that do not decode as that array, are protocol errors: the connection
//! is closed (see `RUNTIME.md`).

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

/// First bytes of every actor-protocol connection.
pub const MAGIC: &[u8; 4] = b"LPRC";
/// Protocol version sent after the magic bytes.
pub const VERSION: u8 = 1;
/// Default largest frame a node accepts (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// A frame that could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The frame is not a 4-element MessagePack array of str, str, str, bin.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// The sender PID inside the frame does not parse.
    #[error("malformed sender PID in frame: {0}")]
    BadFrom(String),
}

/// A decoded frame; strings borrow from the frame buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Sender PID as text.
    pub from: &'a str,
    /// Target process id on this node.
    pub to_id: &'a str,
    /// Message name.
    pub name: &'a str,
    /// Encoded message body (a slice of the frame buffer).
    pub body: Bytes,
}

/// Encodes the handshake a connecting node sends first.
pub fn handshake(local: SocketAddr) -> Vec<u8> {
    let addr = local.to_string();
    let mut out = Vec::with_capacity(7 + addr.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
    out.extend_from_slice(addr.as_bytes());
    out
}

/// Parses the address part of a handshake (after magic and version).
pub fn parse_handshake_addr(bytes: &[u8]) -> Option<SocketAddr> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Encodes one length-prefixed frame. `body` writes the message bytes into the buffer it is
/// given; the frame's length fields are patched afterwards, so the body is written once.
pub fn encode_frame<E>(
    from: &str,
    to_id: &str,
    name: &str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Bytes, E> {
    encode_frame_vec(from, to_id, name, body).map(Bytes::from)
}

/// [`encode_frame`] into a plain `Vec` (the node's outbound queues take these: no shared
/// `Bytes` header to allocate per frame).
pub(crate) fn encode_frame_vec<E>(
    from: &str,
    to_id: &str,
    name: &str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let mut buf = Vec::with_capacity(48 + from.len() + to_id.len() + name.len() + 128);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_array_len(&mut buf, 4);
    let _ = rmp::encode::write_str(&mut buf, from);
    let _ = rmp::encode::write_str(&mut buf, to_id);
    let _ = rmp::encode::write_str(&mut buf, name);
    // bin32 header with a placeholder length, patched below.
    buf.push(0xc6);
    let len_at = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    let body_start = buf.len();
    body(&mut buf)?;
    let body_len = (buf.len() - body_start) as u32;
    buf[len_at..len_at + 4].copy_from_slice(&body_len.to_be_bytes());
    let frame_len = (buf.len() - 4) as u32;
    buf[0..4].copy_from_slice(&frame_len.to_be_bytes());
    Ok(buf)
}

/// Encodes a frame whose body is already bytes.
pub fn encode_frame_bytes(from: &str, to_id: &str, name: &str, body: &[u8]) -> Bytes {
    encode_frame::<std::convert::Infallible>(from, to_id, name, |b| {
        b.extend_from_slice(body);
        Ok(())
    })
    .unwrap_or_else(|never| match never {})
}

fn read_str_bytes<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], FrameError> {
    let len =
        rmp::decode::read_str_len(rest).map_err(|_| FrameError::Malformed("bad string"))? as usize;
    if rest.len() < len {
        return Err(FrameError::Malformed("string runs past the frame"));
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    Ok(s)
}

fn utf8(b: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(b).map_err(|_| FrameError::Malformed("string is not UTF-8"))
}

/// A decoded frame whose strings are still raw bytes (not yet checked for UTF-8), so a
/// reader can compare them with what it has cached before paying for validation.
#[derive(Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    /// Sender PID bytes.
    pub from: &'a [u8],
    /// Target id bytes.
    pub to_id: &'a [u8],
    /// Message name bytes.
    pub name: &'a [u8],
    /// Encoded message body.
    pub body: Bytes,
}

/// Decodes a frame's structure (without the length prefix), leaving strings unvalidated.
pub fn decode_frame_raw(frame: &Bytes) -> Result<RawFrame<'_>, FrameError> {
    let mut rest: &[u8] = frame;
    let n = rmp::decode::read_array_len(&mut rest)
        .map_err(|_| FrameError::Malformed("not an array"))?;
    if n != 4 {
        return Err(FrameError::Malformed("array is not 4 elements"));
    }
    let from = read_str_bytes(&mut rest)?;
    let to_id = read_str_bytes(&mut rest)?;
    let name = read_str_bytes(&mut rest)?;
    let len = rmp::decode::read_bin_len(&mut rest).map_err(|_| FrameError::Malformed("bad body"))?
        as usize;
    if rest.len() != len {
        return Err(FrameError::Malformed("body length does not match frame"));
    }
    let start = frame.len() - rest.len();
    Ok(RawFrame {
        from,
        to_id,
        name,
        body: frame.slice(start..),
    })
}

/// Decodes a frame's contents (without the length prefix).
pub fn decode_frame(frame: &Bytes) -> Result<Frame<'_>, FrameError> {
    let raw = decode_frame_raw(frame)?;
    Ok(Frame {
        from: utf8(raw.from)?,
        to_id: utf8(raw.to_id)?,
        name: utf8(raw.name)?,
        body: raw.body,
    })
}

/// Splits complete frames off the front of `buf`. Returns `Ok(None)` when more bytes are
/// needed, `Err(len)` when the next frame announces more than `max` bytes. Nothing is
/// allocated from the announced length: the buffer grows only with bytes that arrive.
pub fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, usize> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(len);
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let mut frame = buf.split_to(4 + len);
    let _ = frame.split_to(4);
    Ok(Some(frame.freeze()))
}

/// Appends a length prefix and raw bytes (used by tests and the raw-TCP baseline).
pub fn put_raw_frame(buf: &mut BytesMut, payload: &[u8]) {
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strip_len(b: Bytes) -> Bytes {
        b.slice(4..)
    }

    #[test]
    fn round_trip() {
        let f = encode_frame_bytes("a@127.0.0.1:1", "b", "x.Y", b"hello");
        let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(len + 4, f.len());
        let body = strip_len(f);
        let d = decode_frame(&body).unwrap();
        assert_eq!(d.from, "a@127.0.0.1:1");
        assert_eq!(d.to_id, "b");
        assert_eq!(d.name, "x.Y");
        assert_eq!(&d.body[..], b"hello");
    }

    #[test]
    fn oversized_frames_are_refused_before_buffering() {
        let mut buf = BytesMut::new();
        buf.put_u32(1_000_000);
        assert_eq!(split_frame(&mut buf, 1000), Err(1_000_000));
    }

    #[test]
    fn handshake_round_trip() {
        let addr: SocketAddr = "[::1]:5050".parse().unwrap();
        let h = handshake(addr);
        assert_eq!(&h[..4], MAGIC);
        assert_eq!(h[4], VERSION);
        let n = u16::from_be_bytes([h[5], h[6]]) as usize;
        assert_eq!(parse_handshake_addr(&h[7..7 + n]), Some(addr));
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_frame(&Bytes::from(bytes));
        }

        #[test]
        fn every_truncation_is_an_error(from in "[a-z]{1,8}@127\\.0\\.0\\.1:[1-9][0-9]{0,3}", to in "[a-z()0-9]{1,10}", name in "[a-zA-Z.]{1,20}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let full = strip_len(encode_frame_bytes(&from, &to, &name, &body));
            let d = decode_frame(&full).unwrap();
            prop_assert_eq!((d.from, d.to_id, d.name, &d.body[..]), (from.as_str(), to.as_str(), name.as_str(), &body[..]));
            for cut in 0..full.len() {
                prop_assert!(decode_frame(&full.slice(..cut)).is_err());
            }
        }

        #[test]
        fn splitter_reassembles_any_chunking(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8), chunk in 1usize..17) {
            let mut wire = BytesMut::new();
            for f in &frames { put_raw_frame(&mut wire, f); }
            let wire = wire.freeze();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(f) = split_frame(&mut buf, 1 << 20).unwrap() { got.push(f.to_vec()); }
            }
            prop_assert_eq!(got, frames);
        }

        #[test]
        fn splitter_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..100) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = split_frame(&mut buf, max) {}
        }

        /// Whatever length a peer announces, splitting never allocates: the buffer holds
        /// only bytes that arrived, and a frame comes out only when all of it is there.
        #[test]
        fn splitter_never_allocates_from_the_announced_length(announced in any::<u32>(), sent in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..(64 << 20)) {
            let mut buf = BytesMut::with_capacity(4 + sent.len());
            buf.put_u32(announced);
            buf.extend_from_slice(&sent);
            let cap = buf.capacity();
            match split_frame(&mut buf, max) {
                Ok(Some(f)) => {
                    prop_assert!(announced as usize <= max);
                    prop_assert_eq!(f.len(), announced as usize);
                }
                Ok(None) => {
                    prop_assert!(announced as usize <= max);
                    prop_assert!((announced as usize) > sent.len());
                    prop_assert_eq!(buf.capacity(), cap);
                }
                Err(len) => prop_assert!(len == announced as usize && len > max),
            }
        }

        #[test]
        fn decode_never_panics_on_mutated_frames(body in proptest::collection::vec(any::<u8>(), 0..64), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut f = strip_len(encode_frame_bytes("a@127.0.0.1:1", "b", "x.Y", &body)).to_vec();
            for (at, v) in flips {
                let n = f.len();
                f[at % n] = v;
            }
            let _ = decode_frame(&Bytes::from(f));
        }
    }
}
