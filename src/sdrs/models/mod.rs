//! Wire models: every SDRS request and response body (and the ECS subset), with JSON field names
//! exactly as the API reference and the official SDK write them.
//!
//! The client decodes responses into these types and the emulator encodes its answers with them,
//! so both sides share one definition. Rules that hold throughout:
//! - Field names are verbatim, including the odd ones (`flavorRef`, `replicationAttachment`,
//!   `extend-replication`, `start-server-group`, `metadata.__system__frozen`, `OS-EXT-STS:vm_state`).
//! - Responses tolerate unknown fields (they are ignored, or kept where the map is open-ended such as
//!   job entities) and missing fields (`None` / empty list), as the SDK does.
//! - Status-like values are [`crate::wire_enum!`] enums that keep an unknown value in `Other(String)`
//!   instead of failing, because the service adds states without notice.
//! - Integers the service might send as strings (and the reverse) are read leniently.
//! - Request bodies omit unset (`None`) fields, as the SDK does; response bodies write `null` for
//!   them, as the service does.
//!
//! One file per API area, following the reference's chapters.

pub mod api_version;
pub mod domain;
pub mod drill;
pub mod ecs;
pub mod job;
pub mod protected_instance;
pub mod protection_group;
pub mod quota;
pub mod replication;
pub mod rpo;
pub mod tag;
pub mod task_center;

pub use api_version::*;
pub use domain::*;
pub use drill::*;
pub use ecs::*;
pub use job::*;
pub use protected_instance::*;
pub use protection_group::*;
pub use quota::*;
pub use replication::*;
pub use rpo::*;
pub use tag::*;
pub use task_center::*;

/// Defines a string enum of the wire that keeps unknown values.
///
/// Each variant maps to its exact wire text; any other text deserialises to `Other(text)` and
/// serialises back unchanged, so a response from a newer service version never fails to decode
/// and the emulator can still send values drbook does not name.
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of drbook does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every wire value drbook knows, in reference order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            /// The exact wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(text) => text,
                }
            }

            /// Reads a wire value; never fails.
            pub fn parse(text: &str) -> Self {
                match text {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// `false` for a value kept in `Other`.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(text))
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

wire_enum! {
    /// Which site currently runs production (`priority_station`), relative to the AZs given when
    /// the protection group was created.
    pub enum PriorityStation {
        /// Production runs in `source_availability_zone`.
        Source = "source",
        /// Production runs in `target_availability_zone` (after a switchover or failover).
        Target = "target",
    }
}

wire_enum! {
    /// Data synchronisation state (`replication_status`) of a protection group or replication pair.
    pub enum DataSyncStatus {
        Active = "active",
        Inactive = "inactive",
        Copying = "copying",
        ActiveStopped = "active-stopped",
    }
}

wire_enum! {
    /// The `query_type` filter of the list operations.
    pub enum QueryType {
        /// Only resources in an abnormal state.
        StatusAbnormal = "status_abnormal",
        /// Protection groups whose protection is stopped.
        StopProtected = "stop_protected",
        /// Protection groups without a DR drill for a while (three months by default).
        PeriodNoDrDrill = "period_no_dr_drill",
        /// No filter.
        General = "general",
    }
}

/// The inner object of every rename (`PUT`) body: `{"<resource>": {"name": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenameParams {
    /// New name: at most 64 bytes of letters, digits, CJK characters, `.`, `_` and `-`.
    pub name: String,
}

/// Paging of the list operations (`limit` in `[0, 1000]`, default 1000; `offset` ≥ 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// Lenient readers for fields whose JSON type varies between the reference, the SDK and clients.
pub mod lenient {
    use serde::{Deserialize, Deserializer, de::Error as _};
    use serde_json::Value;

    /// An optional integer given as a JSON number or a numeric string.
    pub fn opt_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("integer out of range: {n}"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| D::Error::custom(format!("expected an integer, got \"{s}\""))),
            Some(other) => Err(D::Error::custom(format!(
                "expected an integer, got {other}"
            ))),
        }
    }

    /// An optional string given as a JSON string, number or boolean (e.g. `fault_level`, or the
    /// by-tags `offset` that Terraform sends as a number while the reference says string).
    pub fn opt_string<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(D::Error::custom(format!("expected a string, got {other}"))),
        }
    }

    /// An optional boolean given as a JSON boolean or the strings `"true"` / `"false"`.
    pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(D::Error::custom(format!("expected a boolean, got {other}"))),
        }
    }

    /// A list where `null` means empty.
    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn wire_enums_round_trip_known_and_unknown_values() {
        let known: PriorityStation = serde_json::from_str("\"target\"").unwrap();
        assert_eq!(known, PriorityStation::Target);
        let unknown: PriorityStation = serde_json::from_str("\"moon\"").unwrap();
        assert_eq!(unknown, PriorityStation::Other("moon".to_owned()));
        assert!(!unknown.is_known());
        assert_eq!(serde_json::to_string(&unknown).unwrap(), "\"moon\"");
        assert_eq!(DataSyncStatus::ActiveStopped.to_string(), "active-stopped");
        for text in QueryType::KNOWN {
            assert_eq!(QueryType::parse(text).as_str(), *text);
            assert!(QueryType::parse(text).is_known());
        }
    }
}
