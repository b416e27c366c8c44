//! Compiles the packet gate's XDP program (`bpf/gate.c`) with clang when clang is
//! present and embeds the object; without clang the build still succeeds and the XDP
//! backend reports itself unavailable at run time (saying what to install).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=CLANG");
    // Build again once clang is installed (a path that does not exist is always stale).
    println!("cargo:rerun-if-changed=/usr/bin/clang");
    for name in ["gate", "loadgen"] {
        compile(&out, name);
    }
}

/// Compiles `bpf/NAME.c` to `OUT_DIR/NAME.o`, or writes an empty object and the reason
/// to `OUT_DIR/NAME.why`.
fn compile(out: &Path, name: &str) {
    let source = format!("bpf/{name}.c");
    let object = out.join(format!("{name}.o"));
    println!("cargo:rerun-if-changed={source}");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    let arch_include = format!("/usr/include/{}-linux-gnu", multiarch());
    let built = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall"])
        .arg(format!("-I{arch_include}"))
        .args(["-c", &source, "-o"])
        .arg(&object)
        .output();
    let note = match built {
        Ok(o) if o.status.success() => String::new(),
        Ok(o) => format!("clang could not compile {source}: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => format!("{clang} not found ({e})"),
    };
    if !note.is_empty() {
        println!("cargo:warning=packet gate: XDP backend unavailable: {note}; install clang, llvm, libbpf-dev");
        // An empty object marks the backend unavailable; the reason travels with it.
        std::fs::write(&object, b"").expect("OUT_DIR is writable");
    }
    std::fs::write(out.join(format!("{name}.why")), note.lines().next().unwrap_or("")).expect("OUT_DIR is writable");
}

/// The Debian multiarch name of the build host's architecture (where asm/types.h lives).
fn multiarch() -> &'static str {
    match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64",
        _ => "x86_64",
    }
}
