//! Record-level access: which records of its tenant a principal sees.
//!
//! One mechanism serves every service and both the check and the query:
//! a record has *viewer keys* derived from its owner, its team and whom it
//! is shared with ([`record_viewers`]); a principal holds the keys it
//! matches ([`Principal::scope`]). A record is visible when the two sets
//! meet. Stores index records by their viewer keys, so a list for a rep is
//! a merge of a few exact index ranges, never a filtered scan of the whole
//! tenant.
//!
//! - `u:<user>`: the owner, and every user the record is shared with.
//! - `t:<team>`: the record's team and each team above it, so a manager
//!   of `sales` sees the records of `sales/emea/north`.
//! - `m:<team>`: a team the record is shared with; its members and the
//!   members of its sub-teams see it.

use std::collections::BTreeSet;

use super::{Action, Denied, IdentityError, Object, Permission, Principal, TeamId, UserId};

/// Prefix of a share with one user (`user:alice`).
pub const SHARE_USER: &str = "user:";
/// Prefix of a share with a team (`team:sales/emea`).
pub const SHARE_TEAM: &str = "team:";

/// Whom a record is shared with, beyond its owner and team.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Share {
    /// One user.
    User(UserId),
    /// Every member of a team and of its sub-teams.
    Team(TeamId),
}

impl Share {
    /// Parses `user:<id>` or `team:<path>`.
    pub fn parse(s: &str) -> Result<Share, IdentityError> {
        let s = s.trim();
        if let Some(user) = s.strip_prefix(SHARE_USER) {
            UserId::parse(user).map(Share::User)
        } else if let Some(team) = s.strip_prefix(SHARE_TEAM) {
            TeamId::parse(team).map(Share::Team)
        } else {
            Err(IdentityError::Share(s.chars().take(64).collect()))
        }
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Share::User(u) => write!(f, "{SHARE_USER}{u}"),
            Share::Team(t) => write!(f, "{SHARE_TEAM}{t}"),
        }
    }
}

/// Which records a principal sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every record of the tenant (admins, partner systems).
    All,
    /// Records with at least one of these viewer keys.
    Only(BTreeSet<String>),
}

impl Scope {
    /// Whether a record with `viewers` (from [`record_viewers`]) is visible.
    pub fn sees(&self, viewers: &[String]) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(keys) => viewers.iter().any(|v| keys.contains(v)),
        }
    }
}

/// `team` and every team above it: `a/b/c`, `a/b`, `a`. Empty segments
/// (only in teams stored before teams were checked) are kept as written.
fn team_and_ancestors(team: &str) -> impl Iterator<Item = &str> {
    team.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| &team[..i])
        .filter(|t| !t.is_empty())
        .chain((!team.is_empty()).then_some(team))
}

/// The viewer keys of a record with this owner, team and shares (each
/// `user:<id>` or `team:<path>`; anything else grants nothing). Sorted,
/// without repeats.
pub fn record_viewers<'a>(
    owner: &str,
    team: &str,
    shared_with: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let mut out = BTreeSet::new();
    if !owner.is_empty() {
        out.insert(format!("u:{owner}"));
    }
    for t in team_and_ancestors(team.trim()) {
        out.insert(format!("t:{t}"));
    }
    for share in shared_with {
        match Share::parse(share) {
            Ok(Share::User(u)) => out.insert(format!("u:{u}")),
            Ok(Share::Team(t)) => out.insert(format!("m:{t}")),
            Err(_) => false,
        };
    }
    out.into_iter().collect()
}

impl Principal {
    /// The records this principal sees: admins and partner systems every
    /// record; managers and read-only users their own, their teams' (with
    /// sub-teams) and what is shared with them; reps their own and what is
    /// shared with them or with a team they belong to.
    pub fn scope(&self) -> Scope {
        // Reach is a permission like any other, so a custom role grants it
        // too; an API key's scopes do not narrow it (they limit actions).
        let reaches =
            |p: Permission| self.roles.iter().any(|r| r.grants(p)) || self.grants.contains(&p);
        if reaches(Permission::ViewAllRecords) {
            return Scope::All;
        }
        let sees_teams = reaches(Permission::ViewTeamRecords);
        let mut keys = BTreeSet::from([format!("u:{}", self.user)]);
        for team in &self.teams {
            for t in team_and_ancestors(team.as_str()) {
                keys.insert(format!("m:{t}"));
            }
            if sees_teams {
                keys.insert(format!("t:{team}"));
            }
        }
        Scope::Only(keys)
    }

    /// Whether the principal may put a record in `team`: a team it belongs
    /// to or manages (or one below), or any team when it sees everything.
    pub fn may_assign_team(&self, team: &str) -> bool {
        self.scope() == Scope::All || self.teams.iter().any(|t| t.covers(team))
    }

    /// Whether the principal sees a record with this owner, team and shares.
    pub fn sees_record(&self, owner: &str, team: &str, shared_with: &[String]) -> bool {
        self.scope().sees(&record_viewers(owner, team, shared_with))
    }

    /// A new record's owner and team default to the creator and the
    /// creator's first team, so the creator and the team's managers see it.
    pub fn default_assignment(&self, owner: &mut String, team: &mut String) {
        if owner.trim().is_empty() {
            *owner = self.user.to_string();
        }
        if team.trim().is_empty()
            && let Some(first) = self.teams.first()
        {
            *team = first.to_string();
        }
    }

    /// Giving a record of `object` to another owner (or creating one for
    /// someone else) needs its `reassign` permission, and so does putting it
    /// in a team the principal neither belongs to nor manages. `previous` is
    /// the stored (owner, team), `None` for a new record.
    pub fn check_assignment(
        &self,
        object: Object,
        previous: Option<(&str, &str)>,
        owner: &str,
        team: &str,
    ) -> Result<(), Denied> {
        let owner_moves = match previous {
            Some((prev_owner, _)) => prev_owner != owner,
            None => owner != self.user.as_str(),
        };
        let team_moves = previous.is_none_or(|(_, prev_team)| prev_team != team);
        let foreign_team = team_moves && !team.is_empty() && !self.may_assign_team(team);
        if owner_moves || foreign_team {
            self.require(Permission::Record(object, Action::Reassign))?;
        }
        Ok(())
    }
}

/// A record's owner, team and shares as a caller wrote them: trimmed,
/// shares in their canonical form without repeats. Each problem comes back
/// as (field, description), the field being `owner`, `team` or
/// `shared_with`. `team_kept`: the team is the stored one, which stays even
/// if it predates team paths.
pub fn normalize_holding(
    owner: &mut String,
    team: &mut String,
    shared_with: &mut Vec<String>,
    team_kept: bool,
) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    *owner = owner.trim().to_owned();
    if !owner.is_empty() && UserId::parse(owner).is_err() {
        v.push(("owner", "not a user id".to_owned()));
    }
    *team = team.trim().to_owned();
    if !team.is_empty()
        && !team_kept
        && let Err(e) = TeamId::parse(team)
    {
        v.push(("team", e.to_string()));
    }
    let mut shares: Vec<String> = Vec::new();
    for raw in shared_with.iter() {
        match Share::parse(raw) {
            Ok(share) if !shares.contains(&share.to_string()) => shares.push(share.to_string()),
            Ok(_) => {}
            Err(e) => v.push(("shared_with", e.to_string())),
        }
    }
    if shares.len() > MAX_SHARES {
        v.push((
            "shared_with",
            format!("at most {MAX_SHARES} users and teams"),
        ));
    }
    *shared_with = shares;
    v
}

/// Most users and teams one record may be shared with.
pub const MAX_SHARES: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Role, TenantId};

    fn who(user: &str, roles: &[Role], teams: &[&str]) -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse(user).unwrap(),
            roles: roles.to_vec(),
            teams: teams.iter().map(|t| TeamId::parse(t).unwrap()).collect(),
            scopes: None,
            grants: Vec::new(),
        }
    }

    fn viewers(owner: &str, team: &str, shares: &[&str]) -> Vec<String> {
        let shares: Vec<String> = shares.iter().map(|s| s.to_string()).collect();
        record_viewers(owner, team, &shares)
    }

    #[test]
    fn a_rep_sees_own_and_shared_records_only() {
        let rep = who("ravi", &[Role::Rep], &["sales/emea"]).scope();
        assert!(rep.sees(&viewers("ravi", "sales/emea", &[])));
        assert!(!rep.sees(&viewers("mira", "sales/emea", &[])));
        assert!(rep.sees(&viewers("mira", "support", &["user:ravi"])));
        assert!(rep.sees(&viewers("mira", "support", &["team:sales"])));
        assert!(rep.sees(&viewers("mira", "support", &["team:sales/emea"])));
        assert!(!rep.sees(&viewers("mira", "support", &["team:sales/emea/north"])));
    }

    #[test]
    fn a_manager_sees_the_team_and_every_team_below() {
        let head = who("hana", &[Role::Manager], &["sales"]).scope();
        assert!(head.sees(&viewers("ravi", "sales/emea/north", &[])));
        assert!(head.sees(&viewers("ravi", "sales", &[])));
        assert!(!head.sees(&viewers("ravi", "salesforce", &[])));
        assert!(!head.sees(&viewers("ravi", "support", &[])));
        let lead = who("lena", &[Role::Manager], &["sales/emea"]).scope();
        assert!(!lead.sees(&viewers("ravi", "sales", &[])));
    }

    #[test]
    fn admins_and_systems_see_everything() {
        for role in [Role::Admin, Role::System] {
            assert_eq!(who("a", &[Role::Rep, role], &[]).scope(), Scope::All);
        }
    }

    #[test]
    fn shares_parse_strictly() {
        assert_eq!(
            Share::parse(" team:sales/emea ").unwrap().to_string(),
            "team:sales/emea"
        );
        for bad in ["ravi", "user:", "team:a//b", "group:x", "user:two words"] {
            assert!(Share::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn team_assignment_stays_within_the_callers_teams() {
        let rep = who("ravi", &[Role::Rep], &["sales/emea"]);
        assert!(rep.may_assign_team("sales/emea/north"));
        assert!(!rep.may_assign_team("sales"));
        assert!(who("a", &[Role::Admin], &[]).may_assign_team("anything"));
    }
}
