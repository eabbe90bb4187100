//! Whether the Docker tests can run here: a Docker engine and the images `tests/images`
//! builds. Outside CI a test without them says why and passes; under CI it fails.

use std::process::Command;

/// Whether the engine answers and every image in `images` is present; prints why not (and
/// fails when CI is set).
pub fn ready(images: &[&str]) -> bool {
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let why = if !ok(&["info"]) {
        "no Docker engine".to_owned()
    } else if let Some(image) = images.iter().find(|i| !ok(&["image", "inspect", i])) {
        format!("the image {image} is missing (run tests/images)")
    } else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}: CI must run the Docker tests (tests/run builds the images)"
    );
    eprintln!("skipped: {why}");
    false
}
