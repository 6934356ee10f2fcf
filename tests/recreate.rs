//! A lab that is replaced keeps serving until its replacement does: a recreate that
//! fails leaves the previous lab answering exactly as before.

use crate::util::*;

const NEW_PASSWORD: &str = "a replacement password";

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_recreate_whose_new_lab_exits_keeps_the_old_lab_and_its_password() {
    let _engine = engine();
    let project = Project::from_example("minimal", "rollback");
    let port = free_port();
    project.up(port);
    let old_id = inspect(&project.container()).unwrap()["Id"].clone();

    // A start script that fails: the replacement exits while starting.
    project.write(
        "start",
        "#!/bin/sh\necho 'start: the data volume is not mounted' >&2\nexit 1\nexec \"$@\"\n",
    );
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", NEW_PASSWORD)],
        None,
    );
    assert_exit(&out, 9, "up whose replacement exits");
    let err = stderr(&out);
    assert!(
        err.contains("the previous lab was started again") && err.contains("answers as before"),
        "the error must say the old lab is back: {err}"
    );
    assert!(
        err.contains("start: the data volume is not mounted"),
        "the error must show the replacement's log: {err}"
    );
    assert_eq!(
        inspect(&project.container()).unwrap()["Id"],
        old_id,
        "the old container must be the lab"
    );
    assert!(
        containers_named(&format!("{}.next", project.container())).is_empty(),
        "no replacement may be left behind"
    );
    let browser = Browser::new(port);
    assert_eq!(
        browser.login(PASSWORD),
        302,
        "the old password must still work"
    );
    assert_eq!(
        Browser::new(port).login(NEW_PASSWORD),
        401,
        "the new password must not have taken effect"
    );
    let status = project.rjup(&["status", "--json"], &[], None);
    assert_success(&status, "status after a failed recreate");
    assert!(stdout(&status).contains("\"state\":\"running\""));

    // Fixed, the same `up` replaces the lab, and the new password works.
    std::fs::remove_file(project.dir.join("start")).unwrap();
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", NEW_PASSWORD)],
        None,
    );
    assert_success(&out, "up once the start script is fixed");
    assert_ne!(inspect(&project.container()).unwrap()["Id"], old_id);
    assert_eq!(Browser::new(port).login(NEW_PASSWORD), 302);
}
