// Shared by build.rs and lua/zmq_logger/build.rs (through `include!`): the version
// macros cbindgen puts into include/zmq_adaptor.h, from the core crate's version in
// its Cargo.toml, so both build scripts generate the same header.

/// The `[package] version` of the Cargo.toml text `manifest`.
#[allow(dead_code)]
fn package_version(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("version")?.trim_start().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_string())
        })
        .expect("Cargo.toml has a version")
}

/// The header text after the includes: ZMQ_ADAPTOR_VERSION_* for `version` (X.Y.Z).
fn version_macros(version: &str) -> String {
    let mut it = version.split(['.', '-', '+']);
    let mut next = || it.next().unwrap_or("0").to_string();
    let (major, minor, patch) = (next(), next(), next());
    format!(
        "\n/* Version of this header; zmq_adaptor_version() returns the library's. */\n\
         #define ZMQ_ADAPTOR_VERSION_MAJOR {major}\n\
         #define ZMQ_ADAPTOR_VERSION_MINOR {minor}\n\
         #define ZMQ_ADAPTOR_VERSION_PATCH {patch}\n\
         #define ZMQ_ADAPTOR_VERSION_STRING \"{major}.{minor}.{patch}\""
    )
}
