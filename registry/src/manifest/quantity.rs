//! Quantities written by people in manifests: byte sizes (`64Mi`, `1G`), durations
//! (`500ms`, `5s`, `2m`) and CPU counts (`0.5`, `500m`). Each parses from the YAML form
//! and serialises to one normal form, so the canonical manifest is stable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte size. Accepts an integer, or a number with a suffix: `K M G T` (powers of 1000),
/// `Ki Mi Gi Ti` (powers of 1024), optional trailing `B`. Serialises as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(digits);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a size (e.g. 512Ki, 64Mi, 1G, 1048576)"))?;
        let unit = unit.trim();
        let unit = unit.strip_suffix('B').unwrap_or(unit);
        let mult: u64 = match unit {
            "" => 1,
            "K" | "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            other => {
                return Err(format!(
                    "{s:?}: unknown size unit {other:?} (use K, M, G, T, Ki, Mi, Gi or Ti)"
                ))
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration in milliseconds. Accepts `250ms`, `5s`, `2m`, `1h` (or combinations like
/// `1m30s`). Serialises as the shortest exact form, e.g. `90s`, `1500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub u64);

impl Duration {
    /// As a std duration.
    pub fn as_std(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
    /// Whole seconds, rounded up.
    pub fn as_secs_ceil(&self) -> u64 {
        self.0.div_ceil(1000)
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a duration (e.g. 500ms, 5s, 2m, 1h)");
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let (mult, len) = if rest.starts_with("ms") {
                (1, 2)
            } else if rest.starts_with('s') {
                (1_000, 1)
            } else if rest.starts_with('m') {
                (60_000, 1)
            } else if rest.starts_with('h') {
                (3_600_000, 1)
            } else {
                return Err(bad());
            };
            rest = &rest[len..];
            total = n
                .checked_mul(mult)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// CPU limit in thousandths of a CPU. Accepts `0.5`, `2`, `"1.25"` or `"500m"`;
/// serialises as `"500m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cpus(pub u32);

impl FromStr for Cpus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a CPU count (e.g. 0.5, 2, 500m)");
        let t = s.trim();
        if let Some(m) = t.strip_suffix('m') {
            return m.parse().map(Cpus).map_err(|_| bad());
        }
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if whole.is_empty() && frac.is_empty() || frac.len() > 3 {
            return Err(bad());
        }
        let w: u32 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let f: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().map_err(|_| bad())?
        };
        w.checked_mul(1000)
            .and_then(|v| v.checked_add(f))
            .map(Cpus)
            .ok_or_else(bad)
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}m", self.0))
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            F(f64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => n
                .checked_mul(1000)
                .map(Cpus)
                .ok_or_else(|| serde::de::Error::custom("CPU count too large")),
            Raw::F(f) if f.is_finite() && (0.0..=4096.0).contains(&f) => {
                Ok(Cpus((f * 1000.0).round() as u32))
            }
            Raw::F(f) => Err(serde::de::Error::custom(format!("{f} is not a CPU count"))),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_parse_both_unit_families() {
        let cases = [
            ("1024", 1024),
            ("1K", 1_000),
            ("1k", 1_000),
            ("1Ki", 1_024),
            ("64Mi", 64 << 20),
            ("64M", 64_000_000),
            ("2Gi", 2 << 30),
            ("2G", 2_000_000_000),
            ("1GiB", 1 << 30),
            ("3T", 3_000_000_000_000),
        ];
        for (s, n) in cases {
            assert_eq!(s.parse::<ByteSize>().unwrap(), ByteSize(n), "{s}");
        }
        for bad in ["", "Mi", "1.5Gi", "12X", "-1", "99999999999999999999"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        let y: ByteSize = serde_yaml::from_str("32Mi").unwrap();
        assert_eq!(serde_json::to_string(&y).unwrap(), "33554432");
        let again: ByteSize = serde_json::from_str("33554432").unwrap();
        assert_eq!(again, y);
    }

    #[test]
    fn durations_normalise() {
        for (s, ms, norm) in [
            ("500ms", 500, "500ms"),
            ("5s", 5000, "5s"),
            ("2m", 120_000, "120s"),
            ("1m30s", 90_000, "90s"),
            ("1h", 3_600_000, "3600s"),
            ("1500ms", 1500, "1500ms"),
        ] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d, Duration(ms));
            assert_eq!(d.to_string(), norm);
            assert_eq!(norm.parse::<Duration>().unwrap(), d);
        }
        for bad in ["", "5", "s", "5x", "1.5s", "-1s"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus_accept_numbers_and_millis() {
        let y: Cpus = serde_yaml::from_str("0.5").unwrap();
        assert_eq!(y, Cpus(500));
        let y: Cpus = serde_yaml::from_str("2").unwrap();
        assert_eq!(y, Cpus(2000));
        assert_eq!("250m".parse::<Cpus>().unwrap(), Cpus(250));
        assert_eq!("1.25".parse::<Cpus>().unwrap(), Cpus(1250));
        assert_eq!(serde_json::to_string(&Cpus(500)).unwrap(), "\"500m\"");
        let back: Cpus = serde_json::from_str("\"500m\"").unwrap();
        assert_eq!(back, Cpus(500));
        assert!("1.2345".parse::<Cpus>().is_err());
        assert!("abc".parse::<Cpus>().is_err());
    }
}
