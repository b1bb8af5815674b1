//! Spark's memory strings (`512m`, `2g`, `2GB`, `1t`, a bare number of MiB),
//! read once for the host (DAG validation, the devcluster) and the plugins
//! (Kubernetes, YARN), so they cannot read the same string differently.
//!
//! A parsed [`Memory`] keeps the number and the unit as written: a caller that
//! accepts fewer units than Spark, or wants an exact MiB count, says so where
//! it calls, and the parser stays the same for all.
//!
//! Dependency-free and I/O-free, because it is built for wasm32-wasip2 too.

/// A unit of a memory string; each is 1024 times the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `b`
    Byte,
    /// `k`, `kb`
    Kib,
    /// `m`, `mb`, or none
    Mib,
    /// `g`, `gb`
    Gib,
    /// `t`, `tb`
    Tib,
    /// `p`, `pb`
    Pib,
}

impl Unit {
    /// How many bytes one of this unit is.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Byte => 1,
            Self::Kib => 1 << 10,
            Self::Mib => 1 << 20,
            Self::Gib => 1 << 30,
            Self::Tib => 1 << 40,
            Self::Pib => 1 << 50,
        }
    }
}

/// A memory string as Spark reads it (`JavaUtils.byteStringAs`): a whole
/// number and a unit, case-insensitive, surrounding whitespace ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub amount: u64,
    pub unit: Unit,
}

impl Memory {
    /// `None` for anything but digits followed by one of Spark's units
    /// (a fraction, a sign, inner space, an unknown unit, a number past u64).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(end);
        let amount = digits.parse().ok()?;
        let unit = match unit {
            "b" => Unit::Byte,
            "k" | "kb" => Unit::Kib,
            "" | "m" | "mb" => Unit::Mib,
            "g" | "gb" => Unit::Gib,
            "t" | "tb" => Unit::Tib,
            "p" | "pb" => Unit::Pib,
            _ => return None,
        };
        Some(Self { amount, unit })
    }

    /// Whole MiB, rounded down (Spark's `Utils.memoryStringToMb`). A size in
    /// MiB is taken as written; any other is counted in bytes first, so one
    /// of more than u64 bytes is `None`.
    pub fn mib(self) -> Option<u64> {
        match self.unit {
            Unit::Mib => Some(self.amount),
            unit => self.amount.checked_mul(unit.bytes()).map(|b| b >> 20),
        }
    }

    /// Whether the size is a whole number of MiB.
    pub fn is_whole_mib(self) -> bool {
        let mib = Unit::Mib.bytes();
        self.unit.bytes() >= mib || self.amount.is_multiple_of(mib / self.unit.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, amount and unit, whole MiB rounded down)
    type Case = (&'static str, Option<(u64, Unit)>, Option<u64>);

    const CASES: &[Case] = &[
        ("512m", Some((512, Unit::Mib)), Some(512)),
        ("512", Some((512, Unit::Mib)), Some(512)),
        ("512MB", Some((512, Unit::Mib)), Some(512)),
        ("2g", Some((2, Unit::Gib)), Some(2048)),
        ("2G", Some((2, Unit::Gib)), Some(2048)),
        ("2GB", Some((2, Unit::Gib)), Some(2048)),
        (" 2g ", Some((2, Unit::Gib)), Some(2048)),
        ("1t", Some((1, Unit::Tib)), Some(1 << 20)),
        ("1tb", Some((1, Unit::Tib)), Some(1 << 20)),
        ("1p", Some((1, Unit::Pib)), Some(1 << 30)),
        ("2048k", Some((2048, Unit::Kib)), Some(2)),
        ("2048kb", Some((2048, Unit::Kib)), Some(2)),
        ("1000k", Some((1000, Unit::Kib)), Some(0)),
        ("4096b", Some((4096, Unit::Byte)), Some(0)),
        ("1048576b", Some((1 << 20, Unit::Byte)), Some(1)),
        ("0", Some((0, Unit::Mib)), Some(0)),
        // Counted in bytes, which overflow; MiB as written do not.
        ("17179869184g", Some((1 << 34, Unit::Gib)), None),
        ("18446744073709551615m", Some((u64::MAX, Unit::Mib)), Some(u64::MAX)),
        ("18446744073709551616", None, None),
        ("lots", None, None),
        ("1.5g", None, None),
        ("-1g", None, None),
        ("+1g", None, None),
        ("1 g", None, None),
        ("1bb", None, None),
        ("1e", None, None),
        ("g", None, None),
        ("", None, None),
    ];

    #[test]
    fn memory_strings_read_like_spark() {
        for (text, parsed, mib) in CASES {
            let got = Memory::parse(text);
            assert_eq!(got.map(|m| (m.amount, m.unit)), *parsed, "parse({text:?})");
            assert_eq!(got.and_then(Memory::mib), *mib, "mib({text:?})");
        }
    }

    #[test]
    fn whole_mib_means_no_remainder_in_bytes() {
        let whole = |t| Memory::parse(t).unwrap().is_whole_mib();
        assert!(whole("2048k"));
        assert!(!whole("1k"));
        assert!(whole("0k"));
        assert!(whole("1g"));
        assert!(!whole("1b"));
        assert!(whole("1048576b"));
        assert!(!whole("18446744073709551615k"));
    }
}
