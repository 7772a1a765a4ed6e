//! Generates include/zmq_adaptor.h from the C ABI in src/ffi with cbindgen, adds the
//! version macros from Cargo.toml's version, and gives the cdylib its SONAME
//! (`libzmq_adaptor.so.MAJOR`).

fn main() {
    // cbindgen reads the whole crate: any source change may change the header.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=header_version.rs");
    // A hand-edited header is regenerated (and then caught by `make check-header`).
    println!("cargo:rerun-if-changed=include/zmq_adaptor.h");
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set by cargo"));
    let (major, minor, patch) = (
        env("CARGO_PKG_VERSION_MAJOR"),
        env("CARGO_PKG_VERSION_MINOR"),
        env("CARGO_PKG_VERSION_PATCH"),
    );
    // Only the cdylib gets the SONAME; binaries and tests link the rlib.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzmq_adaptor.so.{major}");

    let dir = env("CARGO_MANIFEST_DIR");
    let mut config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    config.after_includes = Some(version_macros(&format!("{major}.{minor}.{patch}")));
    match cbindgen::generate_with_config(&dir, config) {
        Ok(b) => {
            b.write_to_file(format!("{dir}/include/zmq_adaptor.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}

include!("header_version.rs");
