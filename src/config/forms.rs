//! How values are written in the file, and what an operator is told when one is not:
//! durations (`"30s"`, `"5m"`, `"2h"`, `"7days"`) and socket addresses
//! (`"127.0.0.1:8080"`, `"[::1]:8080"`), each error echoing the value and naming the
//! accepted forms. Used as `deserialize_with` in the schema.

use std::net::SocketAddr;
use std::time::Duration;

use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// The forms a duration may take, for error messages.
const DURATION_FORMS: &str =
    "a number and a unit, such as \"500ms\", \"30s\", \"5m\", \"2h\" or \"7days\"";

/// A duration written as humantime reads it (`"90s"`, `"1h 30m"`).
pub(super) fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)
        .map_err(|_| D::Error::custom(format!("must be a quoted duration: {DURATION_FORMS}")))?;
    humantime::parse_duration(&text).map_err(|_| {
        D::Error::custom(format!(
            "\"{text}\" is not a duration: write {DURATION_FORMS}"
        ))
    })
}

/// An optional [`duration`].
pub(super) fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

/// A socket address, `host:port` with an IP address for host.
pub(super) fn socket_address<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer).map_err(|_| {
        D::Error::custom("must be a quoted socket address such as \"127.0.0.1:8080\"")
    })?;
    text.parse().map_err(|_| {
        D::Error::custom(format!(
            "\"{text}\" is not a socket address: write an IP address and a port, such as \
             \"127.0.0.1:8080\", \"0.0.0.0:8080\" or \"[::1]:8080\""
        ))
    })
}

/// An optional [`socket_address`].
pub(super) fn optional_socket_address<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    socket_address(deserializer).map(Some)
}
