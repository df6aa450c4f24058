//! `list rollouts [-A]`: one line per rollout, in the columns Argo Rollouts users know.

use kube::ResourceExt;
use kube::api::{Api, ListParams};
use rollout_rs_crds::Rollout;

use crate::cluster::Cluster;
use crate::facts;
use crate::failure::{self, Failure};

const HEADERS: [&str; 8] = [
    "NAME",
    "STRATEGY",
    "STATUS",
    "STEP",
    "SET-WEIGHT",
    "READY",
    "DESIRED",
    "AVAILABLE",
];

pub(crate) async fn run(cluster: &Cluster, all_namespaces: bool) -> Result<String, Failure> {
    let api: Api<Rollout> = if all_namespaces {
        Api::all(cluster.client.clone())
    } else {
        Api::namespaced(cluster.client.clone(), &cluster.namespace)
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| failure::api(cluster, "list", "rollouts", e))?;
    if list.items.is_empty() {
        return Ok(if all_namespaces {
            "No rollouts found.".to_string()
        } else {
            format!("No rollouts found in namespace {}.", cluster.namespace)
        });
    }
    Ok(table(&list.items, all_namespaces))
}

/// The table, sorted by namespace and name, columns padded to their widest cell.
pub(crate) fn table(rollouts: &[Rollout], all_namespaces: bool) -> String {
    let mut sorted: Vec<&Rollout> = rollouts.iter().collect();
    sorted.sort_by_key(|r| (r.namespace(), r.name_any()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    if all_namespaces {
        header.insert(0, "NAMESPACE".into());
    }
    rows.push(header);
    for ro in sorted {
        let st = facts::status(ro);
        let dash = || "-".to_string();
        let mut row = vec![
            ro.name_any(),
            facts::strategy(ro).to_string(),
            facts::phase(ro),
            facts::step(ro).map_or_else(dash, |(at, of)| format!("{at}/{of}")),
            facts::set_weight(ro).map_or_else(dash, |w| w.to_string()),
            st.ready_replicas.unwrap_or(0).to_string(),
            ro.spec.replicas.unwrap_or(1).to_string(),
            st.available_replicas.unwrap_or(0).to_string(),
        ];
        if all_namespaces {
            row.insert(0, ro.namespace().unwrap_or_default());
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(ns: &str, name: &str, strategy: &str, status: &str) -> Rollout {
        serde_saphyr::from_str(&format!(
            "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: 4\n  selector: {{matchLabels: {{app: web}}}}\n  template: {{metadata: {{labels: {{app: web}}}}}}\n  strategy: {strategy}\nstatus: {status}\n"
        ))
        .expect("a Rollout")
    }

    #[test]
    fn one_line_per_rollout_in_aligned_columns() {
        let canary = "{canary: {steps: [{setWeight: 25}, {pause: {}}]}}";
        let bg = "{blueGreen: {activeService: a}}";
        let rollouts = [
            rollout(
                "shop",
                "web",
                canary,
                "{phase: Paused, currentStepIndex: 1, currentPodHash: b, stableRS: a, readyReplicas: 4, availableReplicas: 4}",
            ),
            rollout(
                "shop",
                "api",
                bg,
                "{phase: Healthy, readyReplicas: 4, availableReplicas: 4}",
            ),
        ];
        assert_eq!(
            table(&rollouts, false),
            "NAME  STRATEGY   STATUS   STEP  SET-WEIGHT  READY  DESIRED  AVAILABLE\n\
             api   BlueGreen  Healthy  -     -           4      4        4\n\
             web   Canary     Paused   1/2   25          4      4        4"
        );
        assert!(table(&rollouts, true).starts_with("NAMESPACE  NAME"));
    }
}
