//! The fleet-wide bound on upstream fetches of a site (`[[site]] upstream_rate`), kept in
//! the shared store so every instance counts against one limit. It is a generic cell rate
//! algorithm (a token bucket held as one timestamp): each fetch moves the site's
//! "theoretical arrival time" on by `per / fetches`, and a fetch is refused while that
//! time runs more than one period ahead of the store's clock. So at most `fetches` go at
//! once after a quiet spell, then one every `per / fetches`. One Lua script does the read,
//! the check and the write, so instances never race, and the store's own clock is the
//! only clock. A store that does not answer admits the fetch: the per-instance
//! `upstream_concurrency` still bounds it.

use std::sync::LazyLock;
use std::time::Duration;

use super::Store;
use crate::config::UpstreamRate;

/// KEYS[1]: the site's cell; ARGV[1]: milliseconds per fetch; ARGV[2]: the period in
/// milliseconds. Returns 0 when the fetch may go, else the milliseconds until one may.
static ADMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local step = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local at = tonumber(redis.call('GET', KEYS[1]) or now)
if at < now then at = now end
local next_at = at + step
if next_at - now > period then
  return next_at - now - period
end
redis.call('SET', KEYS[1], next_at, 'PX', period + step)
return 0
",
    )
});

/// Asks the store whether `site` may fetch once more under `rate`: `Ok` when it may (or
/// the store cannot say), `Err` with how long until it may.
pub(crate) async fn admit(store: &Store, site: &str, rate: UpstreamRate) -> Result<(), Duration> {
    let period = rate.per.as_millis().max(1) as u64;
    let step = (period / u64::from(rate.fetches)).max(1);
    let key = store.key("rate", site);
    let waited = store
        .run(|mut connection| async move {
            ADMIT
                .key(&key)
                .arg(step)
                .arg(period)
                .invoke_async::<u64>(&mut connection)
                .await
        })
        .await;
    match waited {
        Ok(0) | Err(_) => Ok(()),
        Ok(ms) => Err(Duration::from_millis(ms)),
    }
}
