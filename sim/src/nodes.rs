//! Simulated Nodes and the simulated scheduler: the Node objects a cluster starts with (Ready,
//! with capacity, addresses and the kubelet's nodeInfo), and where a new pod runs: the
//! least-loaded schedulable Node, with a pod IP from that Node's podCIDR unique in the cluster.
//!
//! It decides placement and addresses only; running pods (status, readiness) is the simulated
//! kubelet's job in [`crate::workloads`]. It never stores anything but the bootstrap Nodes.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::ops::{self, Part, WriteOptions, meta_str};
use crate::store::State;

/// The kubelet version Nodes report: the simulated API server's own minor version.
const KUBELET_VERSION: &str = "v1.33.0";
/// Pod networks as kind and kubeadm's defaults lay them out: Node i gets 10.244.(i-1).0/24.
const POD_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 0);
/// Node addresses as on a kind cluster's docker network (the first Node is 172.18.0.2).
const NODE_NETWORK: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);

/// The name of the i-th (1-based) simulated Node.
pub fn node_name(i: usize) -> String {
    format!("sim-node-{i}")
}

/// 64 hex digits derived from `seed`: stable ids (machine ids, container ids, image digests)
/// that look like the real ones and are the same on every run.
pub fn hex64(seed: &str) -> String {
    (0u8..4)
        .map(|salt| {
            let mut h = DefaultHasher::new();
            (salt, seed).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn offset(base: Ipv4Addr, by: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(by))
}

/// Creates the Nodes a cluster starts with, Ready and schedulable.
pub fn bootstrap(state: &mut State, count: usize) {
    let Some(rt) = state.registry.get("", "v1", "nodes").cloned() else {
        return;
    };
    for i in 1..=count {
        let name = node_name(i);
        let index = u32::try_from(i - 1).unwrap_or(u32::MAX);
        let cidr = format!("{}/24", offset(POD_NETWORK, index.wrapping_mul(256)));
        let internal_ip = offset(NODE_NETWORK, index).to_string();
        let node = json!({
            "metadata": {
                "name": name,
                "labels": {
                    "beta.kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                },
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": format!("sim://{name}")},
        });
        let created = match ops::create(state, &rt, None, node, &WriteOptions::default()) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("simulated node {name}: {}", e.message);
                continue;
            }
        };
        let now = ops::now();
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        let resources = json!({
            "cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi",
            "hugepages-1Gi": "0", "hugepages-2Mi": "0",
        });
        let mut running = created;
        running["status"] = json!({
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": &hex64(&name)[..32],
                "systemUUID": &hex64(&format!("uuid:{name}"))[..32],
                "bootID": &hex64(&format!("boot:{name}"))[..32],
                "kernelVersion": "6.8.0-sim",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        });
        if let Err(e) = ops::update(
            state,
            &rt,
            None,
            &name,
            running,
            Part::Status,
            &WriteOptions::default(),
        ) {
            tracing::warn!("simulated node {name}: status: {}", e.message);
        }
    }
}

/// Where a pod runs and its addresses.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub node: String,
    pub host_ip: String,
    pub pod_ip: String,
}

struct Candidate {
    name: String,
    host_ip: String,
    pod_network: Ipv4Addr,
    pods: usize,
}

/// A snapshot of the cluster's Nodes and pod counts, taken once per batch of new pods; the
/// addresses in use are asked of the store as each pod is placed.
pub struct Scheduler {
    candidates: Vec<Candidate>,
    /// Addresses handed out in this batch (the store knows the others).
    used_ips: HashSet<Ipv4Addr>,
    /// How many Nodes exist, schedulable or not (for the Unschedulable message).
    nodes: usize,
}

fn is_schedulable(node: &Value) -> bool {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    // `kubectl cordon` sets spec.unschedulable.
    let cordoned = node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ready && !cordoned && node.pointer("/metadata/deletionTimestamp").is_none()
}

impl Scheduler {
    pub fn survey(state: &State) -> Self {
        let mut candidates = Vec::new();
        let mut nodes = 0;
        for (_, node) in state.list("/nodes") {
            nodes += 1;
            if !is_schedulable(node) {
                continue;
            }
            let Some(name) = meta_str(node, "name") else {
                continue;
            };
            let host_ip = node
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .and_then(|a| a.get("address"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            // A Node someone created without a podCIDR shares the first range; the cluster-wide
            // check below keeps its pods' IPs unique all the same.
            let pod_network = node
                .pointer("/spec/podCIDR")
                .and_then(Value::as_str)
                .and_then(|c| c.split('/').next())
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(POD_NETWORK);
            candidates.push(Candidate {
                name: name.to_string(),
                host_ip,
                pod_network,
                pods: 0,
            });
        }
        // Pods per Node come from the store's placement index, not from reading every pod.
        for c in &mut candidates {
            c.pods = state.placement().pods_on(&c.name);
        }
        let used_ips = HashSet::new();
        Scheduler {
            candidates,
            used_ips,
            nodes,
        }
    }

    /// Binds one more pod: the Node with the fewest pods (ties go to the first by name), and
    /// the lowest free address of its pod network (.0, .1 and .255 of each /24 left out, as
    /// host-local IPAM does), past its /24 when that is full. `None` when no Node can take it.
    pub fn place(&mut self, state: &State) -> Option<Binding> {
        let c = self.candidates.iter_mut().min_by_key(|c| c.pods)?;
        let taken = state.placement();
        let ip = (2u32..1 << 24)
            .map(|n| offset(c.pod_network, n))
            .filter(|ip| !matches!(ip.octets()[3], 0 | 1 | 255))
            .find(|ip| !self.used_ips.contains(ip) && !taken.ip_in_use(ip))?;
        self.used_ips.insert(ip);
        c.pods += 1;
        Some(Binding {
            node: c.name.clone(),
            host_ip: c.host_ip.clone(),
            pod_ip: ip.to_string(),
        })
    }

    /// The scheduler's message for a pod no Node can take.
    pub fn unschedulable_message(&self) -> String {
        if self.nodes == 0 {
            "no nodes available to schedule pods".to_string()
        } else {
            format!(
                "0/{n} nodes are available: {n} node(s) were unschedulable.",
                n = self.nodes
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_nodes(n: usize) -> State {
        let (events, _) = tokio::sync::broadcast::channel(16);
        let mut state = State::new(100, events);
        ops::bootstrap(&mut state);
        bootstrap(&mut state, n);
        state
    }

    #[test]
    fn pods_spread_over_nodes_with_unique_ips() {
        let state = state_with_nodes(3);
        let mut s = Scheduler::survey(&state);
        let placed: Vec<Binding> = (0..7).filter_map(|_| s.place(&state)).collect();
        let nodes: Vec<&str> = placed.iter().map(|b| b.node.as_str()).collect();
        assert_eq!(
            nodes,
            [
                "sim-node-1",
                "sim-node-2",
                "sim-node-3",
                "sim-node-1",
                "sim-node-2",
                "sim-node-3",
                "sim-node-1"
            ]
        );
        assert_eq!(placed[0].pod_ip, "10.244.0.2");
        assert_eq!(placed[1].pod_ip, "10.244.1.2");
        assert_eq!(placed[3].pod_ip, "10.244.0.3");
        assert_eq!(placed[0].host_ip, "172.18.0.2");
        assert_eq!(placed[2].host_ip, "172.18.0.4");
        let ips: HashSet<&str> = placed.iter().map(|b| b.pod_ip.as_str()).collect();
        assert_eq!(ips.len(), placed.len());
    }

    #[test]
    fn a_full_slash_24_continues_without_reusing_an_address() {
        let state = state_with_nodes(1);
        let mut s = Scheduler::survey(&state);
        let ips: Vec<String> = (0..300)
            .filter_map(|_| s.place(&state))
            .map(|b| b.pod_ip)
            .collect();
        assert_eq!(ips.len(), 300);
        assert_eq!(ips.iter().collect::<HashSet<_>>().len(), 300);
        assert!(
            ips.iter()
                .all(|ip| !ip.ends_with(".0") && !ip.ends_with(".255"))
        );
    }

    #[test]
    fn no_nodes_no_binding() {
        let state = state_with_nodes(0);
        let mut s = Scheduler::survey(&state);
        assert_eq!(s.place(&state), None);
        assert_eq!(
            s.unschedulable_message(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn ids_are_stable_hex() {
        assert_eq!(hex64("a"), hex64("a"));
        assert_ne!(hex64("a"), hex64("b"));
        assert_eq!(hex64("a").len(), 64);
        assert!(hex64("a").chars().all(|c| c.is_ascii_hexdigit()));
    }
}
