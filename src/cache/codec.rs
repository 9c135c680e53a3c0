//! The stored form of a page as bytes: one format for the cache directory and the shared
//! store. A reader accepts only a complete value of this format version whose seal checks
//! out; anything else (damaged, cut short, of another version, or not a page at all) is
//! refused with the check it failed, and the caller discards it.
//!
//! The seal is an HMAC-SHA256 under the directory's key for files (whoever can plant a
//! file must not be able to forge one), and a plain SHA-256 for the shared store, whose
//! instances share no key: there it catches damage and foreign values, while who may write
//! is the store's access control.
//!
//! Layout (integers little-endian):
//!
//! | bytes | content                                                         |
//! |-------|-----------------------------------------------------------------|
//! | 8     | magic `LMPAGE\r\n`                                              |
//! | 4     | format version, `2`                                             |
//! | 8     | payload length                                                  |
//! | 32    | seal of the 20 bytes above and the payload                      |
//! | rest  | payload: metadata length (4), metadata JSON, body, gzip, brotli |

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::key::Key;
use super::{CacheError, Quality, StoredPage};

/// The CR LF catches values mangled by text-mode transfers.
const MAGIC: &[u8; 8] = b"LMPAGE\r\n";
/// Bumped whenever the layout changes; values of another version are discarded.
const VERSION: u32 = 2;
/// Magic, version and payload length: the part of the header the seal covers.
const SIGNED_LEN: usize = 8 + 4 + 8;
const HEADER_LEN: usize = SIGNED_LEN + 32;

/// What vouches for a stored page.
#[derive(Clone, Copy)]
pub(crate) enum Seal<'a> {
    /// HMAC-SHA256 under the cache directory's key.
    Key(&'a Key),
    /// SHA-256 of the header and payload, for the shared store.
    Checksum,
}

impl Seal<'_> {
    fn tag(self, signed: &[u8], payload: &[u8]) -> [u8; 32] {
        match self {
            Self::Key(secret) => {
                let mut mac = secret.mac();
                mac.update(signed);
                mac.update(payload);
                mac.finalize().into_bytes().into()
            }
            Self::Checksum => {
                let mut hash = Sha256::new();
                hash.update(signed);
                hash.update(payload);
                hash.finalize().into()
            }
        }
    }

    fn verify(self, signed: &[u8], payload: &[u8], tag: &[u8]) -> Result<(), &'static str> {
        match self {
            Self::Key(secret) => {
                let mut mac = secret.mac();
                mac.update(signed);
                mac.update(payload);
                mac.verify_slice(tag).map_err(|_| {
                    "not authenticated: damaged, or not written under this cache's key"
                })
            }
            Self::Checksum => {
                if self.tag(signed, payload) == tag {
                    Ok(())
                } else {
                    Err("checksum mismatch: damaged or foreign")
                }
            }
        }
    }
}

/// Everything of a page but its three bodies, which follow the metadata raw (as JSON they
/// would be arrays of numbers, several times their size).
#[derive(Serialize, Deserialize)]
struct Meta {
    key: String,
    status: u16,
    etag: String,
    last_modified: SystemTime,
    created: SystemTime,
    fresh_for: Duration,
    text_chars: u32,
    whole: bool,
    body_len: u64,
    gzip_len: u64,
    brotli_len: u64,
}

/// The stored form of `page` under `key`, sealed with `seal`.
pub(crate) fn encode(key: &str, page: &StoredPage, seal: Seal<'_>) -> Result<Vec<u8>, CacheError> {
    let meta = Meta {
        key: key.to_owned(),
        status: page.status,
        etag: page.etag.clone(),
        last_modified: page.last_modified,
        created: page.created,
        fresh_for: page.fresh_for,
        text_chars: page.quality.text_chars,
        whole: page.quality.whole,
        body_len: page.body.len() as u64,
        gzip_len: page.gzip.len() as u64,
        brotli_len: page.brotli.len() as u64,
    };
    // Fails only for a time before 1970, which the JSON form of a time cannot express.
    let meta = serde_json::to_vec(&meta).map_err(CacheError::Metadata)?;
    let payload_len = 4 + meta.len() + page.body.len() + page.gzip.len() + page.brotli.len();
    let mut data = Vec::with_capacity(HEADER_LEN + payload_len);
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&VERSION.to_le_bytes());
    data.extend_from_slice(&(payload_len as u64).to_le_bytes());
    data.extend_from_slice(&[0; HEADER_LEN - SIGNED_LEN]);
    data.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    data.extend_from_slice(&meta);
    data.extend_from_slice(&page.body);
    data.extend_from_slice(&page.gzip);
    data.extend_from_slice(&page.brotli);
    let tag = seal.tag(&data[..SIGNED_LEN], &data[HEADER_LEN..]);
    data[SIGNED_LEN..HEADER_LEN].copy_from_slice(&tag);
    Ok(data)
}

/// Reads a stored page back with the key it was stored under, refusing anything but a
/// complete value of this version whose header and payload carry `seal`.
pub(crate) fn decode(data: &[u8], seal: Seal<'_>) -> Result<(String, StoredPage), &'static str> {
    let (header, payload) = data
        .split_at_checked(HEADER_LEN)
        .ok_or("shorter than the header")?;
    let (signed, tag) = header.split_at(SIGNED_LEN);
    let (magic, rest) = signed.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err("not a stored page");
    }
    let (version, length) = rest.split_at(4);
    if version != VERSION.to_le_bytes() {
        return Err("written by another format version");
    }
    if length != (payload.len() as u64).to_le_bytes() {
        return Err("truncated or extended");
    }
    seal.verify(signed, payload, tag)?;
    let (meta_len, rest) = payload.split_at_checked(4).ok_or("no metadata")?;
    let meta_len = u32::from_le_bytes(meta_len.try_into().expect("four bytes")) as usize;
    let (meta, bodies) = rest
        .split_at_checked(meta_len)
        .ok_or("metadata cut short")?;
    let meta: Meta = serde_json::from_slice(meta).map_err(|_| "unreadable metadata")?;
    let bodies = Bytes::copy_from_slice(bodies);
    let mut start = 0usize;
    let mut take = |len: u64| {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= bodies.len())
            .ok_or("bodies cut short")?;
        let part = bodies.slice(start..end);
        start = end;
        Ok::<_, &'static str>(part)
    };
    let body = take(meta.body_len)?;
    let gzip = take(meta.gzip_len)?;
    let brotli = take(meta.brotli_len)?;
    if start != bodies.len() {
        return Err("bytes after the bodies");
    }
    let page = StoredPage {
        status: meta.status,
        body,
        gzip,
        brotli,
        etag: meta.etag,
        last_modified: meta.last_modified,
        created: meta.created,
        fresh_for: meta.fresh_for,
        quality: Quality {
            text_chars: meta.text_chars,
            whole: meta.whole,
        },
        heads: Default::default(),
    };
    Ok((meta.key, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> StoredPage {
        let quality = Quality {
            text_chars: text.len() as u32,
            whole: true,
        };
        StoredPage::new(
            200,
            Bytes::from(text.to_owned()),
            None,
            Duration::from_secs(60),
            quality,
        )
    }

    #[test]
    fn encode_decode_round_trip_under_both_seals() {
        let secret = Key::random().unwrap();
        let original = page("<p>round trip</p>");
        for seal in [Seal::Key(&secret), Seal::Checksum] {
            let (key, back) =
                decode(&encode("site/a?b=c", &original, seal).unwrap(), seal).unwrap();
            assert_eq!(key, "site/a?b=c");
            assert_eq!(back, original);
        }
    }

    #[test]
    fn every_damage_is_detected() {
        let secret = Key::random().unwrap();
        for seal in [Seal::Key(&secret), Seal::Checksum] {
            let data = encode("k", &page("<p>x</p>"), seal).unwrap();
            for cut in [0, 10, HEADER_LEN, HEADER_LEN + 3, data.len() - 1] {
                assert!(decode(&data[..cut], seal).is_err(), "cut at {cut}");
            }
            let mut longer = data.clone();
            longer.push(0);
            assert!(decode(&longer, seal).is_err());
            for i in 0..data.len() {
                let mut flipped = data.clone();
                flipped[i] ^= 1;
                assert!(decode(&flipped, seal).is_err(), "flip at {i}");
            }
        }
    }

    #[test]
    fn one_seal_never_passes_for_the_other() {
        let secret = Key::random().unwrap();
        let sealed = encode("k", &page("<p>x</p>"), Seal::Key(&secret)).unwrap();
        assert!(decode(&sealed, Seal::Checksum).is_err());
        let summed = encode("k", &page("<p>x</p>"), Seal::Checksum).unwrap();
        assert!(decode(&summed, Seal::Key(&secret)).is_err());
    }
}
