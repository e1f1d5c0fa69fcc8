//! Names the catalog stores in TEXT columns (statuses, decisions, kinds) and reads back as
//! enums: one macro gives each enum its stored name, `Display`, and SQLite conversions,
//! so a read model never carries the raw string.

use rusqlite::types::{FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};

/// A stored name that is none of the values the catalog writes (the file was written by
/// a broken or foreign program).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
pub struct UnknownName {
    /// What the column holds (e.g. "entry status").
    pub what: &'static str,
    /// The stored text (at most 64 characters of it).
    pub value: String,
}

/// Decode a TEXT column through `parse`, failing with an [`UnknownName`] as the source.
pub(crate) fn column<T>(
    v: ValueRef<'_>,
    parse: impl FnOnce(&str) -> Result<T, UnknownName>,
) -> FromSqlResult<T> {
    parse(v.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
}

/// The stored name as an SQL value.
pub(crate) fn name(s: &'static str) -> ToSqlOutput<'static> {
    ToSqlOutput::from(s)
}

/// Give a fieldless enum its stored names: `as_str`, `from_stored`, `Display` (padded
/// like a `str`, so `{:<10}` works), `FromSql` and `ToSql`. Its serde names must match
/// (checked by the crate's tests).
macro_rules! stored_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored (and serialized) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }

            /// The value a stored name stands for.
            pub fn from_stored(s: &str) -> Result<Self, $crate::stored::UnknownName> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err($crate::stored::UnknownName {
                        what: $what,
                        value: s.chars().take(64).collect(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl rusqlite::types::FromSql for $ty {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                $crate::stored::column(v, Self::from_stored)
            }
        }

        impl rusqlite::types::ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok($crate::stored::name(self.as_str()))
            }
        }
    };
}
pub(crate) use stored_names;
