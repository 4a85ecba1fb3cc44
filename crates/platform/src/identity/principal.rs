//! Tenant and user ids, roles, and the principal in gRPC metadata.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use tonic::metadata::{MetadataMap, MetadataValue};

use super::Permission;

/// gRPC metadata key of the tenant id.
pub const TENANT_HEADER: &str = "x-rapport-tenant";
/// gRPC metadata key of the user id.
pub const PRINCIPAL_HEADER: &str = "x-rapport-principal";
/// gRPC metadata key of the comma-separated roles.
pub const ROLES_HEADER: &str = "x-rapport-roles";
/// gRPC metadata key of the comma-separated team paths.
pub const TEAMS_HEADER: &str = "x-rapport-teams";
/// gRPC metadata key of the comma-separated permissions a principal is
/// limited to (an API key's scopes); absent when its roles alone decide.
pub const SCOPES_HEADER: &str = "x-rapport-principal-scopes";
/// gRPC metadata key of the comma-separated permissions the principal's
/// custom roles grant; absent when it has none.
pub const GRANTS_HEADER: &str = "x-rapport-principal-grants";

/// An invalid identity value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// A tenant id outside `[a-z0-9][a-z0-9_-]{0,62}`.
    #[error("invalid tenant id {0:?}: use 1 to 63 lower-case letters, digits, '-' or '_'")]
    Tenant(String),
    /// A user id that is empty, too long or has spaces or control characters.
    #[error("invalid user id {0:?}")]
    User(String),
    /// A role name that is neither built in nor a well-formed custom one.
    #[error(
        "invalid role {0:?}: admin, manager, rep, read-only, system, or a custom role's name (a letter, then a-z, 0-9, '-' or '_')"
    )]
    Role(String),
    /// A team path that is empty, too long, or has empty segments, spaces,
    /// commas or control characters.
    #[error(
        "invalid team {0:?}: use a path such as sales/emea of visible characters without spaces or commas"
    )]
    Team(String),
    /// A share that is neither `user:<id>` nor `team:<path>`.
    #[error("invalid share {0:?}: use user:<user id> or team:<team path>")]
    Share(String),
    /// An unknown permission name.
    #[error("unknown permission {0:?}")]
    Permission(String),
    /// Required metadata is missing.
    #[error("missing {0} metadata")]
    Missing(&'static str),
}

/// The text-backed id types share their text form: `as_str`, `Display`,
/// and serde through `String` (parsing, so stored ids are checked too).
macro_rules! text_id {
    ($ty:ident) => {
        impl $ty {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdentityError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $ty::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }
    };
}

/// A tenant (one customer company of Rapport). Every key starts with it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses and checks a tenant id. The character set keeps ids safe in
    /// store keys, Kafka keys (`tenant/aggregate`) and metric labels.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'_'))
            });
        if ok {
            Ok(TenantId(s.to_owned()))
        } else {
            Err(IdentityError::Tenant(s.to_owned()))
        }
    }
}

text_id!(TenantId);

/// A user (or system account) within a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Parses a user id: 1 to 256 visible characters without spaces.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        if !s.is_empty()
            && s.len() <= 256
            && s.chars().all(|c| !c.is_whitespace() && !c.is_control())
            && s.is_ascii()
        {
            Ok(UserId(s.to_owned()))
        } else {
            Err(IdentityError::User(s.to_owned()))
        }
    }
}

text_id!(UserId);

/// A team, named by its path in the organisation: `sales/emea/north` is a
/// sub-team of `sales/emea`, which is a sub-team of `sales`. A manager of a
/// team sees the records of the team and of every team below it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamId(String);

impl TeamId {
    /// Parses a team path: 1 to 200 visible ASCII characters, no spaces or
    /// commas (they separate teams in metadata), no empty segment.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes().all(|b| b.is_ascii_graphic() && b != b',')
            && s.split('/').all(|segment| !segment.is_empty());
        if ok {
            Ok(TeamId(s.to_owned()))
        } else {
            Err(IdentityError::Team(s.to_owned()))
        }
    }

    /// Whether `team` (a record's team) is this team or one below it.
    pub fn covers(&self, team: &str) -> bool {
        team.strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

text_id!(TeamId);

/// A role: a set of [`super::Permission`]s (record-level rules come on top).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Role {
    /// Administers the tenant; sees everything.
    Admin,
    /// Sees the records of their team.
    Manager,
    /// A sales or support representative; sees own records.
    Rep,
    /// A partner system or internal job.
    System,
    /// Reads what the record-level rules let it see; changes nothing.
    ReadOnly,
    /// A role the tenant defined (`/v1/roles`); what it grants travels in
    /// the principal's grants, resolved by the gateway.
    Custom(CustomRoleName),
}

/// Names of the built-in roles, which no custom role may take.
pub const BUILT_IN_ROLES: [&str; 5] = ["admin", "manager", "rep", "system", "read-only"];

impl Role {
    /// The role's name.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Rep => "rep",
            Role::System => "system",
            Role::ReadOnly => "read-only",
            Role::Custom(name) => name.as_str(),
        }
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    /// A built-in role by name; any other well-formed name is a custom role.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "rep" => Ok(Role::Rep),
            "system" => Ok(Role::System),
            "read-only" => Ok(Role::ReadOnly),
            other => CustomRoleName::parse(other).map(Role::Custom),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Role> for String {
    fn from(r: Role) -> String {
        r.as_str().to_owned()
    }
}

/// The name of a tenant-defined role: 1 to 63 of `a-z 0-9 - _`, starting
/// with a letter, and not a built-in role's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomRoleName(String);

impl CustomRoleName {
    /// Parses and checks a custom role's name.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let ok = s.len() <= 63
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !BUILT_IN_ROLES.contains(&s);
        if ok {
            Ok(CustomRoleName(s.to_owned()))
        } else {
            Err(IdentityError::Role(s.chars().take(64).collect()))
        }
    }
}

text_id!(CustomRoleName);

/// Permission names (or aliases such as `records.read`), as a set in
/// name order.
fn permissions(names: Vec<&str>) -> Result<Vec<Permission>, IdentityError> {
    let mut out = std::collections::BTreeSet::new();
    for name in names {
        out.extend(Permission::parse_many(name)?);
    }
    Ok(out.into_iter().collect())
}

/// Who is acting: a user of a tenant with roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant all data access is scoped to.
    pub tenant: TenantId,
    /// The acting user.
    pub user: UserId,
    /// The user's roles.
    pub roles: Vec<Role>,
    /// The teams the user belongs to (a manager sees their records).
    pub teams: Vec<TeamId>,
    /// When set, the principal may do only these (and only what its roles
    /// grant as well): the scopes of an API key. `None` for people.
    pub scopes: Option<Vec<Permission>>,
    /// What the principal's custom roles grant, as the gateway resolved
    /// them from the tenant's role definitions.
    pub grants: Vec<Permission>,
}

impl Principal {
    /// Reads the principal a gateway (or peer service) put in metadata. The
    /// gRPC server layer has checked its seal ([`super::PrincipalKey`])
    /// before any handler runs.
    pub fn from_metadata(md: &MetadataMap) -> Result<Self, IdentityError> {
        let get = |key: &'static str| {
            md.get(key)
                .and_then(|v| v.to_str().ok())
                .ok_or(IdentityError::Missing(key))
        };
        let tenant = TenantId::parse(get(TENANT_HEADER)?)?;
        let user = UserId::parse(get(PRINCIPAL_HEADER)?)?;
        let list = |key: &'static str| {
            md.get(key)
                .and_then(|v| v.to_str().ok())
                .filter(|list| !list.is_empty())
                .map(|list| list.split(',').collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let roles = list(ROLES_HEADER)
            .into_iter()
            .map(Role::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        let teams = list(TEAMS_HEADER)
            .into_iter()
            .map(TeamId::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let scopes = match md.get(SCOPES_HEADER) {
            None => None,
            Some(_) => Some(permissions(list(SCOPES_HEADER))?),
        };
        let grants = permissions(list(GRANTS_HEADER))?;
        Ok(Principal {
            tenant,
            user,
            roles,
            teams,
            scopes,
            grants,
        })
    }

    /// Writes the principal into outgoing metadata.
    pub fn to_metadata(&self, md: &mut MetadataMap) {
        // Ids were validated as ASCII without control characters, so they
        // are always valid metadata values.
        if let Ok(v) = MetadataValue::try_from(self.tenant.as_str()) {
            md.insert(TENANT_HEADER, v);
        }
        if let Ok(v) = MetadataValue::try_from(self.user.as_str()) {
            md.insert(PRINCIPAL_HEADER, v);
        }
        let roles = self
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        if let Ok(v) = MetadataValue::try_from(roles.as_str()) {
            md.insert(ROLES_HEADER, v);
        }
        let teams = self
            .teams
            .iter()
            .map(TeamId::as_str)
            .collect::<Vec<_>>()
            .join(",");
        if let Ok(v) = MetadataValue::try_from(teams.as_str()) {
            md.insert(TEAMS_HEADER, v);
        }
        if let Some(scopes) = &self.scopes {
            let scopes = Permission::names(scopes).join(",");
            if let Ok(v) = MetadataValue::try_from(scopes.as_str()) {
                md.insert(SCOPES_HEADER, v);
            }
        }
        if !self.grants.is_empty() {
            let grants = Permission::names(&self.grants).join(",");
            if let Ok(v) = MetadataValue::try_from(grants.as_str()) {
                md.insert(GRANTS_HEADER, v);
            }
        }
    }

    /// A gRPC request carrying this principal.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        self.to_metadata(req.metadata_mut());
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_checked() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("acme-eu_2").is_ok());
        for bad in ["", "Acme", "-acme", "a/b", "a b", &"a".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn principal_round_trips_through_metadata() {
        let p = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice@acme.example").unwrap(),
            roles: vec![Role::Rep, Role::Manager],
            teams: vec![
                TeamId::parse("sales/emea").unwrap(),
                TeamId::parse("support").unwrap(),
            ],
            scopes: None,
            grants: Vec::new(),
        };
        let req = p.request(());
        assert_eq!(Principal::from_metadata(req.metadata()).unwrap(), p);
        // An API key's scopes travel too; an empty list is not "no limit".
        for scopes in [
            vec![
                Permission::read(super::super::Object::Contacts),
                Permission::ManageSettings,
            ],
            vec![],
        ] {
            let key = Principal {
                scopes: Some(scopes),
                grants: Vec::new(),
                ..p.clone()
            };
            let req = key.request(());
            assert_eq!(Principal::from_metadata(req.metadata()).unwrap(), key);
        }
        // So do a custom role and what it grants.
        let desk = Principal {
            roles: vec![Role::Rep, "deal-desk".parse().unwrap()],
            grants: vec![Permission::write(super::super::Object::Deals)],
            ..p.clone()
        };
        let req = desk.request(());
        assert_eq!(Principal::from_metadata(req.metadata()).unwrap(), desk);
    }

    #[test]
    fn custom_role_names_are_checked() {
        assert_eq!("deal-desk".parse::<Role>().unwrap().as_str(), "deal-desk");
        for bad in [
            "",
            "Deal",
            "1st",
            "deal desk",
            "desk,admin",
            &"x".repeat(64),
        ] {
            assert!(bad.parse::<Role>().is_err(), "{bad:?}");
        }
        assert!(CustomRoleName::parse("admin").is_err());
        assert_eq!("read-only".parse::<Role>(), Ok(Role::ReadOnly));
    }

    #[test]
    fn teams_nest_by_path() {
        let emea = TeamId::parse("sales/emea").unwrap();
        assert!(emea.covers("sales/emea"));
        assert!(emea.covers("sales/emea/north"));
        assert!(!emea.covers("sales/emea-2"));
        assert!(!emea.covers("sales"));
        for bad in ["", "a,b", "a b", "/sales", "sales/", "a//b"] {
            assert!(TeamId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn missing_tenant_is_an_error() {
        let md = MetadataMap::new();
        assert_eq!(
            Principal::from_metadata(&md),
            Err(IdentityError::Missing(TENANT_HEADER))
        );
    }
}
