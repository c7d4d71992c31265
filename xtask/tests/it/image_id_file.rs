//! The file `image build` has docker write the new image's ID into
//! (`--iidfile`, under the cache's contexts folder): a folder it cannot
//! write in stops the build before docker builds anything; an image gone
//! between its check and its naming leaves the name where it was, and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// `dir` made unwritable for this process until dropped: `chattr +i` as
/// root (whom file modes do not stop), else mode 0555.
struct Unwritable(PathBuf, bool);

impl Unwritable {
    fn new(dir: &Path) -> Unwritable {
        let id = Command::new("id").arg("-u").output().unwrap();
        let root = String::from_utf8_lossy(&id.stdout).trim() == "0";
        let ok = if root {
            Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .unwrap()
                .success()
        } else {
            Command::new("chmod")
                .arg("0555")
                .arg(dir)
                .status()
                .unwrap()
                .success()
        };
        assert!(ok, "cannot make {} unwritable", dir.display());
        Unwritable(dir.to_path_buf(), root)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let (program, arg) = if self.1 {
            ("chattr", "-i")
        } else {
            ("chmod", "0755")
        };
        let _ = Command::new(program).arg(arg).arg(&self.0).status();
    }
}

#[test]
fn a_contexts_folder_docker_cannot_write_the_image_id_in_stops_the_build_before_it_runs() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("iid-ro", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let before = image_id(&reference);
    // The commit's context is kept: the next build writes nothing else
    // there, and without the probe docker would build the whole image
    // before failing to write its ID.
    let contexts = ws.home.path().join(".cache/itwinai-xtask/contexts");
    let _ro = Unwritable::new(&contexts);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("make {} writable", contexts.display())),
        "{line}"
    );
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert_eq!(image_id(&reference), before);
    // A dry run writes nothing, so it is not stopped.
    ws.xtask(&["image", "build", "fix", "--dry-run"], None, &[])
        .expect(0);
}

#[test]
fn an_image_pruned_between_its_check_and_its_naming_leaves_the_name_and_says_so() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("iid-pruned", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    // As `docker image prune` would, right before the name moves: the
    // checked image has no name to keep it. Through the engine's API (its
    // socket, behind a proxy that removes the image as the tag request
    // comes), then through the docker CLI (one whose engine is not the
    // socket's, by its ID; a wrapper removes the image as `docker tag --
    // <ID> <name>` starts).
    let proxy = EngineProxy::start("iid-pruned-proxy", "/tag?", |line| {
        let id = line
            .split("/images/")
            .nth(1)
            .and_then(|r| r.split("/tag?").next());
        docker(&["image", "rm", id.unwrap()]);
    });
    let host = proxy.host();
    let pruning = docker_wrapper(
        "iid-pruned-docker",
        &format!("{ANOTHER_ENGINE}\n[ \"$1\" = tag ] && \"$REAL\" image rm \"$3\" >&2"),
    );
    for (path, env, tag) in [
        (
            None,
            vec![("DOCKER_HOST", host.as_str())],
            "+ engine API: POST /v",
        ),
        (Some(pruning.path()), vec![], "+ docker tag -- "),
    ] {
        let before = image_id(&reference);
        let pyproject = std::fs::read_to_string(ws.root().join("pyproject.toml")).unwrap();
        ws.write("pyproject.toml", &format!("{pyproject}# changed\n"));
        ws.commit();
        let run = ws.xtask(&["image", "build", "fix", "--json"], path, &env);
        run.expect(1);
        assert!(
            run.stderr.lines().any(|l| l.starts_with(tag)),
            "{}",
            run.stderr
        );
        let line = run.error_line();
        assert!(
            line.contains(&format!(
                "passed its checks but could not be named {reference}, which still names what it did before"
            )) && line.contains("build again"),
            "{line}"
        );
        assert_eq!(image_id(&reference), before);
        let rows = xtask::support::json::Json::parse(&run.stdout).unwrap();
        let row = &rows.as_array().unwrap()[0];
        assert_eq!(row.get("status").and_then(|s| s.as_str()), Some("failed"));
        assert_eq!(row.get("image_id"), Some(&xtask::support::json::Json::Null));
    }
    // The tool's engine requests went to the socket DOCKER_HOST names.
    let seen = proxy.seen();
    for request in ["GET /_ping ", "/version HTTP", "/history HTTP", "/tag?"] {
        assert!(
            seen.iter().any(|l| l.contains(request)),
            "{request}: {seen:?}"
        );
    }
}
