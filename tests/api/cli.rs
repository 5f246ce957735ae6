//! The command line beyond `serve`: the standalone Stripe simulator with faults from flags.

use std::process::{Command, Stdio};
use std::time::Duration;

#[actix_web::test]
async fn stripe_sim_runs_alone_with_faults_from_flags() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["stripe-sim", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--fault",
            r#"{"path":"/v1/customers","error_rate":1.0,"error_status":503,"times":1}"#,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(format!("http://127.0.0.1:{port}/v1/customers"))
            .basic_auth("sk_test_cli", Some(""))
            .send()
    };
    let mut first = None;
    for _ in 0..100 {
        if let Ok(response) = post().await {
            first = Some(response.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = post().await.unwrap();
    let body: serde_json::Value = second.json().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(first, Some(503), "the injected fault answers first");
    assert!(
        body["id"].as_str().unwrap().starts_with("cus_"),
        "then the customer is created: {body}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["stripe-sim", "--fault", "nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--fault nope"));
}
