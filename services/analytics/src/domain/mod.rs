//! Analytics' rules: which event moves which figure.

use rapport_proto::events::v1::{ContactCreated, DealCreated, InteractionLogged, TaskCreated};

/// A figure counted per tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Contacts created.
    Contacts,
    /// Interactions logged.
    Interactions,
    /// Deals created.
    Deals,
    /// Tasks created.
    Tasks,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 4] = [
        Metric::Contacts,
        Metric::Interactions,
        Metric::Deals,
        Metric::Tasks,
    ];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Contacts => "contacts",
            Metric::Interactions => "interactions",
            Metric::Deals => "deals",
            Metric::Tasks => "tasks",
        }
    }

    /// The metric an event type increments, if any. Unknown types are
    /// applied as no-ops so new events never block the stream.
    pub fn counted_by(event_type: &str) -> Option<Metric> {
        use prost::Name;
        match event_type {
            t if t == ContactCreated::full_name() => Some(Metric::Contacts),
            t if t == InteractionLogged::full_name() => Some(Metric::Interactions),
            t if t == DealCreated::full_name() => Some(Metric::Deals),
            t if t == TaskCreated::full_name() => Some(Metric::Tasks),
            _ => None,
        }
    }
}

/// Counts of one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Contacts created.
    pub contacts: i64,
    /// Interactions logged.
    pub interactions: i64,
    /// Deals created.
    pub deals: i64,
    /// Tasks created.
    pub tasks: i64,
}

impl Summary {
    /// Sets the count of `metric`.
    pub fn set(&mut self, metric: Metric, value: i64) {
        match metric {
            Metric::Contacts => self.contacts = value,
            Metric::Interactions => self.interactions = value,
            Metric::Deals => self.deals = value,
            Metric::Tasks => self.tasks = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_map_to_metrics() {
        assert_eq!(
            Metric::counted_by("rapport.events.v1.ContactCreated"),
            Some(Metric::Contacts)
        );
        assert_eq!(
            Metric::counted_by("rapport.events.v1.InteractionLogged"),
            Some(Metric::Interactions)
        );
        assert_eq!(Metric::counted_by("rapport.events.v1.Unknown"), None);
        // Merges and erasures change no figure: counts are of records created.
        assert_eq!(Metric::counted_by("rapport.events.v1.ContactsMerged"), None);
        assert_eq!(Metric::counted_by("rapport.events.v1.ContactErased"), None);
    }
}
