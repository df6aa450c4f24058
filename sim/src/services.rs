//! What the API server's Service REST storage allocates on create: a cluster IP from the
//! service range (10.96.0.0/12, as kubeadm's default) unless the Service is headless
//! (`clusterIP: None`) or an ExternalName, and a node port (30000-32767) for each port of a
//! NodePort or LoadBalancer Service that names none. Addresses are handed out in order and
//! never reused within a run; nothing routes to them.

use serde_json::{Value, json};

/// The first address handed out: 10.96.0.1 is the `kubernetes` Service's on a real cluster.
const FIRST_CLUSTER_IP: u32 = u32::from_be_bytes([10, 96, 0, 10]);
/// 10.96.0.0/12 ends here.
const LAST_CLUSTER_IP: u32 = u32::from_be_bytes([10, 111, 255, 254]);
const NODE_PORTS: std::ops::RangeInclusive<u32> = 30000..=32767;

/// A Service's spec and type, unless it is an ExternalName (which has no addresses).
fn addressed_spec(service: &mut Value) -> Option<(&mut serde_json::Map<String, Value>, String)> {
    let spec = service.get_mut("spec")?.as_object_mut()?;
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    (kind != "ExternalName").then_some((spec, kind))
}

fn unset(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_none_or(str::is_empty)
}

/// Allocation counters, kept with the store.
#[derive(Debug, Default)]
pub struct Allocator {
    cluster_ips: u32,
    node_ports: u32,
}

impl Allocator {
    fn cluster_ip(&mut self) -> String {
        let span = LAST_CLUSTER_IP - FIRST_CLUSTER_IP + 1;
        let ip = FIRST_CLUSTER_IP + self.cluster_ips % span;
        self.cluster_ips += 1;
        std::net::Ipv4Addr::from(ip).to_string()
    }

    fn node_port(&mut self) -> u32 {
        let span = NODE_PORTS.end() - NODE_PORTS.start() + 1;
        let port = NODE_PORTS.start() + self.node_ports % span;
        self.node_ports += 1;
        port
    }

    /// Fills what a new Service's spec leaves to the server.
    pub fn on_create(&mut self, service: &mut Value) {
        let Some((spec, kind)) = addressed_spec(service) else {
            return;
        };
        if unset(spec.get("clusterIP")) {
            let ip = self.cluster_ip();
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        } else if spec.get("clusterIPs").is_none() {
            let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
            for port in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let missing = port
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .is_none_or(|p| p == 0);
                if missing && let Some(port) = port.as_object_mut() {
                    port.insert("nodePort".into(), json!(self.node_port()));
                }
            }
        }
    }
}

impl Allocator {
    /// On update, as the real storage does: a cluster IP or node port the new spec leaves out
    /// keeps its allocated value (an applied manifest never names them); what is still missing
    /// (a port added, a type changed to NodePort) is allocated.
    pub fn on_update(&mut self, old: &Value, new: &mut Value) {
        keep_allocated(old, new);
        self.on_create(new);
    }
}

fn keep_allocated(old: &Value, new: &mut Value) {
    let Some(old_spec) = old.get("spec").and_then(Value::as_object) else {
        return;
    };
    let Some((spec, kind)) = addressed_spec(new) else {
        return;
    };
    if unset(spec.get("clusterIP")) {
        for field in ["clusterIP", "clusterIPs"] {
            if let Some(v) = old_spec.get(field) {
                spec.insert(field.into(), v.clone());
            }
        }
    }
    if !matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        return;
    }
    let old_ports: Vec<&Value> = old_spec
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let protocol = |p: &Value| {
        p.get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_string()
    };
    for port in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if port
            .get("nodePort")
            .and_then(Value::as_u64)
            .is_some_and(|p| p != 0)
        {
            continue;
        }
        let same = old_ports
            .iter()
            .find(|o| o.get("port") == port.get("port") && protocol(o) == protocol(port));
        if let (Some(node_port), Some(port)) = (
            same.and_then(|o| o.get("nodePort")).cloned(),
            port.as_object_mut(),
        ) {
            port.insert("nodePort".into(), node_port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_get_addresses_and_node_ports() {
        let mut a = Allocator::default();
        let mut plain = json!({"spec": {"ports": [{"port": 80}]}});
        a.on_create(&mut plain);
        assert_eq!(plain["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(plain["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert!(plain["spec"]["ports"][0].get("nodePort").is_none());

        let mut np = json!({"spec": {"type": "NodePort", "clusterIP": "",
            "ports": [{"port": 80}, {"port": 81, "nodePort": 30500}]}});
        a.on_create(&mut np);
        assert_eq!(np["spec"]["clusterIP"], "10.96.0.11");
        assert_eq!(np["spec"]["ports"][0]["nodePort"], 30000);
        assert_eq!(
            np["spec"]["ports"][1]["nodePort"], 30500,
            "a chosen port is kept"
        );

        let mut headless = json!({"spec": {"clusterIP": "None"}});
        a.on_create(&mut headless);
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));

        let mut external = json!({"spec": {"type": "ExternalName", "externalName": "db.example"}});
        a.on_create(&mut external);
        assert!(external["spec"].get("clusterIP").is_none());

        // Re-applied without them: the allocated values stay.
        let mut again = json!({"spec": {"type": "NodePort",
            "ports": [{"port": 80}, {"port": 82}]}});
        a.on_update(&np, &mut again);
        assert_eq!(again["spec"]["clusterIP"], "10.96.0.11");
        assert_eq!(again["spec"]["ports"][0]["nodePort"], 30000);
        assert_eq!(
            again["spec"]["ports"][1]["nodePort"], 30001,
            "a new port gets one"
        );
    }
}
