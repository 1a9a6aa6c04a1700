//! Closed sets of values that travel as text: a link's status, a risk level, a health state,
//! a click's outcome. Each is an enum with one lower-case name per variant, and that one name
//! is what it is stored as (Postgres text columns), serialised as (events, API bodies, the
//! Redis cache) and labelled as (metrics): [`named_enum!`] writes `as_str`, `FromStr`,
//! `Display` and serde from the same list, so the spellings cannot drift apart and no caller
//! has to compare strings.
//!
//! [`Named`] is what code generic over these enums needs (`ghostlink-db` stores any of them in
//! a text column through it): every variant, the name of each, and a parse that refuses an
//! unknown name with [`UnknownName`].

use std::fmt::Debug;
use std::str::FromStr;

/// A name that is none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}' (expected {})", .expected.join(", "))]
pub struct UnknownName {
    /// What was being parsed, e.g. `link status`.
    pub kind: &'static str,
    pub value: String,
    /// Every name there is.
    pub expected: &'static [&'static str],
}

/// An enum whose every variant has one text name.
pub trait Named:
    Copy + Eq + Debug + std::fmt::Display + Send + Sync + FromStr<Err = UnknownName> + 'static
{
    /// What the values are, for messages: `link status`, `risk level`.
    const KIND: &'static str;
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// The stored, serialised and labelled name.
    fn as_str(self) -> &'static str;
}

/// Declares an enum of [`Named`] values: `Variant = "text"` per variant; the literal after the
/// name says what the values are, in errors. Extra derives and docs go on the enum as usual:
///
/// ```text
/// named_enum! {
///     /// A colour.
///     pub enum Colour: "colour" {
///         Red = "red",
///         DarkBlue = "dark_blue",
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The name of every variant, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored, serialised and labelled name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl crate::named::Named for $name {
            const KIND: &'static str = $kind;
            const ALL: &'static [Self] = $name::ALL;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::named::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(crate::named::UnknownName {
                        kind: $kind,
                        value: other.to_string(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;
