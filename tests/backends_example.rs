//! Runs examples/backends: the four backends agree on the shared contract
//! at every step, and only poll and epoll show the extras.

mod common;

use std::process::Command;

#[test]
fn backends_example_agrees_and_shows_extras() {
    let out = Command::new(common::example_path("backends"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let rows: Vec<&str> = text.lines().skip(1).take(6).collect();
    assert_eq!(rows.len(), 6, "{text}");
    for row in &rows {
        assert!(row.ends_with("| agree"), "{row}");
    }
    // The reset row: select sees R W only; poll and epoll see the extras.
    let cells: Vec<&str> = rows[5].split('|').map(str::trim).collect();
    assert_eq!(
        &cells[1..5],
        ["R W", "R W", "R W +ERR +HUP +RDHUP", "R W +ERR +HUP +RDHUP"]
    );
}
