//! What the contacts service asks of the records that point at people.

use uuid::Uuid;

/// A change to people that records pointing at them must follow, decoded
/// from the contacts service's `ContactsMerged` and `ContactErased` events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactChange {
    /// People were merged: every record of a `merged` id now belongs to
    /// `survivor`.
    Relink {
        /// The person that remains.
        survivor: Uuid,
        /// The people merged into it (never empty, never `survivor`).
        merged: Vec<Uuid>,
    },
    /// A person was erased (data protection).
    Erase {
        /// The erased person.
        contact: Uuid,
    },
}

impl ContactChange {
    /// A re-link of `merged` into `survivor`. Drops the survivor itself and
    /// repeated ids (re-linking the survivor onto itself would move its own
    /// history away on backends that copy rows); `None` when nothing is left.
    pub fn relink(survivor: Uuid, merged: impl IntoIterator<Item = Uuid>) -> Option<Self> {
        let mut ids: Vec<Uuid> = Vec::new();
        for id in merged {
            if id != survivor && !ids.contains(&id) {
                ids.push(id);
            }
        }
        (!ids.is_empty()).then_some(ContactChange::Relink {
            survivor,
            merged: ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relink_drops_the_survivor_and_repeats() {
        let (s, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            ContactChange::relink(s, [a, s, b, a]),
            Some(ContactChange::Relink {
                survivor: s,
                merged: vec![a, b]
            })
        );
        assert_eq!(ContactChange::relink(s, [s]), None);
        assert_eq!(ContactChange::relink(s, []), None);
    }
}
