//! Response compression: gzip or brotli chosen by `Accept-Encoding`, either for a whole
//! page at once or chunk by chunk with a flush after each, so a streamed page's first bytes
//! reach the reader without waiting for the compressor to fill a block.

use std::io::Write;

use bytes::Bytes;

/// brotli quality: most of brotli's gain over gzip while staying a few milliseconds per page.
const BROTLI_QUALITY: u32 = 5;
/// brotli window (log2 of bytes): 1 MiB covers any Light page and keeps decoder memory small.
const BROTLI_WINDOW: u32 = 20;
/// gzip level: close to the best ratio for HTML at a fraction of level 9's time.
const GZIP_LEVEL: u32 = 6;

/// A content coding the proxy can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// No compression.
    Identity,
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
        }
    }
}

/// Picks the coding from an `Accept-Encoding` value: brotli, then gzip, honouring `q=0`.
pub(crate) fn negotiate(accept_encoding: Option<&str>) -> Coding {
    let Some(accept) = accept_encoding else {
        return Coding::Identity;
    };
    let accepts = |name: &str| {
        accept.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case(name) && !refused
        })
    };
    if accepts("br") {
        Coding::Brotli
    } else if accepts("gzip") {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Compresses a whole body in one stream, without the flushes of [`StreamEncoder`]: the
/// form stored pages are kept in and whole pages are sent in.
pub(crate) fn compress(coding: Coding, body: &[u8]) -> Bytes {
    let out = Vec::with_capacity(body.len() / 4);
    // Writing into a Vec cannot fail.
    match coding {
        Coding::Identity => Bytes::copy_from_slice(body),
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, gzip_level());
            let _ = encoder.write_all(body);
            Bytes::from(encoder.finish().unwrap_or_default())
        }
        Coding::Brotli => {
            let mut writer = brotli_writer(out);
            let _ = writer.write_all(body);
            // `into_inner` finishes the stream before handing the buffer back.
            Bytes::from(writer.into_inner())
        }
    }
}

fn gzip_level() -> flate2::Compression {
    flate2::Compression::new(GZIP_LEVEL)
}

fn brotli_writer(out: Vec<u8>) -> brotli::CompressorWriter<Vec<u8>> {
    brotli::CompressorWriter::new(out, 4096, BROTLI_QUALITY, BROTLI_WINDOW)
}

/// A compressor that flushes after every chunk.
pub(crate) enum StreamEncoder {
    /// Bytes pass through.
    Identity,
    /// gzip.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// brotli.
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl StreamEncoder {
    /// A fresh encoder for `coding`.
    pub fn new(coding: Coding) -> Self {
        match coding {
            Coding::Identity => Self::Identity,
            Coding::Gzip => Self::Gzip(flate2::write::GzEncoder::new(Vec::new(), gzip_level())),
            Coding::Brotli => Self::Brotli(Box::new(brotli_writer(Vec::new()))),
        }
    }

    /// Compresses and flushes one chunk; returns the bytes to send.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        // Writing to and flushing into a Vec cannot fail.
        match self {
            Self::Identity => Bytes::copy_from_slice(chunk),
            Self::Gzip(encoder) => {
                let _ = encoder.write_all(chunk);
                let _ = encoder.flush();
                Bytes::from(std::mem::take(encoder.get_mut()))
            }
            Self::Brotli(encoder) => {
                let _ = encoder.write_all(chunk);
                let _ = encoder.flush();
                Bytes::from(std::mem::take(encoder.get_mut()))
            }
        }
    }

    /// Ends the stream; returns the last bytes.
    pub fn finish(self) -> Bytes {
        match self {
            Self::Identity => Bytes::new(),
            Self::Gzip(encoder) => Bytes::from(encoder.finish().unwrap_or_default()),
            Self::Brotli(encoder) => Bytes::from(encoder.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation_prefers_brotli_and_honours_refusals() {
        assert_eq!(negotiate(None), Coding::Identity);
        assert_eq!(negotiate(Some("gzip, deflate, br")), Coding::Brotli);
        assert_eq!(negotiate(Some("br;q=0, gzip")), Coding::Gzip);
        assert_eq!(negotiate(Some("identity")), Coding::Identity);
        assert_eq!(negotiate(Some("GZIP;q=0.5")), Coding::Gzip);
    }

    #[test]
    fn chunked_streams_decode_to_the_input() {
        let text = "<p>Light pages compress well.</p>".repeat(200);
        for coding in [Coding::Gzip, Coding::Brotli] {
            let mut encoder = StreamEncoder::new(coding);
            let mut wire = Vec::new();
            for chunk in text.as_bytes().chunks(333) {
                let out = encoder.push(chunk);
                assert!(!out.is_empty(), "{coding:?} held a chunk back");
                wire.extend_from_slice(&out);
            }
            wire.extend_from_slice(&encoder.finish());
            let mut decoded = String::new();
            match coding {
                Coding::Gzip => {
                    flate2::read::GzDecoder::new(&wire[..]).read_to_string(&mut decoded)
                }
                _ => brotli::Decompressor::new(&wire[..], 4096).read_to_string(&mut decoded),
            }
            .unwrap();
            assert_eq!(decoded, text);
        }
    }
}
