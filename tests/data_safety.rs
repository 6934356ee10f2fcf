//! No lost work: notebooks written through the lab survive every lab operation, no verb
//! deletes or changes anything in the project, and the password stays unless forgotten.

use crate::util::*;

fn write_notebook_through_the_lab(port: u16, password: &str, name: &str) {
    let browser = Browser::local(port);
    assert_eq!(browser.login(password), 302);
    let made = browser.put_notebook(name, &format!("print('written as {name}')"));
    assert_eq!(made.status, 201, "{}", made.body);
}

fn assert_files_intact(project: &Project, port: u16, password: &str, names: &[&str]) {
    let browser = Browser::local(port);
    assert_eq!(browser.login(password), 302);
    for name in names {
        let on_disk = std::fs::read_to_string(project.dir.join(name)).unwrap();
        assert!(
            on_disk.contains(&format!("written as {name}")),
            "{name} changed on disk:\n{on_disk}"
        );
        let r = browser.get(&format!("/api/contents/{name}?content=1"));
        assert_eq!(r.status, 200, "the lab no longer sees {name}");
    }
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_notebooks_survive_down_up_rebuild_password_change_and_switching_images() {
    let _engine = engine();
    let project = Project::from_example("minimal", "survive");
    let port = free_port();
    project.up(port);
    write_notebook_through_the_lab(port, PASSWORD, "first.ipynb");

    assert_success(&project.rjup(&["down"], &[], None), "down");
    assert_success(&project.rjup(&["up"], &[], None), "up after down");
    assert_files_intact(&project, port, PASSWORD, &["first.ipynb"]);

    assert_success(
        &project.rjup(&["up", "--rebuild"], &[], None),
        "up --rebuild",
    );
    assert_files_intact(&project, port, PASSWORD, &["first.ipynb"]);

    let new_password = "a different one";
    assert_success(
        &project.rjup(&["password", "--password-stdin"], &[], Some(new_password)),
        "password",
    );
    assert_files_intact(&project, port, new_password, &["first.ipynb"]);
    write_notebook_through_the_lab(port, new_password, "second.ipynb");

    // Switch to a pulled image, and back: the project is the same directory throughout.
    project.write("rjup.yaml", "image: jupyter/minimal-notebook:latest\n");
    assert_success(&project.rjup(&["up"], &[], None), "up with image:");
    assert_files_intact(
        &project,
        port,
        new_password,
        &["first.ipynb", "second.ipynb"],
    );
    write_notebook_through_the_lab(port, new_password, "third.ipynb");
    project.write("rjup.yaml", "build:\n  packages: [tabulate]\n");
    assert_success(&project.rjup(&["up"], &[], None), "up back in build mode");
    assert_files_intact(
        &project,
        port,
        new_password,
        &["first.ipynb", "second.ipynb", "third.ipynb"],
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_no_verb_deletes_or_changes_a_project_file() {
    let _engine = engine();
    let project = Project::from_example("ci", "untouched");
    let port = free_port().to_string();
    let before = snapshot(&project.dir);
    let pw = [("RJUP_PASSWORD", PASSWORD)];
    for args in [
        vec!["up", "--port", port.as_str()],
        vec!["status"],
        vec!["status", "--json"],
        vec!["logs", "--tail", "5"],
        vec!["ls"],
        vec!["check"],
        vec!["build"],
        vec!["init"],
        vec!["up", "--force-recreate"],
        vec!["down"],
        vec!["down", "--forget"],
    ] {
        let _ = project.rjup(&args, &pw, None);
        assert_eq!(
            snapshot(&project.dir),
            before,
            "`rjup {}` changed the project's files",
            args.join(" ")
        );
    }
    let _ = project.rjup(&["password", "--password-stdin"], &[], Some("x"));
    assert_eq!(
        snapshot(&project.dir),
        before,
        "`rjup password` changed the project's files"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_down_keeps_the_password_and_down_forget_drops_it() {
    let _engine = engine();
    let project = Project::from_example("pulled", "forget");
    let port = free_port();
    project.up(port);
    let hash = project.stored_hash();
    assert_success(&project.rjup(&["down"], &[], None), "down");
    assert_eq!(
        project.stored_hash(),
        hash,
        "down must keep the password hash"
    );
    // Without RJUP_PASSWORD, the next up reuses the stored hash.
    assert_success(&project.rjup(&["up"], &[], None), "up with the stored hash");
    assert_eq!(Browser::local(port).login(PASSWORD), 302);
    let out = project.rjup(&["down", "--forget"], &[], None);
    assert_success(&out, "down --forget");
    assert!(
        project.state_dir().is_none(),
        "down --forget must drop the state"
    );
    assert_exit(
        &project.rjup(&["up"], &[], None),
        4,
        "up after forgetting, with no password",
    );
}
