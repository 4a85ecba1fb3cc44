//! Custom field definitions: everyone reads them, tenant admins change them.

use chrono::Utc;
use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    identity::{Permission, Principal, TenantId},
};

use super::{ContactsApi, audit};
use crate::domain::{ContactError, CustomFieldDef, Kind, MAX_FIELDS};

/// The resource name of a definition: `customFields/{object}/{key}`.
fn resource(kind: Kind, key: &str) -> String {
    format!("customFields/{}/{key}", kind.as_str())
}

fn json(def: &CustomFieldDef) -> serde_json::Value {
    serde_json::to_value(def).unwrap_or_default()
}

impl ContactsApi {
    /// Defines a field; the key must be new for its object type.
    pub async fn create_custom_field(
        &self,
        p: &Principal,
        mut def: CustomFieldDef,
    ) -> Result<CustomFieldDef, ContactError> {
        p.require(Permission::ManageCustomFields)?;
        def.create_time = Utc::now();
        def.created_by = p.user.to_string();
        let def = def.validate().map_err(ContactError::Invalid)?;
        if self
            .store
            .custom_fields(&p.tenant, Some(def.kind))
            .await?
            .len()
            >= MAX_FIELDS
        {
            return Err(ContactError::FailedPrecondition(format!(
                "a tenant may define at most {MAX_FIELDS} fields per object type"
            )));
        }
        let entry = audit::now(
            p,
            AuditDraft::new(resource(def.kind, &def.key), Change::Created)
                .with_fields(diff(None, Some(&json(&def)))),
        );
        if !self
            .store
            .create_custom_field(&p.tenant, &def, &entry)
            .await?
        {
            return Err(ContactError::AlreadyExists(format!(
                "custom field {} of {}",
                def.key,
                def.kind.as_str()
            )));
        }
        Ok(def)
    }

    /// The tenant's fields.
    pub async fn list_custom_fields(
        &self,
        tenant: &TenantId,
        kind: Option<Kind>,
    ) -> Result<Vec<CustomFieldDef>, ContactError> {
        Ok(self.store.custom_fields(tenant, kind).await?)
    }

    /// Removes a definition; stored values stay (hidden) and come back if
    /// the field is defined again.
    pub async fn delete_custom_field(
        &self,
        p: &Principal,
        kind: Kind,
        key: &str,
    ) -> Result<(), ContactError> {
        p.require(Permission::ManageCustomFields)?;
        let old = self
            .store
            .custom_fields(&p.tenant, Some(kind))
            .await?
            .into_iter()
            .find(|d| d.key == key);
        let entry = audit::now(
            p,
            AuditDraft::new(resource(kind, key), Change::Deleted)
                .with_fields(diff(old.as_ref().map(json).as_ref(), None)),
        );
        if self
            .store
            .delete_custom_field(&p.tenant, kind, key, &entry)
            .await?
        {
            Ok(())
        } else {
            Err(ContactError::NotFound {
                kind: "custom field",
                id: format!("{}/{key}", kind.as_str()),
            })
        }
    }
}

impl ContactsApi {
    /// Sets the tenant's default phone region (tenant admins).
    pub async fn set_phone_region(
        &self,
        p: &Principal,
        region: &crate::domain::Region,
    ) -> Result<(), ContactError> {
        p.require(Permission::ManageSettings)?;
        let old = self.store.phone_region(&p.tenant).await?;
        let entry = audit::now(
            p,
            AuditDraft::new("contactSettings", Change::Updated).with_fields(diff(
                Some(&serde_json::json!({ "default_phone_region": old })),
                Some(&serde_json::json!({ "default_phone_region": region.code() })),
            )),
        );
        Ok(self
            .store
            .set_phone_region(&p.tenant, region.code(), &entry)
            .await?)
    }
}
