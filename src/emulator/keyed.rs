//! [`Keyed`]: a map from id to record that reads and writes as a plain list.
//!
//! Inventory and state files list their objects (`servers: [{id: ecs-web-01, ...}]`), which is how
//! people write YAML; the emulator looks them up by id. `Keyed` gives both: a `BTreeMap` inside and
//! a list on the outside, with duplicate ids rejected on load.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A record with a stable id.
pub trait HasId {
    fn id(&self) -> &str;
}

/// Records keyed by their id; serialised as a list in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed<T> {
    map: BTreeMap<String, T>,
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }
}

impl<T: HasId> Keyed<T> {
    /// Inserts (or replaces) a record under its own id.
    pub fn insert(&mut self, record: T) {
        self.map.insert(record.id().to_owned(), record);
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.map.get_mut(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        self.map.remove(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.map.values()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.map.values_mut()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keeps only the records for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|_, v| keep(v));
    }
}

impl<T: HasId> FromIterator<T> for Keyed<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut keyed = Self::default();
        for record in iter {
            keyed.insert(record);
        }
        keyed
    }
}

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.map.values())
    }
}

impl<'de, T: Deserialize<'de> + HasId> Deserialize<'de> for Keyed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + HasId> Visitor<'de> for ListVisitor<T> {
            type Value = Keyed<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of records with distinct ids")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut keyed = Keyed::default();
                while let Some(record) = seq.next_element::<T>()? {
                    if keyed.contains(record.id()) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate id `{}`",
                            record.id()
                        )));
                    }
                    keyed.insert(record);
                }
                Ok(keyed)
            }
        }

        deserializer.deserialize_seq(ListVisitor(PhantomData))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Thing {
        id: String,
        size: u32,
    }

    impl HasId for Thing {
        fn id(&self) -> &str {
            &self.id
        }
    }

    #[test]
    fn round_trips_as_a_list() {
        let keyed: Keyed<Thing> =
            serde_json::from_str(r#"[{"id":"b","size":2},{"id":"a","size":1}]"#).unwrap();
        assert_eq!(keyed.get("a").unwrap().size, 1);
        assert_eq!(
            serde_json::to_string(&keyed).unwrap(),
            r#"[{"id":"a","size":1},{"id":"b","size":2}]"#
        );
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let err =
            serde_json::from_str::<Keyed<Thing>>(r#"[{"id":"a","size":1},{"id":"a","size":2}]"#)
                .unwrap_err();
        assert!(err.to_string().contains("duplicate id `a`"), "{err}");
    }
}
