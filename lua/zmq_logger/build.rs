//! Derives the binding's view of the C ABI from the C header of the core library, the
//! one source of truth: the text of `include/zmq_adaptor.h` as cbindgen generates it
//! from the core crate (`src/ffi`, `cbindgen.toml`), here, in memory. Generating it
//! again rather than reading the file means the binding never sees a header that the
//! core crate's own build script has not rewritten yet (the two build scripts run in
//! any order); a committed header that differs gives a build warning (and
//! `make check-header` fails). From it:
//!
//! * Rust `#[repr(C)]` mirrors of `zmq_adaptor_config` and `zmq_adaptor_stats`, with
//!   every field of the header, in order;
//! * a per-field setter for `configure{}` (every config field is a Lua option of the
//!   same name: integers range-checked by their C type, `const char *` fields as
//!   strings) and the list of stats fields for `stats()`;
//! * the result codes (`ZMQ_ADAPTOR_*` constants) and the function pointer types of
//!   the entry points the binding calls;
//! * the LuaJIT `ffi.cdef` text of the prototypes of the FFI fast path, copied from
//!   the header.
//!
//! t/011-abi.t checks the result against the header independently (LuaJIT's own C
//! parser on the header's struct definitions against the layout compiled in here).
//!
//! A header construct the generator cannot map (a field or parameter type it does not
//! know, a missing struct or function) stops the build with a message naming it.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The core crate, relative to this crate.
const CORE: &str = "../..";

/// The committed header, relative to this crate.
const HEADER: &str = "../../include/zmq_adaptor.h";

/// Structs mirrored in Rust: (C name, Rust name).
const STRUCTS: &[(&str, &str)] = &[
    ("zmq_adaptor_config", "AdaptorConfig"),
    ("zmq_adaptor_stats", "AdaptorStats"),
];

/// Entry points the binding resolves: (C name, Rust type alias).
const FUNCTIONS: &[(&str, &str)] = &[
    ("zmq_adaptor_config_init", "ConfigInitFn"),
    ("zmq_adaptor_configure", "ConfigureFn"),
    ("zmq_adaptor_config_check", "ConfigCheckFn"),
    ("zmq_adaptor_config_limit", "ConfigLimitFn"),
    ("zmq_adaptor_log", "LogFn"),
    ("zmq_adaptor_publish", "PublishFn"),
    ("zmq_adaptor_flush", "FlushFn"),
    ("zmq_adaptor_stats_get", "StatsFn"),
    ("zmq_adaptor_strerror", "StrerrorFn"),
    ("zmq_adaptor_set_log_callback", "SetLogCallbackFn"),
    ("zmq_adaptor_watch_shutdown", "WatchShutdownFn"),
];

/// Function pointer typedefs of the header the binding passes: (C typedef as the
/// header declares it, whitespace collapsed; Rust type).
const CALLBACKS: &[(&str, &str)] = &[
    (
        "typedef void (*zmq_adaptor_log_fn)(int level, const char *msg, size_t len, void *user)",
        "Option<extern \"C\" fn(c_int, *const c_char, usize, *mut c_void)>",
    ),
    (
        "typedef uint32_t (*zmq_adaptor_timeout_fn)(void)",
        "Option<extern \"C\" fn() -> u32>",
    ),
];

/// Prototypes also declared to LuaJIT (the FFI fast path).
const LUA_FUNCTIONS: &[&str] = &[
    "zmq_adaptor_log",
    "zmq_adaptor_publish",
    "zmq_adaptor_strerror",
];

/// A C field or parameter type the generator knows.
struct CType {
    /// Rust type.
    rust: &'static str,
    /// Largest value `configure{}` accepts (integers), or None for strings.
    max: Option<&'static str>,
}

fn scalar(c: &str) -> Option<CType> {
    let (rust, max) = match c {
        "size_t" => ("usize", "usize::MAX as u64"),
        "uint64_t" => ("u64", "u64::MAX"),
        "uint32_t" => ("u32", "u32::MAX as u64"),
        "uint16_t" => ("u16", "u16::MAX as u64"),
        "uint8_t" => ("u8", "u8::MAX as u64"),
        "int64_t" => ("i64", "i64::MAX as u64"),
        "int32_t" | "int" => ("i32", "i32::MAX as u64"),
        "bool" => ("bool", ""),
        _ => return None,
    };
    Some(CType {
        rust,
        max: if max.is_empty() { None } else { Some(max) },
    })
}

/// Removes `/* */` and `//` comments and preprocessor lines.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = match rest[i..].find("*/") {
            Some(j) => &rest[i + j + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collapses whitespace runs to one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The body of `typedef <kind> <name> { ... } <name>;`.
fn typedef_body<'a>(text: &'a str, kind: &str, name: &str) -> Option<&'a str> {
    let head = format!("typedef {kind} {name} {{");
    let start = text.find(&head)? + head.len();
    let end = start + text[start..].find('}')?;
    Some(&text[start..end])
}

fn fail(msg: String) -> ! {
    panic!("lua/zmq_logger/build.rs: zmq_adaptor.h: {msg}");
}

/// Fields of a struct body: (C type, name).
fn fields(body: &str, sname: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for decl in body.split(';').map(squash).filter(|d| !d.is_empty()) {
        let (ty, name) = match decl.rfind([' ', '*']) {
            Some(i) => (decl[..=i].trim().to_string(), decl[i + 1..].to_string()),
            None => fail(format!("cannot read field `{decl}` of {sname}")),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            fail(format!("cannot read field `{decl}` of {sname}"));
        }
        out.push((squash(&ty.replace('*', " * ")), name));
    }
    out
}

/// Rust type of a field or parameter type.
fn rust_type(c: &str, what: &str) -> String {
    match c {
        "const char *" => "*const c_char".into(),
        "const uint8_t *" => "*const u8".into(),
        "struct zmq_adaptor_config *" => "*mut AdaptorConfig".into(),
        "const struct zmq_adaptor_config *" => "*const AdaptorConfig".into(),
        "struct zmq_adaptor_stats *" => "*mut AdaptorStats".into(),
        "void *" => "*mut c_void".into(),
        "char *" => "*mut c_char".into(),
        "uint64_t *" => "*mut u64".into(),
        "zmq_adaptor_log_fn" => CALLBACKS[0].1.into(),
        "zmq_adaptor_timeout_fn" => CALLBACKS[1].1.into(),
        "const size_t *" => "*const usize".into(),
        _ => match scalar(c) {
            Some(t) => t.rust.into(),
            None => fail(format!(
                "{what} has type `{c}`, which the Lua binding cannot map: extend lua/zmq_logger/build.rs"
            )),
        },
    }
}

/// The header cbindgen generates from the core crate now.
fn generate_header() -> String {
    let config = cbindgen::Config::from_file(format!("{CORE}/cbindgen.toml"))
        .unwrap_or_else(|e| fail(format!("cannot read {CORE}/cbindgen.toml: {e}")));
    let bindings = cbindgen::generate_with_config(CORE, config)
        .unwrap_or_else(|e| fail(format!("cbindgen failed on {CORE}: {e}")));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).unwrap_or_else(|_| fail("cbindgen wrote invalid UTF-8".into()))
}

fn main() {
    println!("cargo:rerun-if-changed={CORE}/src");
    println!("cargo:rerun-if-changed={CORE}/cbindgen.toml");
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed=build.rs");
    let raw = generate_header();
    if std::fs::read_to_string(HEADER).ok().as_deref() != Some(raw.as_str()) {
        println!(
            "cargo:warning={HEADER} differs from cbindgen's output for src/ffi: \
             the binding follows src/ffi; rebuild the core crate and commit the header"
        );
    }
    let text = strip(&raw);
    let mut rs = String::new();
    let mut lua = String::new();
    rs.push_str("// Generated by lua/zmq_logger/build.rs from include/zmq_adaptor.h.\n\n");

    // Result codes.
    let body = typedef_body(&text, "enum", "zmq_adaptor_result")
        .unwrap_or_else(|| fail("no `typedef enum zmq_adaptor_result`".into()));
    let mut codes = Vec::new();
    for item in body.split(',').map(squash).filter(|s| !s.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .unwrap_or_else(|| fail(format!("enumerator without a value: `{item}`")));
        let value: i32 = value
            .trim()
            .parse()
            .unwrap_or_else(|_| fail(format!("enumerator value of `{item}`")));
        codes.push((name.trim().to_string(), value));
    }
    for (name, value) in &codes {
        let _ = writeln!(
            rs,
            "/// `{name}` of the header.\n#[allow(dead_code)]\nconst {name}: c_int = {value};"
        );
    }
    let _ = writeln!(rs, "/// Every result code of the header: (name, value).");
    let _ = writeln!(rs, "const RESULT_CODES: &[(&str, c_int)] = &[");
    for (name, _) in &codes {
        let _ = writeln!(rs, "    (\"{name}\", {name}),");
    }
    rs.push_str("];\n\n");

    // Structs.
    let mut struct_fields = Vec::new();
    for (cname, rname) in STRUCTS {
        let body = typedef_body(&text, "struct", cname)
            .unwrap_or_else(|| fail(format!("no `typedef struct {cname}`")));
        let f = fields(body, cname);
        let _ = writeln!(
            rs,
            "/// Mirror of `{cname}` (generated: every field of the header, in order)."
        );
        let _ = writeln!(
            rs,
            "#[repr(C)]\n#[derive(Debug, Clone, Copy)]\nstruct {rname} {{"
        );
        for (t, n) in &f {
            let _ = writeln!(
                rs,
                "    {n}: {},",
                rust_type(t, &format!("field {n} of {cname}"))
            );
        }
        rs.push_str("}\n\n");
        let _ = writeln!(rs, "impl {rname} {{");
        let _ = writeln!(
            rs,
            "    /// Every field: (name, offset, size), in header order."
        );
        let _ = writeln!(rs, "    const LAYOUT: &[(&'static str, usize, usize)] = &[");
        for (t, n) in &f {
            let _ = writeln!(
                rs,
                "        (\"{n}\", std::mem::offset_of!({rname}, {n}), std::mem::size_of::<{}>()),",
                rust_type(t, n)
            );
        }
        rs.push_str("    ];\n}\n\n");
        struct_fields.push((*cname, *rname, f));
    }

    // configure{} setter and zeroed config, stats list.
    for (cname, rname, f) in &struct_fields {
        if *cname == "zmq_adaptor_config" {
            let _ = writeln!(rs, "impl {rname} {{");
            rs.push_str(
                "    /// All fields zero / NULL.\n    fn zeroed() -> Self {\n        Self {\n",
            );
            for (t, n) in f {
                let zero = if t.ends_with('*') {
                    "std::ptr::null()"
                } else if t == "bool" {
                    "false"
                } else {
                    "0"
                };
                let _ = writeln!(rs, "            {n}: {zero},");
            }
            rs.push_str("        }\n    }\n\n");
            rs.push_str(
                "    /// Sets the field named `key` from a Lua value; strings are kept alive in\n    /// `keep`. None when no field has that name.\n",
            );
            rs.push_str("    /// Integer fields are checked against `range(name)` (the library's bounds),\n    /// capped at the C type's maximum.\n");
            rs.push_str("    fn set(\n        &mut self,\n        key: &str,\n        v: &LuaValue,\n        keep: &mut Vec<CString>,\n        range: RangeFn<'_>,\n    ) -> Option<Result<(), String>> {\n        Some(match key {\n");
            for (t, n) in f {
                if t == "const char *" {
                    let _ = writeln!(
                        rs,
                        "            \"{n}\" => config_string(key, v).map(|c| {{\n                self.{n} = c.as_ptr();\n                keep.push(c);\n            }}),"
                    );
                } else if t == "bool" {
                    let _ = writeln!(
                        rs,
                        "            \"{n}\" => config_bool(key, v).map(|b| self.{n} = b),"
                    );
                } else {
                    let ct = scalar(t).unwrap_or_else(|| fail(format!("field {n} of {cname} has type `{t}`, which configure{{}} cannot set: extend lua/zmq_logger/build.rs")));
                    let _ = writeln!(
                        rs,
                        "            \"{n}\" => range(key)\n                .and_then(|(lo, hi)| config_integer(key, v, (lo, hi.min({}))))\n                .map(|n| self.{n} = n as {}),",
                        ct.max.unwrap_or("0"),
                        ct.rust
                    );
                }
            }
            rs.push_str("            _ => return None,\n        })\n    }\n}\n\n");
        } else if *cname == "zmq_adaptor_stats" {
            let _ = writeln!(rs, "impl {rname} {{");
            rs.push_str("    /// All counters zero.\n    fn zeroed() -> Self {\n        Self {\n");
            for (_, n) in f {
                let _ = writeln!(rs, "            {n}: 0,");
            }
            rs.push_str(
                "        }\n    }\n\n    /// Every counter: (name, value), in header order.\n",
            );
            rs.push_str("    fn counters(&self) -> Vec<(&'static str, f64)> {\n        vec![\n");
            for (t, n) in f {
                if scalar(t).is_none() || t == "bool" {
                    fail(format!(
                        "stats field {n} has type `{t}`; stats() expects integers"
                    ));
                }
                let _ = writeln!(rs, "            (\"{n}\", self.{n} as f64),");
            }
            rs.push_str("        ]\n    }\n}\n\n");
        }
    }

    // Function pointer types and Lua prototypes.
    let statements: Vec<String> = text.split(';').map(squash).collect();
    for (decl, _) in CALLBACKS {
        if !statements.iter().any(|s| s.ends_with(decl)) {
            fail(format!(
                "`{decl}` is not declared as such any more: update CALLBACKS in lua/zmq_logger/build.rs"
            ));
        }
    }
    for (cname, alias) in FUNCTIONS {
        let needle = format!("{cname}(");
        let stmt = statements
            .iter()
            .find(|s| s.contains(&needle) && !s.starts_with("typedef"))
            .unwrap_or_else(|| fail(format!("no prototype of {cname}")));
        // Drop anything before the prototype (e.g. `extern "C" {`).
        let stmt = stmt.rsplit(['{', '}']).next().unwrap_or(stmt).trim();
        let open = stmt
            .find('(')
            .unwrap_or_else(|| fail(format!("prototype of {cname}")));
        let ret = squash(
            &stmt[..open]
                .trim_end()
                .trim_end_matches(cname)
                .replace('*', " * "),
        );
        let params = stmt[open + 1..stmt.rfind(')').unwrap_or(stmt.len())].to_string();
        let mut rust_params = Vec::new();
        for p in params
            .split(',')
            .map(squash)
            .filter(|p| !p.is_empty() && p != "void")
        {
            let i = p
                .rfind([' ', '*'])
                .unwrap_or_else(|| fail(format!("parameter `{p}` of {cname}")));
            let ty = squash(&p[..=i].replace('*', " * "));
            rust_params.push(rust_type(&ty, &format!("parameter `{p}` of {cname}")));
        }
        let rret = if ret == "int" {
            "c_int".to_string()
        } else {
            rust_type(&ret, &format!("return type of {cname}"))
        };
        let _ = writeln!(
            rs,
            "/// `{}` (from the header).\ntype {alias} = unsafe extern \"C\" fn({}) -> {rret};",
            squash(stmt),
            rust_params.join(", ")
        );
        if LUA_FUNCTIONS.contains(cname) {
            let _ = writeln!(lua, "{};", squash(stmt));
        }
    }
    let _ = writeln!(
        rs,
        "\n/// LuaJIT `ffi.cdef` declarations copied from the header, one per line.\nconst LUA_CDEFS: &str = {lua:?};"
    );

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("abi.rs");
    std::fs::write(&out, rs)
        .unwrap_or_else(|e| fail(format!("cannot write {}: {e}", out.display())));
}
