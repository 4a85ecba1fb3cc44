//! Compiles `proto/` into Rust with prost and tonic, and writes the file
//! descriptor set that gRPC reflection and the event-schema test use.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "rapport/common/v1/common.proto",
    "rapport/events/v1/events.proto",
    "rapport/contacts/v1/contacts.proto",
    "rapport/deals/v1/deals.proto",
    "rapport/tasks/v1/tasks.proto",
    "rapport/comms/v1/comms.proto",
    "rapport/analytics/v1/analytics.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    // protoc comes vendored (with the well-known types), so a fresh machine
    // needs no system package.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `prost::Name` gives each message its full name and type URL, used in
    // event envelopes (`google.protobuf.Any`) and CloudEvents `ce_type`.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("rapport_descriptor.bin"))
        .compile_with_config(config, &files, &[root])?;
    Ok(())
}
