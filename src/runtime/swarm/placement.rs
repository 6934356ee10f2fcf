//! Where a Swarm lab's task is: which of the service's tasks counts, its state, its
//! node and that node's address, and whether Swarm gave up on it. The decisions are
//! made on the tasks and node as the engine lists them, apart from asking for them.

use std::net::IpAddr;

use bollard::models::{Node, Task, TaskState};

use crate::engine::Engine;

/// Where the lab's task is: its state, its node, and Swarm's words about it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    pub state: String,
    pub node: Option<String>,
    pub address: Option<IpAddr>,
    /// The task's error, or the scheduler's message while it waits.
    pub why: Option<String>,
}

/// Where service `id`'s task runs now, and the address of its node.
pub async fn placement(engine: &Engine, id: &str) -> anyhow::Result<Placement> {
    placement_since(engine, id, 0).await
}

/// As [`placement`], of a task Swarm made or changed after version `since`: after an
/// update, the task before it may still answer for a moment.
pub async fn placement_since(engine: &Engine, id: &str, since: u64) -> anyhow::Result<Placement> {
    let tasks = engine.tasks(id).await?;
    let Some(task) = current(&after(&tasks, since)).cloned() else {
        return Ok(placed(None, None));
    };
    let node = match task.node_id.as_deref() {
        Some(node) => engine.node(node).await?,
        None => None,
    };
    Ok(placed(Some(&task), node))
}

/// The tasks Swarm made or changed after version `since`; after an update, only those
/// it wants running, since the task being replaced is newer too, as it is told to stop.
fn after(tasks: &[Task], since: u64) -> Vec<Task> {
    tasks
        .iter()
        .filter(|t| index(t) > since)
        .filter(|t| since == 0 || t.desired_state == Some(TaskState::RUNNING))
        .cloned()
        .collect()
}

/// The task that is to run (the newest one Swarm wants running), else the newest.
pub fn current(tasks: &[Task]) -> Option<&Task> {
    tasks
        .iter()
        .find(|t| t.desired_state == Some(TaskState::RUNNING))
        .or_else(|| tasks.first())
}

/// What `task`, on `node`, says of where the lab is.
fn placed(task: Option<&Task>, node: Option<Node>) -> Placement {
    let Some(task) = task else {
        return Placement {
            state: "no task".into(),
            ..Default::default()
        };
    };
    let status = task.status.clone().unwrap_or_default();
    let mut placement = Placement {
        state: status.state.map_or("unknown".into(), |s| s.to_string()),
        why: status.err.or(status.message).filter(|m| !m.is_empty()),
        ..Default::default()
    };
    if let Some(node) = node {
        placement.node = node.description.and_then(|d| d.hostname);
        placement.address = node
            .status
            .and_then(|s| s.addr)
            .and_then(|a| a.parse().ok());
    }
    placement
}

/// A task of this service that failed for good: rejected by its node (a missing
/// project path), or failed (its command), with Swarm's error.
pub fn failure(tasks: &[Task], since: u64) -> Option<String> {
    tasks
        .iter()
        .filter(|t| index(t) > since)
        .find(|t| matches!(state_of(t), Some(TaskState::REJECTED | TaskState::FAILED)))
        .map(|t| {
            let status = t.status.clone().unwrap_or_default();
            let why = status.err.or(status.message).unwrap_or_default();
            format!(
                "the lab's task was {} by Swarm: {why}",
                state_of(t).map_or("failed".into(), |s| s.to_string())
            )
        })
}

fn index(task: &Task) -> u64 {
    task.version.as_ref().and_then(|v| v.index).unwrap_or(0)
}

pub fn state_of(task: &Task) -> Option<TaskState> {
    task.status.as_ref().and_then(|s| s.state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{NodeDescription, NodeStatus, ObjectVersion, TaskStatus};

    /// A task at version `index` that Swarm wants `desired`, now `state`; the engine
    /// lists them newest first.
    fn task(index: u64, desired: TaskState, state: TaskState, err: Option<&str>) -> Task {
        Task {
            version: Some(ObjectVersion { index: Some(index) }),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                err: err.map(str::to_string),
                ..Default::default()
            }),
            node_id: Some("n1".into()),
            ..Default::default()
        }
    }

    fn node(host: &str, addr: &str) -> Node {
        Node {
            description: Some(NodeDescription {
                hostname: Some(host.into()),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                addr: Some(addr.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_task_swarm_wants_running_counts_else_the_newest() {
        let tasks = [
            task(9, TaskState::SHUTDOWN, TaskState::FAILED, Some("exit 1")),
            task(7, TaskState::RUNNING, TaskState::RUNNING, None),
        ];
        assert_eq!(
            current(&tasks).and_then(|t| t.version.clone()?.index),
            Some(7)
        );
        let stopping = [task(9, TaskState::SHUTDOWN, TaskState::SHUTDOWN, None)];
        assert_eq!(
            current(&stopping).and_then(|t| t.version.clone()?.index),
            Some(9)
        );
        assert!(current(&[]).is_none());
    }

    #[test]
    fn after_an_update_only_the_new_task_it_wants_running_counts() {
        let tasks = [
            task(12, TaskState::RUNNING, TaskState::STARTING, None),
            task(11, TaskState::SHUTDOWN, TaskState::RUNNING, None),
            task(5, TaskState::SHUTDOWN, TaskState::SHUTDOWN, None),
        ];
        let newer: Vec<u64> = after(&tasks, 10).iter().map(index).collect();
        assert_eq!(newer, [12], "the old task still runs, but is told to stop");
        assert_eq!(
            after(&tasks, 0).len(),
            3,
            "with no update every task counts"
        );
        assert!(after(&tasks, 12).is_empty());
    }

    #[test]
    fn a_placement_names_the_node_and_its_address_and_swarms_words() {
        let running = task(3, TaskState::RUNNING, TaskState::RUNNING, None);
        let placement = placed(Some(&running), Some(node("worker-1", "10.240.0.2")));
        assert_eq!(
            placement,
            Placement {
                state: "running".into(),
                node: Some("worker-1".into()),
                address: Some("10.240.0.2".parse().unwrap()),
                why: None,
            }
        );
        let mut pending = task(3, TaskState::RUNNING, TaskState::PENDING, None);
        pending.status.as_mut().unwrap().message = Some("no suitable node".into());
        let placement = placed(Some(&pending), None);
        assert_eq!(placement.state, "pending");
        assert_eq!(placement.why.as_deref(), Some("no suitable node"));
        assert_eq!((placement.node, placement.address), (None, None));
        assert_eq!(placed(None, None).state, "no task");
    }

    #[test]
    fn a_task_swarm_rejected_or_that_failed_is_a_failure_with_swarms_reason() {
        let tasks = [
            task(
                8,
                TaskState::RUNNING,
                TaskState::REJECTED,
                Some("invalid mount config"),
            ),
            task(4, TaskState::SHUTDOWN, TaskState::FAILED, Some("older")),
        ];
        assert_eq!(
            failure(&tasks, 0).as_deref(),
            Some("the lab's task was rejected by Swarm: invalid mount config")
        );
        assert_eq!(failure(&tasks[1..], 5), None, "failed before the update");
        let fine = [task(8, TaskState::RUNNING, TaskState::RUNNING, None)];
        assert_eq!(failure(&fine, 0), None);
    }
}
