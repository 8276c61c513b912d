//! The read protocol of Mesos's `files` endpoints, shared by the agent's sandboxes and the
//! master's log: `/files/read?path=P[&offset=N][&length=N]` answers `{"data", "offset"}`
//! with at most [`MAX_READ_LENGTH`] bytes from `offset` (clamped to the file's size);
//! `offset=-1` asks for the size only (`{"data": "", "offset": size}`). Which file `path`
//! names, and whether it may be opened, is the caller's business; this module parses the
//! query and reads the already opened file (blocking: call it off the actor thread).

use std::io::{Read, Seek, SeekFrom};

use crate::HttpResponse;

/// Largest chunk one read returns (Mesos: 16 pages).
pub const MAX_READ_LENGTH: u64 = 16 * 4096;

/// A validated `offset`/`length` pair of a `/files/read` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadQuery {
    /// `None`: the size only (`offset=-1`).
    offset: Option<u64>,
    /// At most [`MAX_READ_LENGTH`].
    length: u64,
}

impl ReadQuery {
    /// Parses the query's `offset` (default 0, `-1` for the size only) and `length`
    /// (default and at most [`MAX_READ_LENGTH`]); a bad value is a `400` with the reason.
    pub fn parse(offset: Option<&str>, length: Option<&str>) -> Result<ReadQuery, HttpResponse> {
        let offset: i64 = match offset.map(str::parse).transpose() {
            Ok(o) => o.unwrap_or(0),
            Err(_) => {
                return Err(HttpResponse::bad_request(
                    "Failed to parse offset: expected an integer",
                ))
            }
        };
        let length: u64 = match length.map(str::parse::<u64>).transpose() {
            Ok(l) => l.unwrap_or(MAX_READ_LENGTH).min(MAX_READ_LENGTH),
            Err(_) => {
                return Err(HttpResponse::bad_request(
                    "Failed to parse length: expected a non-negative integer",
                ))
            }
        };
        match offset {
            -1 => Ok(ReadQuery {
                offset: None,
                length: 0,
            }),
            o if o < -1 => Err(HttpResponse::bad_request("Negative offset provided")),
            o => Ok(ReadQuery {
                offset: Some(o as u64),
                length,
            }),
        }
    }

    /// The `{"data", "offset"}` answer, read from `file`.
    pub fn answer(&self, file: &mut std::fs::File) -> HttpResponse {
        match (
            self.offset,
            read_chunk(file, self.offset.unwrap_or(u64::MAX), self.length),
        ) {
            (_, Err(e)) => HttpResponse::text(500, format!("Failed to read file: {e}\n")),
            (None, Ok(c)) => HttpResponse::json(&serde_json::json!({"data": "", "offset": c.size})),
            (Some(_), Ok(c)) => HttpResponse::json(&serde_json::json!({
                "data": String::from_utf8_lossy(&c.data),
                "offset": c.offset,
            })),
        }
    }
}

/// What [`read_chunk`] read.
#[derive(Debug)]
pub struct Chunk {
    /// The file's size.
    pub size: u64,
    /// Where the data starts (the offset asked, at most the size).
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Up to `length` (at most [`MAX_READ_LENGTH`]) bytes of `file` from `offset` (clamped to
/// its size).
pub fn read_chunk(file: &mut std::fs::File, offset: u64, length: u64) -> std::io::Result<Chunk> {
    let size = file.metadata()?.len();
    let offset = offset.min(size);
    let mut data = Vec::new();
    file.seek(SeekFrom::Start(offset))?;
    file.take(length.min(MAX_READ_LENGTH))
        .read_to_end(&mut data)?;
    Ok(Chunk { size, offset, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &HttpResponse) -> serde_json::Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    #[test]
    fn queries_are_validated_with_mesos_reasons() {
        assert_eq!(
            ReadQuery::parse(None, None).ok(),
            Some(ReadQuery {
                offset: Some(0),
                length: MAX_READ_LENGTH
            })
        );
        assert_eq!(
            ReadQuery::parse(Some("5"), Some("999999999")).ok(),
            Some(ReadQuery {
                offset: Some(5),
                length: MAX_READ_LENGTH
            })
        );
        for (o, l) in [
            (Some("x"), None),
            (Some("-2"), None),
            (None, Some("-1")),
            (None, Some("y")),
        ] {
            let r = ReadQuery::parse(o, l).expect_err("bad query");
            assert_eq!(r.status, 400, "{o:?} {l:?}");
        }
    }

    #[test]
    fn reads_a_chunk_or_the_size() {
        let dir = std::env::temp_dir().join(format!("files-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f");
        std::fs::write(&path, "hello world").expect("write");
        let mut f = std::fs::File::open(&path).expect("open");
        let r = ReadQuery::parse(Some("6"), Some("3"))
            .expect("ok")
            .answer(&mut f);
        assert_eq!(body(&r), serde_json::json!({"data": "wor", "offset": 6}));
        let r = ReadQuery::parse(Some("-1"), None)
            .expect("ok")
            .answer(&mut f);
        assert_eq!(body(&r), serde_json::json!({"data": "", "offset": 11}));
        let r = ReadQuery::parse(Some("99"), None)
            .expect("ok")
            .answer(&mut f);
        assert_eq!(body(&r), serde_json::json!({"data": "", "offset": 11}));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
