//! What a principal may do: permissions, and the roles that grant them.
//!
//! Every use case that is not open to every member of a tenant asks
//! [`Principal::require`] before it touches the store, so each entry point
//! (gRPC, REST through the gateway, the command line) is checked the same
//! way. Record-level rules (own, team, shared) come on top of these.

use std::{collections::HashMap, fmt};

use tonic::metadata::MetadataMap;

use super::{IdentityError, Principal, Role};
use crate::error::{ErrorCode, ServiceError};

/// An action guarded by a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read records of the tenant (subject to record-level rules).
    ReadRecords,
    /// Create and update records, log interactions.
    WriteRecords,
    /// Merge duplicate people or companies.
    MergeRecords,
    /// Hand records over to another owner in bulk.
    ReassignOwners,
    /// Import records from a file.
    ImportRecords,
    /// Export records in bulk (CSV).
    ExportRecords,
    /// Define and remove custom fields.
    ManageCustomFields,
    /// Change the tenant's settings (default phone region, ...).
    ManageSettings,
    /// Export everything stored about one person (data-protection request).
    ExportPersonalData,
    /// Erase a person everywhere.
    ErasePersonalData,
    /// Create, list and revoke the tenant's API keys.
    ManageApiKeys,
    /// Read the tenant's audit trail (`/v1/audit`).
    ReadAudit,
}

impl Permission {
    /// The stable name callers see in errors (`ErrorInfo` metadata).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadRecords => "records.read",
            Permission::WriteRecords => "records.write",
            Permission::MergeRecords => "records.merge",
            Permission::ReassignOwners => "records.reassign",
            Permission::ImportRecords => "records.import",
            Permission::ExportRecords => "records.export",
            Permission::ManageCustomFields => "custom_fields.manage",
            Permission::ManageSettings => "settings.manage",
            Permission::ExportPersonalData => "personal_data.export",
            Permission::ErasePersonalData => "personal_data.erase",
            Permission::ManageApiKeys => "api_keys.manage",
            Permission::ReadAudit => "audit.read",
        }
    }

    /// Every permission.
    pub const ALL: [Permission; 12] = [
        Permission::ReadRecords,
        Permission::WriteRecords,
        Permission::MergeRecords,
        Permission::ReassignOwners,
        Permission::ImportRecords,
        Permission::ExportRecords,
        Permission::ManageCustomFields,
        Permission::ManageSettings,
        Permission::ExportPersonalData,
        Permission::ErasePersonalData,
        Permission::ManageApiKeys,
        Permission::ReadAudit,
    ];
}

impl std::str::FromStr for Permission {
    type Err = IdentityError;
    /// Parses a permission's stable name (`records.read`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| IdentityError::Permission(s.chars().take(64).collect()))
    }
}

impl Role {
    /// Whether the role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Manager => matches!(
                permission,
                ReadRecords
                    | WriteRecords
                    | MergeRecords
                    | ReassignOwners
                    | ImportRecords
                    | ExportRecords
            ),
            Role::Rep => matches!(permission, ReadRecords | WriteRecords),
            // Partner systems and jobs read, write and move data in bulk;
            // tenant configuration and data-protection requests stay with
            // people.
            Role::System => matches!(
                permission,
                ReadRecords | WriteRecords | ImportRecords | ExportRecords
            ),
            Role::ReadOnly => matches!(permission, ReadRecords),
        }
    }
}

/// The caller's roles do not grant a permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// What was asked for.
    pub permission: Permission,
    /// The caller's roles, for the message.
    pub roles: Vec<Role>,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.roles.iter().any(|r| r.grants(self.permission)) {
            // The roles grant it: the principal's scopes (an API key's) do not.
            return write!(
                f,
                "permission {} is not among the scopes of this API key",
                self.permission.as_str()
            );
        }
        let roles = if self.roles.is_empty() {
            "no role".to_owned()
        } else {
            self.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "permission {} is not granted to {roles}",
            self.permission.as_str()
        )
    }
}

impl std::error::Error for Denied {}

impl Principal {
    /// Whether any of the principal's roles grants `permission`, and its
    /// scopes (an API key's) include it.
    pub fn may(&self, permission: Permission) -> bool {
        self.roles.iter().any(|r| r.grants(permission))
            && self
                .scopes
                .as_ref()
                .is_none_or(|scopes| scopes.contains(&permission))
    }

    /// `Ok` when the principal may, [`Denied`] otherwise.
    pub fn require(&self, permission: Permission) -> Result<(), Denied> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(Denied {
                permission,
                roles: self.roles.clone(),
            })
        }
    }
}

/// Why a call was refused before it reached a use case.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No valid principal in the metadata.
    #[error("{0}")]
    Unauthenticated(#[from] IdentityError),
    /// The principal's roles do not allow the call.
    #[error("{0}")]
    Denied(#[from] Denied),
}

impl ServiceError for AccessError {
    fn code(&self) -> ErrorCode {
        match self {
            AccessError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AccessError::Denied(_) => ErrorCode::PermissionDenied,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            AccessError::Unauthenticated(_) => "UNAUTHENTICATED",
            AccessError::Denied(_) => "PERMISSION_DENIED",
        }
    }

    fn metadata(&self) -> HashMap<String, String> {
        match self {
            AccessError::Denied(d) => {
                HashMap::from([("permission".to_owned(), d.permission.as_str().to_owned())])
            }
            AccessError::Unauthenticated(_) => HashMap::new(),
        }
    }
}

/// The principal of a call, if it may do `permission`; records the tenant
/// on the current span.
pub fn caller(md: &MetadataMap, permission: Permission) -> Result<Principal, AccessError> {
    let p = Principal::from_metadata(md)?;
    tracing::Span::current().record("tenant", p.tenant.as_str());
    p.require(permission)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{TenantId, UserId};

    fn with(roles: &[Role]) -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice").unwrap(),
            roles: roles.to_vec(),
            teams: Vec::new(),
            scopes: None,
        }
    }

    #[test]
    fn tenant_configuration_and_erasure_are_for_admins_only() {
        for p in [
            Permission::ManageCustomFields,
            Permission::ManageSettings,
            Permission::ErasePersonalData,
            Permission::ExportPersonalData,
        ] {
            assert!(with(&[Role::Admin]).may(p), "{p:?}");
            for role in [Role::Manager, Role::Rep, Role::System, Role::ReadOnly] {
                assert!(!with(&[role]).may(p), "{role:?} may {p:?}");
            }
        }
    }

    #[test]
    fn bulk_operations_need_a_manager() {
        for p in [Permission::MergeRecords, Permission::ReassignOwners] {
            assert!(with(&[Role::Manager]).may(p));
            assert!(!with(&[Role::Rep]).may(p));
            assert!(!with(&[Role::ReadOnly]).may(p));
        }
    }

    #[test]
    fn read_only_reads_and_no_role_does_nothing() {
        assert!(with(&[Role::ReadOnly]).may(Permission::ReadRecords));
        assert!(!with(&[Role::ReadOnly]).may(Permission::WriteRecords));
        let nobody = with(&[]);
        let denied = nobody.require(Permission::ReadRecords).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "permission records.read is not granted to no role"
        );
    }

    #[test]
    fn scopes_narrow_what_the_roles_grant() {
        let key = Principal {
            scopes: Some(vec![Permission::ReadRecords, Permission::ManageSettings]),
            ..with(&[Role::System])
        };
        assert!(key.may(Permission::ReadRecords));
        // In scope but not granted by the role: still no.
        assert!(!key.may(Permission::ManageSettings));
        let denied = key.require(Permission::WriteRecords).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "permission records.write is not among the scopes of this API key"
        );
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!("records.delete".parse::<Permission>().is_err());
    }

    #[test]
    fn any_role_that_grants_is_enough() {
        assert!(
            with(&[Role::Rep, Role::Admin])
                .require(Permission::ManageSettings)
                .is_ok()
        );
    }
}
