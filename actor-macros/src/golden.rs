//! Expansion goldens: every fixture `tests/expand/<case>.rs` has a committed, formatted
//! expansion `tests/expand/<case>.expanded.rs`.
//!
//! `cargo xtask codegen` rewrites them (`UPDATE_EXPAND=1`); `cargo xtask codegen --check` and
//! this test fail on any stale or orphaned expansion and name them all.

use std::fs;
use std::path::{Path, PathBuf};

use quote::ToTokens;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("expand")
}

/// The fixture with its `#[actor]` impl block replaced by the expansion, formatted.
fn expand_fixture(source: &str) -> Result<String, String> {
    let mut file = syn::parse_file(source).map_err(|e| format!("does not parse: {e}"))?;
    let mut items = Vec::with_capacity(file.items.len());
    let mut expanded_any = false;
    for item in std::mem::take(&mut file.items) {
        let attr = match &item {
            syn::Item::Impl(imp) => imp.attrs.iter().position(|a| a.path().is_ident("actor")),
            _ => None,
        };
        let Some(index) = attr else {
            items.push(item);
            continue;
        };
        let mut item = item;
        let args = match &mut item {
            syn::Item::Impl(imp) => {
                let attr = imp.attrs.remove(index);
                match attr.meta {
                    syn::Meta::List(list) => list.tokens,
                    _ => proc_macro2::TokenStream::new(),
                }
            }
            _ => unreachable!("only impl items have an index"),
        };
        let output = crate::expand(args, item.into_token_stream());
        let generated: syn::File = syn::parse2(output)
            .map_err(|e| format!("the expansion does not parse as items: {e}"))?;
        items.extend(generated.items);
        expanded_any = true;
    }
    if !expanded_any {
        return Err("has no `#[actor]` impl block".to_owned());
    }
    file.items = items;
    Ok(prettyplease::unparse(&file))
}

#[test]
fn expansions_are_up_to_date() {
    let update = std::env::var_os("UPDATE_EXPAND").is_some();
    let dir = fixtures_dir();
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("the fixtures directory exists")
        .map(|entry| entry.expect("a readable directory entry").path())
        .collect();
    entries.sort();

    let mut problems = Vec::new();
    let mut fixtures = 0;
    for path in &entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if let Some(case) = name.strip_suffix(".expanded.rs") {
            if !dir.join(format!("{case}.rs")).exists() {
                if update {
                    fs::remove_file(path).expect("remove an orphaned expansion");
                } else {
                    problems.push(format!("{name}: orphaned (no fixture `{case}.rs`)"));
                }
            }
            continue;
        }
        let Some(case) = name.strip_suffix(".rs") else { continue };
        fixtures += 1;
        let source = fs::read_to_string(path).expect("a readable fixture");
        let expanded = match expand_fixture(&source) {
            Ok(expanded) => expanded,
            Err(problem) => {
                problems.push(format!("{name}: {problem}"));
                continue;
            }
        };
        let golden = dir.join(format!("{case}.expanded.rs"));
        if fs::read_to_string(&golden).ok().as_deref() == Some(expanded.as_str()) {
            continue;
        }
        if update {
            fs::write(&golden, expanded).expect("write an expansion");
        } else {
            problems.push(format!("{case}.expanded.rs: stale or missing"));
        }
    }
    assert!(fixtures >= 10, "expected at least 10 fixtures, found {fixtures}");
    assert!(
        problems.is_empty(),
        "expansion goldens are out of date; run `cargo xtask codegen`:\n  {}",
        problems.join("\n  ")
    );
}
