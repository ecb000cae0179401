//! `alejandra [--check] [PATH...]`: format Nix files in place, or with `--check` list the files
//! that are not formatted and exit 2. Directories are walked, skipping VCS and build outputs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alejandra::format::{Status, in_memory};

const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules", ".direnv"];

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if SKIPPED_DIRS.contains(&name) || name.starts_with("result") {
            return Ok(());
        }
        let mut entries = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort();
        for entry in entries {
            collect(&entry, out)?;
        }
    } else if path.extension().is_some_and(|ext| ext == "nix") {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("nix.alejandra-tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

fn main() -> ExitCode {
    let mut check = false;
    let mut roots = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" | "-c" => check = true,
            "--help" | "-h" => {
                println!("usage: alejandra [--check] [PATH...]");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => {
                eprintln!("alejandra: unknown option {flag}");
                return ExitCode::from(64);
            }
            _ => roots.push(PathBuf::from(arg)),
        }
    }
    if roots.is_empty() {
        roots.push(PathBuf::from("."));
    }

    let mut files = Vec::new();
    for root in &roots {
        if let Err(error) = collect(root, &mut files) {
            eprintln!("alejandra: {}: {error}", root.display());
            return ExitCode::FAILURE;
        }
    }

    let (mut failed, mut unformatted) = (false, 0usize);
    for file in &files {
        let before = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("alejandra: {}: {error}", file.display());
                failed = true;
                continue;
            }
        };
        match in_memory(file.display().to_string(), before) {
            (Status::Error(error), _) => {
                eprintln!("alejandra: {}: {error}", file.display());
                failed = true;
            }
            (Status::Changed(false), _) => {}
            (Status::Changed(true), after) => {
                unformatted += 1;
                if check {
                    println!("not formatted: {}", file.display());
                } else if let Err(error) = write_atomically(file, &after) {
                    eprintln!("alejandra: {}: {error}", file.display());
                    failed = true;
                } else {
                    println!("formatted: {}", file.display());
                }
            }
        }
    }

    if failed {
        ExitCode::FAILURE
    } else if check && unformatted > 0 {
        eprintln!("alejandra: {unformatted} of {} files not formatted", files.len());
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
