//! Custom field definitions: everyone reads them, tenant admins change them.

use chrono::Utc;
use rapport_platform::identity::{Permission, Principal, TenantId};

use super::ContactsApi;
use crate::domain::{ContactError, CustomFieldDef, Kind, MAX_FIELDS};

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
        if !self.store.create_custom_field(&p.tenant, &def).await? {
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
        if self.store.delete_custom_field(&p.tenant, kind, key).await? {
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
        Ok(self
            .store
            .set_phone_region(&p.tenant, region.code())
            .await?)
    }
}
