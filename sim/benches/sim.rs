//! Benchmark of the simulated API server (not a test; numbers, not assertions):
//!
//! - creating and holding 50,000 mixed objects (ConfigMaps, Secrets, Services, Leases and
//!   Rollouts, the last through CRD schema admission), with the memory they take;
//! - listing 10,000 objects of one kind;
//! - fanning 1,000 changes out to 20 watchers.
//!
//! Run with `cargo bench -p rollout-rs-sim --bench sim`. Prints a table.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A keep-alive HTTP/1.1 connection: enough client for the benchmark, nothing more.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream: BufReader::new(stream),
        }
    }

    async fn request(&mut self, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .expect("send");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let code = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("body");
        (code, body)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Times `runs` GETs of a list: (p50, p95, bytes of the last answer).
async fn time_list(conn: &mut Conn, path: &str, runs: usize) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (code, body) = conn.request("GET", path, "").await;
        times.push(t.elapsed());
        assert_eq!(code, 200, "{path}");
        bytes = body.len();
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95), bytes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sim = rollout_rs_sim::start(rollout_rs_sim::Config::default())
        .await
        .expect("start simulator");
    let port = sim.port();
    let mut conn = Conn::open(port).await;
    let mut rows: Vec<(String, String)> = Vec::new();

    // CRDs, for the Rollouts.
    for crd in rollout_rs_crds::crd::all() {
        let body = serde_json::to_string(&crd).expect("CRD JSON");
        let (code, _) = conn
            .request(
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                &body,
            )
            .await;
        assert_eq!(code, 201);
    }
    for ns in ["bench", "bench-b"] {
        let (code, _) = conn
            .request(
                "POST",
                "/api/v1/namespaces",
                &format!(r#"{{"metadata":{{"name":"{ns}"}}}}"#),
            )
            .await;
        assert_eq!(code, 201);
    }
    let rollout = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rollouts/canary-basic.yaml"
    ))
    .expect("example");
    let rollout: serde_json::Value = rollout_rs_crds::manifest::documents(&rollout)
        .expect("example parses")
        .remove(0);

    let rss_before = rss_kib();
    type MakeObject = Box<dyn Fn(usize) -> String>;
    let kinds: [(&str, &str, MakeObject); 5] = [
        (
            "ConfigMap",
            "/api/v1/namespaces/bench/configmaps",
            Box::new(|i| {
                format!(
                    r#"{{"metadata":{{"name":"cm-{i}","labels":{{"app":"bench","shard":"{}"}}}},"data":{{"key":"value-{i}","other":"some longer configuration text for object {i}"}}}}"#,
                    i % 10
                )
            }),
        ),
        (
            "Secret",
            "/api/v1/namespaces/bench-b/secrets",
            Box::new(|i| {
                format!(
                    r#"{{"metadata":{{"name":"s-{i}"}},"type":"Opaque","data":{{"password":"c2VjcmV0LXZhbHVl"}}}}"#
                )
            }),
        ),
        (
            "Service",
            "/api/v1/namespaces/bench-b/services",
            Box::new(|i| {
                format!(
                    r#"{{"metadata":{{"name":"svc-{i}"}},"spec":{{"selector":{{"app":"a{i}"}},"ports":[{{"name":"http","port":80,"targetPort":8080}}]}}}}"#
                )
            }),
        ),
        (
            "Lease",
            "/apis/coordination.k8s.io/v1/namespaces/bench-b/leases",
            Box::new(|i| {
                format!(
                    r#"{{"metadata":{{"name":"l-{i}"}},"spec":{{"holderIdentity":"h-{i}","leaseDurationSeconds":15}}}}"#
                )
            }),
        ),
        (
            "Rollout",
            "/apis/rollout-rs.io/v1alpha1/namespaces/bench-b/rollouts",
            {
                let rollout = rollout.clone();
                Box::new(move |i| {
                    let mut r = rollout.clone();
                    r["metadata"] = serde_json::json!({"name": format!("ro-{i}")});
                    r.to_string()
                })
            },
        ),
    ];
    let per_kind = 10_000;
    let start = Instant::now();
    for (kind, path, make) in &kinds {
        let t = Instant::now();
        for i in 0..per_kind {
            let (code, body) = conn.request("POST", path, &make(i)).await;
            assert_eq!(code, 201, "{kind} {i}: {}", String::from_utf8_lossy(&body));
        }
        let secs = t.elapsed().as_secs_f64();
        rows.push((
            format!("create {per_kind} {kind}s"),
            format!("{:.0} objects/s", per_kind as f64 / secs),
        ));
    }
    let total = kinds.len() * per_kind;
    rows.push((
        format!("create {total} objects (total)"),
        format!("{:.1} s", start.elapsed().as_secs_f64()),
    ));
    let rss_after = rss_kib();
    rows.push((
        format!("memory for {total} objects (RSS growth)"),
        format!(
            "{:.1} MiB ({:.2} KiB/object)",
            (rss_after - rss_before) as f64 / 1024.0,
            (rss_after - rss_before) as f64 / total as f64
        ),
    ));
    rows.push((
        "process RSS".into(),
        format!("{:.1} MiB", rss_after as f64 / 1024.0),
    ));

    // List latency: 10,000 ConfigMaps.
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let (code, body) = conn
            .request("GET", "/api/v1/namespaces/bench/configmaps", "")
            .await;
        times.push(t.elapsed());
        assert_eq!(code, 200);
        bytes = body.len();
    }
    times.sort();
    rows.push((
        "list 10,000 ConfigMaps (20 runs)".into(),
        format!(
            "p50 {}, p95 {}, {:.1} MB",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            bytes as f64 / 1e6
        ),
    ));
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (code, _) = conn
            .request(
                "GET",
                "/api/v1/namespaces/bench/configmaps?labelSelector=shard%3D3",
                "",
            )
            .await;
        times.push(t.elapsed());
        assert_eq!(code, 200);
    }
    times.sort();
    rows.push((
        "list 10,000 ConfigMaps, selector keeps 1,000".into(),
        format!(
            "p50 {}, p95 {}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        ),
    ));

    let (p50, p95, bytes) = time_list(
        &mut conn,
        "/apis/rollout-rs.io/v1alpha1/namespaces/bench-b/rollouts",
        10,
    )
    .await;
    rows.push((
        "list 10,000 Rollouts (10 runs)".into(),
        format!(
            "p50 {}, p95 {}, {:.1} MB",
            ms(p50),
            ms(p95),
            bytes as f64 / 1e6
        ),
    ));

    // Watch fan-out: 20 watchers, 1,000 changes.
    let (code, body) = conn
        .request("GET", "/api/v1/namespaces/bench/configmaps?limit=1", "")
        .await;
    assert_eq!(code, 200);
    let rv = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let changes = 1_000;
    let mut watchers = Vec::new();
    for _ in 0..20 {
        let mut w = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect watcher");
        let req = format!(
            "GET /api/v1/namespaces/bench/configmaps?watch=true&resourceVersion={rv} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        );
        w.write_all(req.as_bytes()).await.expect("watch request");
        watchers.push(tokio::spawn(async move {
            let mut reader = BufReader::new(w);
            let mut line = String::new();
            let mut events = 0;
            while events < changes {
                line.clear();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                if line.contains("\"type\":\"MODIFIED\"") {
                    events += 1;
                }
            }
            (events, Instant::now())
        }));
    }
    let t = Instant::now();
    for i in 0..changes {
        let patch = format!(r#"{{"data":{{"key":"changed-{i}"}}}}"#);
        let req = format!(
            "PATCH /api/v1/namespaces/bench/configmaps/cm-{i} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/merge-patch+json\r\nContent-Length: {}\r\n\r\n{patch}",
            patch.len()
        );
        conn.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .expect("patch");
        let mut line = String::new();
        let mut length = 0usize;
        conn.stream.read_line(&mut line).await.expect("status");
        loop {
            line.clear();
            conn.stream.read_line(&mut line).await.expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        conn.stream.read_exact(&mut body).await.expect("body");
    }
    let writes_done = t.elapsed();
    let mut last = Duration::ZERO;
    let mut delivered = 0;
    for w in watchers {
        let (events, at) = w.await.expect("watcher");
        delivered += events;
        last = last.max(at.duration_since(t));
    }
    rows.push((
        format!("{changes} patches, 20 watchers"),
        format!(
            "writes {}, all {} events delivered after {}",
            ms(writes_done),
            delivered,
            ms(last)
        ),
    ));
    rows.push((
        "watch events delivered per second".into(),
        format!("{:.0}", delivered as f64 / last.as_secs_f64()),
    ));

    // 100,000 objects: 50,000 more ConfigMaps, 1,000 in each of 50 namespaces.
    let t = Instant::now();
    for n in 0..50 {
        let (code, _) = conn
            .request(
                "POST",
                "/api/v1/namespaces",
                &format!(r#"{{"metadata":{{"name":"many-{n}"}}}}"#),
            )
            .await;
        assert_eq!(code, 201);
        for i in 0..1_000 {
            let body = format!(
                r#"{{"metadata":{{"name":"cm-{i}","labels":{{"app":"many","shard":"{}"}}}},"data":{{"key":"value-{i}"}}}}"#,
                i % 10
            );
            let path = format!("/api/v1/namespaces/many-{n}/configmaps");
            let (code, _) = conn.request("POST", &path, &body).await;
            assert_eq!(code, 201);
        }
    }
    rows.push((
        "create 50,000 more ConfigMaps (100,000 objects held)".into(),
        format!("{:.0} objects/s", 50_000.0 / t.elapsed().as_secs_f64()),
    ));
    rows.push((
        "process RSS, 100,000 objects".into(),
        format!("{:.1} MiB", rss_kib() as f64 / 1024.0),
    ));
    let (p50, p95, _) = time_list(&mut conn, "/api/v1/namespaces/many-7/configmaps", 20).await;
    rows.push((
        "100,000 objects: list one namespace's 1,000".into(),
        format!("p50 {}, p95 {}", ms(p50), ms(p95)),
    ));
    let (p50, p95, bytes) = time_list(&mut conn, "/api/v1/configmaps", 5).await;
    rows.push((
        "100,000 objects: list all 60,000 ConfigMaps".into(),
        format!(
            "p50 {}, p95 {}, {:.1} MB",
            ms(p50),
            ms(p95),
            bytes as f64 / 1e6
        ),
    ));
    let (p50, p95, _) = time_list(
        &mut conn,
        "/api/v1/configmaps?labelSelector=app%3Dmany,shard%3D3",
        5,
    )
    .await;
    rows.push((
        "100,000 objects: selector over all keeps 5,000".into(),
        format!("p50 {}, p95 {}", ms(p50), ms(p95)),
    ));

    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n{:width$}  result", "rollout-rs-sim benchmark");
    println!("{}", "-".repeat(width + 40));
    for (k, v) in rows {
        println!("{k:width$}  {v}");
    }
}
