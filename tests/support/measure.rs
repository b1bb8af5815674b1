//! What the benches measure with: this process's CPU, and percentiles.

use anyhow::Context;

/// (own, reaped children's) CPU time of this process so far, in ms.
pub fn cpu_ms() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime is field 14 overall.
    let rest = stat.rsplit_once(')').context("bad /proc/self/stat")?.1;
    let f: Vec<f64> = rest.split_whitespace().skip(11).take(4).map(|x| x.parse().unwrap_or(0.0)).collect();
    // Clock ticks are 100 Hz on Linux.
    Ok(((f[0] + f[1]) * 10.0, (f[2] + f[3]) * 10.0))
}

/// The `p`th percentile (nearest rank); NaN for no values.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank - 1]
}
