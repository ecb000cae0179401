//! A workspace whose cargo configuration asks for `target-cpu=native`: `generate` keeps its other
//! flags in the layer, leaves that one out and says so.

mod common;

use common::{Fixture, deps_layer, text};

#[test]
fn generate_leaves_target_cpu_native_out_of_the_layer_and_warns() {
    let fixture = Fixture::new("adopt");
    fixture.write(
        ".cargo/config.toml",
        "[build]\nrustflags = [\"-C\", \"target-cpu=native\", \"--cfg\", \"adopt_build\"]\n\n\
         [target.x86_64-unknown-linux-gnu]\nrustflags = \"-Ctarget-cpu=native -C force-frame-pointers=yes\"\n",
    );
    let output = deps_layer(&[
        "generate",
        "--manifest-path",
        fixture.manifest().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let config_path = fixture.path(".cargo/config.toml").display().to_string();
    assert!(warnings[0].contains(&config_path), "{stderr}");
    assert!(warnings[0].contains("default CPU"), "{stderr}");
    assert!(
        warnings[0].contains("the real build must not use target-cpu=native"),
        "{stderr}"
    );

    let config = fixture.read("nix/deps/.cargo/config.toml");
    assert!(!config.contains("native"), "{config}");
    let body: toml::Table = config.parse().unwrap();
    assert_eq!(
        body["build"]["rustflags"],
        toml::Value::Array(vec!["--cfg".into(), "adopt_build".into()])
    );
    assert_eq!(
        body["target"]["x86_64-unknown-linux-gnu"]["rustflags"].as_str(),
        Some("-C force-frame-pointers=yes")
    );
    // The workspace's own file is the user's: left as it was.
    assert!(
        fixture
            .read(".cargo/config.toml")
            .contains("target-cpu=native")
    );
}
