//! Identifier helpers the stand-ins share: short lowercase ids in base 36 (as
//! AWS's job run ids look) and randomness without an RNG crate.

use std::hash::{BuildHasher as _, Hasher as _};

use chrono::Utc;

/// `n` in lowercase base 36, without padding.
pub(crate) fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// 64 random bits: std's randomly keyed hasher over the clock. Good for
/// names and tokens nobody must guess; not for secrets.
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
    h.finish()
}
