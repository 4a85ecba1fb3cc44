//! Targets and modules (after Loki's module manager).
//!
//! A [`Module`] is a unit that starts and stops: the embedded broker, topic
//! creation, each service. Modules declare their dependencies; resolving a
//! [`Target`] gives the modules to start, dependencies first, and shutdown
//! runs the list backwards. Internal modules (broker, topics) cannot be
//! targeted: they exist only in monolithic mode.

use std::{fmt, str::FromStr};

/// What `rapport serve` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Everything, with an embedded broker: what `rapport run` starts.
    All,
    /// A single module.
    One(Module),
}

/// A unit of the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Module {
    /// The embedded Kafka-API broker (internal).
    Broker,
    /// Creating the Kafka topics (internal).
    Topics,
    /// The contacts service.
    Contacts,
    /// The deals service.
    Deals,
    /// The tasks service.
    Tasks,
    /// The comms service.
    Comms,
    /// The analytics service.
    Analytics,
    /// The REST gateway.
    Gateway,
}

/// Every module, in declaration order.
pub const MODULES: [Module; 8] = [
    Module::Broker,
    Module::Topics,
    Module::Contacts,
    Module::Deals,
    Module::Tasks,
    Module::Comms,
    Module::Analytics,
    Module::Gateway,
];

impl Module {
    /// The module's name (also the service name).
    pub fn name(self) -> &'static str {
        match self {
            Module::Broker => "broker",
            Module::Topics => "topics",
            Module::Contacts => "contacts",
            Module::Deals => "deals",
            Module::Tasks => "tasks",
            Module::Comms => "comms",
            Module::Analytics => "analytics",
            Module::Gateway => "gateway",
        }
    }

    /// Whether `rapport serve` accepts it.
    pub fn targetable(self) -> bool {
        !matches!(self, Module::Broker | Module::Topics)
    }

    /// Modules that must run before this one (in the same process in
    /// monolithic mode; elsewhere in distributed mode).
    pub fn dependencies(self) -> &'static [Module] {
        match self {
            Module::Broker => &[],
            Module::Topics => &[Module::Broker],
            Module::Contacts | Module::Deals | Module::Tasks | Module::Analytics => {
                &[Module::Topics]
            }
            Module::Comms => &[Module::Topics, Module::Contacts],
            Module::Gateway => &[
                Module::Contacts,
                Module::Deals,
                Module::Tasks,
                Module::Comms,
                Module::Analytics,
            ],
        }
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown or internal target name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown target {given:?}; valid targets: {valid}")]
pub struct TargetError {
    given: String,
    valid: String,
}

impl FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            return Ok(Target::All);
        }
        MODULES
            .into_iter()
            .find(|m| m.targetable() && m.name() == s)
            .map(Target::One)
            .ok_or_else(|| TargetError {
                given: s.to_owned(),
                valid: std::iter::once("all")
                    .chain(MODULES.iter().filter(|m| m.targetable()).map(|m| m.name()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Target {
    /// The modules this process starts, dependencies first. A single
    /// target runs alone: its dependencies are other processes (peers,
    /// an external broker), reached over the network.
    pub fn modules(self) -> Vec<Module> {
        match self {
            Target::One(m) => vec![m],
            Target::All => {
                let mut order = Vec::new();
                for m in MODULES {
                    visit(m, &mut order, &mut Vec::new());
                }
                order
            }
        }
    }
}

/// Depth-first topological sort; panics on a cycle, which the table test
/// below would catch before any release.
fn visit(m: Module, order: &mut Vec<Module>, path: &mut Vec<Module>) {
    if order.contains(&m) {
        return;
    }
    assert!(!path.contains(&m), "module dependency cycle through {m}");
    path.push(m);
    for d in m.dependencies() {
        visit(*d, order, path);
    }
    path.pop();
    order.push(m);
}

/// Prints the targets and what each starts (`rapport list-targets`).
pub fn print_targets() {
    println!("all       -> {}", names(&Target::All.modules()));
    for m in MODULES.iter().filter(|m| m.targetable()) {
        println!(
            "{:<9} -> {} (calls: {})",
            m.name(),
            m.name(),
            names(
                &m.dependencies()
                    .iter()
                    .copied()
                    .filter(|d| d.targetable())
                    .collect::<Vec<_>>()
            )
        );
    }
}

fn names(ms: &[Module]) -> String {
    if ms.is_empty() {
        return "-".into();
    }
    ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Module::*;

    #[test]
    fn targets_resolve_to_modules() {
        let table: &[(&str, &[Module])] = &[
            (
                "all",
                &[
                    Broker, Topics, Contacts, Deals, Tasks, Comms, Analytics, Gateway,
                ],
            ),
            ("contacts", &[Contacts]),
            ("comms", &[Comms]),
            ("gateway", &[Gateway]),
        ];
        for (target, expected) in table {
            let t: Target = target.parse().unwrap();
            assert_eq!(t.modules(), *expected, "{target}");
        }
    }

    #[test]
    fn all_starts_dependencies_first() {
        let order = Target::All.modules();
        for (i, m) in order.iter().enumerate() {
            for d in m.dependencies() {
                let j = order.iter().position(|x| x == d).unwrap();
                assert!(j < i, "{d} must start before {m}");
            }
        }
    }

    #[test]
    fn internal_and_unknown_targets_are_refused_with_the_valid_list() {
        for bad in ["broker", "topics", "billing"] {
            let err = bad.parse::<Target>().unwrap_err().to_string();
            assert!(err.contains("valid targets: all, contacts"), "{err}");
        }
    }
}
