//! Generates `include/diffstruc.h` from the C ABI with cbindgen. The header is committed; it is
//! rewritten only when its content changes, and a ctest fails if the committed copy is stale.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let header = match cbindgen::generate_with_config(&dir, config) {
        Ok(bindings) => {
            let mut buf = Vec::new();
            bindings.write(&mut buf);
            buf
        }
        Err(e) => {
            println!("cargo:warning=cbindgen could not generate the header: {e}");
            return;
        }
    };
    let out = dir.join("include").join("diffstruc.h");
    if std::fs::read(&out).ok().as_deref() != Some(header.as_slice()) {
        if let Err(e) = std::fs::write(&out, &header) {
            println!("cargo:warning=could not write {}: {e}", out.display());
        }
    }
}
