//! Where records linked to a person go once the person is merged or erased
//! (see `sqlite::contact_fates` and each service's ScyllaDB backend).

use uuid::Uuid;

/// Where the records of a person id belong now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The person exists under this id (the id itself, or its survivor).
    Live(Uuid),
    /// The person was erased: nothing may be stored for them.
    Erased,
}

/// What a store did with a new record linked to a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linked {
    /// Stored as given.
    Stored,
    /// Not stored: the person was merged into `survivor`; store it there.
    Merged {
        /// The id the record must point at instead.
        survivor: Uuid,
    },
    /// Not stored: the person was erased.
    Erased,
}

impl Linked {
    /// What storing a record for `contact` must do, given its fate.
    pub fn of(contact: Uuid, fate: Fate) -> Linked {
        match fate {
            Fate::Live(id) if id == contact => Linked::Stored,
            Fate::Live(survivor) => Linked::Merged { survivor },
            Fate::Erased => Linked::Erased,
        }
    }
}
