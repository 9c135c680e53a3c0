//! The address of a Light image: `/_light/img/` and the source URL in base64url (RFC 4648
//! §5, unpadded), so the path names exactly one source and carries nothing else. Reading
//! an address back accepts only the form this module writes, so two addresses never name
//! the same image. Whether the source may be fetched is checked apart, on every request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use url::Url;

use super::ImageError;

/// Where Light images live on every Light host.
pub const PREFIX: &str = "/_light/img/";

/// Source URLs longer than this get no Light image: no image address needs more, and it
/// keeps the request line of the link well within any server's limit.
const MAX_SOURCE_BYTES: usize = 2048;

/// The root-relative path of the Light image of `source`, or `None` for a source too long
/// to carry.
pub fn light_path(source: &Url) -> Option<String> {
    let text = source.as_str();
    (text.len() <= MAX_SOURCE_BYTES).then(|| format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(text)))
}

/// The source URL a Light image path names: an http or https URL exactly as
/// [`light_path`] wrote it.
pub fn source_of(path: &str) -> Result<Url, ImageError> {
    let token = path.strip_prefix(PREFIX).ok_or(ImageError::BadAddress)?;
    if token.len() > MAX_SOURCE_BYTES.div_ceil(3) * 4 {
        return Err(ImageError::BadAddress);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| ImageError::BadAddress)?;
    let text = String::from_utf8(bytes).map_err(|_| ImageError::BadAddress)?;
    let url = Url::parse(&text).map_err(|_| ImageError::BadAddress)?;
    let canonical = matches!(url.scheme(), "http" | "https")
        && url.fragment().is_none()
        && light_path(&url).as_deref() == Some(path);
    canonical.then_some(url).ok_or(ImageError::BadAddress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_its_source_and_only_its_own_form_is_read() {
        let source = Url::parse("https://img.example/a b/ph%C3%B6to.jpg?w=800&x=1").unwrap();
        let path = light_path(&source).unwrap();
        assert!(path.starts_with(PREFIX), "{path}");
        assert!(path[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(source_of(&path).unwrap(), source);
        let encode = |text: &str| format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(text));
        for refused in [
            "/_light/img/".to_owned(),
            "/_light/img/%%%".to_owned(),
            format!("{path}="),
            encode("HTTPS://img.example/a.jpg"),
            encode("javascript:alert(1)"),
            encode("file:///etc/passwd"),
            encode("https://img.example/a.jpg#x"),
            encode(&format!("https://img.example/{}", "a".repeat(3000))),
            "/other/x".to_owned(),
        ] {
            assert!(source_of(&refused).is_err(), "{refused}");
        }
    }
}
