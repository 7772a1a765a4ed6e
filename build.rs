//! Generates include/zmq_adaptor.h from the C ABI in src/ffi with cbindgen.

fn main() {
    // cbindgen reads the whole crate: any source change may change the header.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    match cbindgen::generate_with_config(&dir, config) {
        Ok(b) => {
            b.write_to_file(format!("{dir}/include/zmq_adaptor.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}
