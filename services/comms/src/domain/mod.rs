//! Comms' rules: no I/O, no transport types.

mod interaction;

pub use interaction::{
    Channel, CommsError, Direction, Interaction, InteractionDraft, InteractionId, PageSize,
};
