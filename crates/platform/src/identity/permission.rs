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

/// A kind of record, the object of a record permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    /// People (`/v1/contacts`).
    Contacts,
    /// Companies (`/v1/companies`).
    Companies,
    /// Deals.
    Deals,
    /// Tasks and appointments.
    Tasks,
    /// Calls, e-mails, messages, meetings and notes.
    Interactions,
}

impl Object {
    /// Every object.
    pub const ALL: [Object; 5] = [
        Object::Contacts,
        Object::Companies,
        Object::Deals,
        Object::Tasks,
        Object::Interactions,
    ];
}

/// What may be done to records of one [`Object`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Get, list, search, timeline (subject to record-level rules).
    Read,
    /// Create and update (log, for interactions).
    Write,
    /// Merge duplicates.
    Merge,
    /// Give records to another owner or team.
    Reassign,
    /// Import from a file.
    Import,
    /// Export in bulk (CSV).
    Export,
}

/// An action guarded by a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// An action on records of one object (see [`RECORD_PERMISSIONS`]).
    Record(Object, Action),
    /// See the records of one's teams and their sub-teams, not only one's
    /// own and those shared (what managers see).
    ViewTeamRecords,
    /// See every record of the tenant (what admins see).
    ViewAllRecords,
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
    /// Define, change and delete the tenant's custom roles.
    ManageRoles,
    /// List and end other people's browser sessions (anyone may end their
    /// own).
    ManageSessions,
    /// Create and change the tenant's deal pipelines and their stages.
    ManagePipelines,
}

/// Every record permission that means something, with its stable name.
pub const RECORD_PERMISSIONS: [(Object, Action, &str); 20] = {
    use Action::*;
    use Object::*;
    [
        (Contacts, Read, "contacts.read"),
        (Contacts, Write, "contacts.write"),
        (Contacts, Merge, "contacts.merge"),
        (Contacts, Reassign, "contacts.reassign"),
        (Contacts, Import, "contacts.import"),
        (Contacts, Export, "contacts.export"),
        (Companies, Read, "companies.read"),
        (Companies, Write, "companies.write"),
        (Companies, Merge, "companies.merge"),
        (Companies, Reassign, "companies.reassign"),
        (Companies, Import, "companies.import"),
        (Companies, Export, "companies.export"),
        (Deals, Read, "deals.read"),
        (Deals, Write, "deals.write"),
        (Deals, Reassign, "deals.reassign"),
        (Tasks, Read, "tasks.read"),
        (Tasks, Write, "tasks.write"),
        (Tasks, Reassign, "tasks.reassign"),
        (Interactions, Read, "interactions.read"),
        (Interactions, Write, "interactions.write"),
    ]
};

/// The permissions that are not about one object, with their names.
const TENANT_PERMISSIONS: [(Permission, &str); 11] = [
    (Permission::ViewTeamRecords, "records.view_team"),
    (Permission::ViewAllRecords, "records.view_all"),
    (Permission::ManageCustomFields, "custom_fields.manage"),
    (Permission::ManageSettings, "settings.manage"),
    (Permission::ExportPersonalData, "personal_data.export"),
    (Permission::ErasePersonalData, "personal_data.erase"),
    (Permission::ManageApiKeys, "api_keys.manage"),
    (Permission::ReadAudit, "audit.read"),
    (Permission::ManageRoles, "roles.manage"),
    (Permission::ManageSessions, "sessions.manage"),
    (Permission::ManagePipelines, "pipelines.manage"),
];

/// `records.<action>`: the action on every object that has it. Names of
/// the first version, when permissions were not per object; API keys
/// created then keep working.
const RECORD_ALIASES: [(Action, &str); 6] = [
    (Action::Read, "records.read"),
    (Action::Write, "records.write"),
    (Action::Merge, "records.merge"),
    (Action::Reassign, "records.reassign"),
    (Action::Import, "records.import"),
    (Action::Export, "records.export"),
];

impl Permission {
    /// Reading records of `object`.
    pub const fn read(object: Object) -> Permission {
        Permission::Record(object, Action::Read)
    }

    /// Creating and changing records of `object`.
    pub const fn write(object: Object) -> Permission {
        Permission::Record(object, Action::Write)
    }

    /// The stable name callers see in errors (`ErrorInfo` metadata) and
    /// write in role definitions and API-key scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Record(object, action) => RECORD_PERMISSIONS
                .iter()
                .find(|(o, a, _)| *o == object && *a == action)
                .map(|(.., name)| *name)
                // Only reachable for a combination no check asks for.
                .unwrap_or("records.unknown"),
            other => TENANT_PERMISSIONS
                .iter()
                .find(|(p, _)| *p == other)
                .map(|(_, name)| *name)
                .unwrap_or("unknown"),
        }
    }

    /// Every permission.
    pub fn all() -> impl Iterator<Item = Permission> {
        RECORD_PERMISSIONS
            .iter()
            .map(|(o, a, _)| Permission::Record(*o, *a))
            .chain(TENANT_PERMISSIONS.iter().map(|(p, _)| *p))
    }

    /// Parses a permission name, or an alias naming several
    /// (`records.read`: reading every object).
    pub fn parse_many(s: &str) -> Result<Vec<Permission>, IdentityError> {
        if let Some((action, _)) = RECORD_ALIASES.iter().find(|(_, name)| *name == s) {
            return Ok(RECORD_PERMISSIONS
                .iter()
                .filter(|(_, a, _)| a == action)
                .map(|(o, a, _)| Permission::Record(*o, *a))
                .collect());
        }
        s.parse().map(|p| vec![p])
    }

    /// The names of `permissions`, each action held on every object written
    /// as its `records.<action>` alias: what [`Permission::parse_many`]
    /// reads back to the same set, and what a person reads more easily.
    pub fn names(permissions: &[Permission]) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut covered = Vec::new();
        for (action, alias) in RECORD_ALIASES {
            let all: Vec<Permission> = RECORD_PERMISSIONS
                .iter()
                .filter(|(_, a, _)| *a == action)
                .map(|(o, a, _)| Permission::Record(*o, *a))
                .collect();
            if all.iter().all(|p| permissions.contains(p)) {
                out.push(alias);
                covered.extend(all);
            }
        }
        for p in permissions {
            let name = p.as_str();
            if !covered.contains(p) && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

impl std::str::FromStr for Permission {
    type Err = IdentityError;
    /// Parses a permission's stable name (`contacts.read`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::all()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| IdentityError::Permission(s.chars().take(64).collect()))
    }
}

impl Role {
    /// Whether the role grants `permission`. A custom role grants nothing
    /// by itself: the gateway resolves it into the principal's grants.
    pub fn grants(&self, permission: Permission) -> bool {
        use Action::*;
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Manager => matches!(permission, Record(..) | ViewTeamRecords),
            Role::Rep => matches!(permission, Record(_, Read | Write)),
            // Partner systems and jobs read, write and move data in bulk;
            // tenant configuration and data-protection requests stay with
            // people.
            Role::System => matches!(
                permission,
                Record(_, Read | Write | Import | Export) | ViewAllRecords
            ),
            Role::ReadOnly => matches!(permission, Record(_, Read) | ViewTeamRecords),
            Role::Custom(_) => false,
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
    /// Whether the roles grant it (so an API key's scopes refused it).
    pub granted: bool,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.granted {
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
                .map(Role::as_str)
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
        self.granted(permission)
            && self
                .scopes
                .as_ref()
                .is_none_or(|scopes| scopes.contains(&permission))
    }

    /// Whether a role, or a custom role's grant, gives `permission`.
    fn granted(&self, permission: Permission) -> bool {
        self.roles.iter().any(|r| r.grants(permission)) || self.grants.contains(&permission)
    }

    /// `Ok` when the principal may, [`Denied`] otherwise.
    pub fn require(&self, permission: Permission) -> Result<(), Denied> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(Denied {
                permission,
                roles: self.roles.clone(),
                granted: self.granted(permission),
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

/// The principal of a call, if it may do any of `permissions` (the error
/// names the first); records the tenant on the current span.
pub fn caller_any(md: &MetadataMap, permissions: &[Permission]) -> Result<Principal, AccessError> {
    let p = Principal::from_metadata(md)?;
    tracing::Span::current().record("tenant", p.tenant.as_str());
    match permissions.iter().find(|&&wanted| p.may(wanted)) {
        Some(_) => Ok(p),
        None => Err(p
            .require(
                permissions
                    .first()
                    .copied()
                    .unwrap_or(Permission::ViewAllRecords),
            )
            .unwrap_err()
            .into()),
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
            grants: Vec::new(),
        }
    }

    #[test]
    fn tenant_configuration_and_erasure_are_for_admins_only() {
        for p in [
            Permission::ManageCustomFields,
            Permission::ManageSettings,
            Permission::ErasePersonalData,
            Permission::ExportPersonalData,
            Permission::ManageRoles,
            Permission::ManageSessions,
            Permission::ManagePipelines,
        ] {
            assert!(with(&[Role::Admin]).may(p), "{p:?}");
            for role in [Role::Manager, Role::Rep, Role::System, Role::ReadOnly] {
                assert!(
                    !with(std::slice::from_ref(&role)).may(p),
                    "{role:?} may {p:?}"
                );
            }
        }
    }

    #[test]
    fn bulk_operations_need_a_manager() {
        for object in [Object::Contacts, Object::Companies] {
            for action in [Action::Merge, Action::Reassign] {
                let p = Permission::Record(object, action);
                assert!(with(&[Role::Manager]).may(p));
                assert!(!with(&[Role::Rep]).may(p));
                assert!(!with(&[Role::ReadOnly]).may(p));
            }
        }
    }

    #[test]
    fn read_only_reads_and_no_role_does_nothing() {
        let contacts = Permission::read(Object::Contacts);
        assert!(with(&[Role::ReadOnly]).may(contacts));
        assert!(!with(&[Role::ReadOnly]).may(Permission::write(Object::Deals)));
        let nobody = with(&[]);
        let denied = nobody.require(contacts).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "permission contacts.read is not granted to no role"
        );
    }

    #[test]
    fn scopes_narrow_what_the_roles_grant() {
        let key = Principal {
            scopes: Some(vec![
                Permission::read(Object::Contacts),
                Permission::ManageSettings,
            ]),
            ..with(&[Role::System])
        };
        assert!(key.may(Permission::read(Object::Contacts)));
        // In scope but not granted by the role: still no.
        assert!(!key.may(Permission::ManageSettings));
        let denied = key
            .require(Permission::write(Object::Contacts))
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "permission contacts.write is not among the scopes of this API key"
        );
    }

    #[test]
    fn names_round_trip_and_first_version_names_still_parse() {
        let all: Vec<Permission> = Permission::all().collect();
        assert_eq!(all.len(), 31);
        for p in &all {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
        }
        let names: std::collections::HashSet<&str> = all.iter().map(|p| p.as_str()).collect();
        assert_eq!(names.len(), all.len(), "names are unique");
        assert!("records.delete".parse::<Permission>().is_err());
        assert!("records.read".parse::<Permission>().is_err(), "an alias");
        let read = Permission::parse_many("records.read").unwrap();
        assert_eq!(read.len(), Object::ALL.len(), "one per object");
        assert!(
            read.iter()
                .all(|p| matches!(p, Permission::Record(_, Action::Read)))
        );
        let mixed = [read.clone(), vec![Permission::write(Object::Deals)]].concat();
        assert_eq!(Permission::names(&mixed), ["records.read", "deals.write"]);
        assert_eq!(
            Permission::names(&[Permission::read(Object::Tasks)]),
            ["tasks.read"]
        );
        assert_eq!(
            Permission::parse_many("records.import").unwrap(),
            [
                Permission::Record(Object::Contacts, Action::Import),
                Permission::Record(Object::Companies, Action::Import)
            ]
        );
    }

    #[test]
    fn custom_roles_grant_what_the_gateway_resolved() {
        let desk = Principal {
            grants: vec![
                Permission::read(Object::Deals),
                Permission::write(Object::Deals),
            ],
            ..with(&[Role::Custom(
                crate::identity::CustomRoleName::parse("deal-desk").unwrap(),
            )])
        };
        assert!(desk.may(Permission::write(Object::Deals)));
        assert!(!desk.may(Permission::write(Object::Contacts)));
        assert!(!desk.may(Permission::read(Object::Contacts)));
        let denied = desk
            .require(Permission::read(Object::Contacts))
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "permission contacts.read is not granted to deal-desk"
        );
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
