//! Comms' rules: no I/O, no transport types.

mod contact_change;
mod interaction;

pub use contact_change::ContactChange;

pub use interaction::{
    Channel, CommsError, Direction, Interaction, InteractionDraft, InteractionId, PageSize,
};
