//! Contacts' rules: no I/O, no transport types.

mod custom_field;
mod email;
mod error;
mod import_job;
pub mod index;
mod mask;
mod merge;
pub mod name;
mod phone;
mod record;
mod validate;

pub use custom_field::{CustomFieldDef, FieldType, MAX_FIELDS};
pub use email::Email;
pub use error::{ContactError, invalid};
pub use import_job::{DuplicatePolicy, ImportJob, ImportOptions, ImportRowError, ImportState};
pub use index::{IndexEntry, index_entries};
pub use mask::{api_name, apply_mask, changed_fields};
pub use merge::merge_into;
pub use phone::{
    PhoneError, PhoneReadings, Region, StoredPhoneFinding, StoredPhoneProblem, check_stored_phone,
    normalize_phone, phone_readings,
};
pub use record::{
    Address, CompanyLink, CompanyRole, CompanyType, Fields, Kind, LifecycleStage, Record,
    RecordData, RecordId,
};
pub use validate::{WriteRules, name_field};
