//! Light images: what a reader gets on tapping an image placeholder. This module owns the
//! address of a Light image (`address`: the source URL carried in the path), making one
//! from the original's bytes within hard limits (`pipeline`), and the size a placeholder
//! announces before and after one has been made (`size`). Which sources may be fetched is
//! the site's rule ([`Site::image_allowed`](crate::config::Site::image_allowed)); fetching,
//! the memory budget, the cache and the response are the server's.

mod address;
mod pipeline;
mod size;

use http::StatusCode;

use crate::lang::{Message, Words};

pub use address::{light_path, source_of, PREFIX};
pub use pipeline::{make, Made, Recipe, JPEG_QUALITY, MAX_PIXELS, MAX_SIDE};
pub(crate) use size::{estimate_bytes, ImageSizes};

/// Why no Light image could be made; each maps to the status a reader gets.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The path does not carry an image address this mirror writes.
    #[error("this is not the address of a Light image")]
    BadAddress,
    /// The site shows placeholders only.
    #[error("this site does not make Light images")]
    Off,
    /// The source is on a host, or a path, the site does not fetch images from.
    #[error("images from {0} are not shown by this site")]
    NotAllowed(String),
    /// The upstream answered with something other than an image this mirror reads.
    #[error("the original is not an image this mirror can read ({0})")]
    NotAnImage(String),
    /// The image declares more pixels than the limits allow: a decompression bomb, or
    /// simply too large; refused before any pixel is decoded.
    #[error("the original image is too large to show ({width} × {height} pixels)")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The bytes are damaged or use a feature the decoder does not support.
    #[error("the original image could not be read: {0}")]
    Undecodable(String),
    /// The memory for requests in flight is in use.
    #[error("too many images are being made right now")]
    Busy,
}

impl ImageError {
    /// The status a reader gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadAddress | Self::Off => StatusCode::NOT_FOUND,
            Self::NotAllowed(_) => StatusCode::FORBIDDEN,
            Self::NotAnImage(_) | Self::TooLarge { .. } | Self::Undecodable(_) => {
                StatusCode::BAD_GATEWAY
            }
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the reader's error page says, in `words`; the details a reader cannot act on
    /// (the decoder's reason, the host refused) stay in the log.
    pub fn explain(&self, words: &Words<'_>) -> String {
        let message = match self {
            Self::BadAddress | Self::Off | Self::NotAllowed(_) => Message::ErrorImageNotShown,
            Self::NotAnImage(_) | Self::Undecodable(_) => Message::ErrorImageUnreadable,
            Self::TooLarge { width, height } => {
                let (width, height) = (width.to_string(), height.to_string());
                return words.fill(
                    Message::ErrorImageTooLarge,
                    &[
                        ("width", &words.number(&width)),
                        ("height", &words.number(&height)),
                    ],
                );
            }
            Self::Busy => Message::ErrorImageBusy,
        };
        words.text(message).to_owned()
    }
}
