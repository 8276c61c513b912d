//! RecordIO, the framing of Mesos's v1 event streams: each record is its length in
//! decimal ASCII, a newline, then that many bytes (a JSON document here).

use bytes::{Bytes, BytesMut};

/// The largest record a [`Decoder`] accepts (a bad length must not make it buffer
/// without bound).
pub const MAX_RECORD: usize = 64 << 20;

/// Frames one record.
pub fn encode(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(record.len() + 12);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.extend_from_slice(b"\n");
    out.extend_from_slice(record);
    out.freeze()
}

/// Splits a byte stream back into records (for clients and tests). Feed bytes as they
/// arrive; a malformed length is an error with the reason, after which the stream is
/// unusable.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds bytes and returns every record now complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Bytes>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > 20 {
                    return Err("record length longer than 20 digits".into());
                }
                if let Some(c) = self.buf.iter().find(|b| !b.is_ascii_digit()) {
                    return Err(format!("record length has a non-digit byte {c:#04x}"));
                }
                return Ok(out);
            };
            let head = &self.buf[..nl];
            let text = std::str::from_utf8(head).map_err(|_| "record length is not ASCII")?;
            let len: usize = text
                .parse()
                .map_err(|_| format!("record length {text:?} is not a decimal number"))?;
            if len > MAX_RECORD {
                return Err(format!(
                    "record of {len} bytes is over the {MAX_RECORD} limit"
                ));
            }
            if self.buf.len() < nl + 1 + len {
                return Ok(out);
            }
            let _ = self.buf.split_to(nl + 1);
            out.push(self.buf.split_to(len).freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_and_splits() {
        let mut stream = encode(b"{\"a\":1}").to_vec();
        stream.extend_from_slice(&encode(b""));
        stream.extend_from_slice(&encode(b"xyz"));
        assert_eq!(&stream[..8], b"7\n{\"a\":1");
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in &stream {
            got.extend(d.feed(&[*b]).unwrap());
        }
        assert_eq!(got, vec![&b"{\"a\":1}"[..], b"", b"xyz"]);
        assert!(Decoder::new().feed(b"x1\nabc").is_err());
        assert!(Decoder::new().feed(b"99999999999999999999\n").is_err());
    }

    proptest! {
        #[test]
        fn decoding_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..32), 0..8)) {
            let mut d = Decoder::new();
            for c in chunks {
                if d.feed(&c).is_err() {
                    break;
                }
            }
        }

        #[test]
        fn round_trips(records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 0..6)) {
            let mut d = Decoder::new();
            let mut stream = Vec::new();
            for r in &records {
                stream.extend_from_slice(&encode(r));
            }
            let got: Vec<Vec<u8>> = d.feed(&stream).unwrap().into_iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, records);
        }
    }
}
