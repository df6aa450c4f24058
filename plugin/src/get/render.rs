//! Draws a [`View`] as the text a person reads at a glance: a summary block, then a tree of
//! revisions, their ReplicaSets and AnalysisRuns (each metric with its last value), then the
//! routing objects and their weights. Pure: the same view and time give the same text, so it
//! is snapshot-tested. Colour only when asked (a terminal without `NO_COLOR`).

use jiff::Timestamp;

use super::view::{Route, RunView, View};

/// How to draw: colours, and the time ages are counted from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    pub(crate) color: bool,
    pub(crate) now: Timestamp,
}

#[derive(Clone, Copy)]
enum Color {
    Green,
    Yellow,
    Red,
    Cyan,
    Dim,
}

impl Style {
    fn paint(&self, text: &str, color: Color) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match color {
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Red => "31",
            Color::Cyan => "36",
            Color::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// `✔ Healthy`, coloured by what it means.
    fn state(&self, state: &str) -> String {
        let (symbol, color) = match state {
            "Healthy" | "Successful" => ("✔", Color::Green),
            "Paused" | "Inconclusive" => ("॥", Color::Yellow),
            "Progressing" | "Running" | "Pending" => ("◌", Color::Cyan),
            "Degraded" | "Failed" | "Error" => ("✖", Color::Red),
            "ScaledDown" => ("•", Color::Dim),
            _ => ("?", Color::Dim),
        };
        self.paint(&format!("{symbol} {state}"), color)
    }

    fn age(&self, created: Option<Timestamp>) -> String {
        let Some(created) = created else {
            return "-".to_string();
        };
        let s = self.now.duration_since(created).as_secs().max(0);
        match s {
            0..=119 => format!("{s}s"),
            120..=7199 => format!("{}m", s / 60),
            7200..=172_799 => format!("{}h", s / 3600),
            _ => format!("{}d", s / 86_400),
        }
    }
}

/// One row of the tree: its prefix (branches), icon, name, kind, state, age, info.
struct Row {
    prefix: String,
    name: String,
    kind: &'static str,
    state: String,
    /// The state without colour codes, for the column width.
    state_width: usize,
    age: String,
    info: String,
}

pub(crate) fn render(view: &View, style: &Style) -> String {
    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("{:<16}{value}\n", format!("{label}:")));
    };
    field(&mut out, "Name", &view.name);
    field(&mut out, "Namespace", &view.namespace);
    field(&mut out, "Status", &style.state(&view.phase));
    if !view.message.is_empty() {
        field(&mut out, "Message", &view.message);
    }
    field(&mut out, "Strategy", view.strategy);
    if let Some(step) = &view.step {
        field(&mut out, "  Step", step);
    }
    if let Some(w) = view.set_weight {
        field(&mut out, "  SetWeight", &w.to_string());
    }
    if let Some(w) = view.actual_weight {
        field(&mut out, "  ActualWeight", &w.to_string());
    }
    for (i, image) in view.images.iter().enumerate() {
        let line = format!("{} ({})", image.image, image.roles.join(", "));
        if i == 0 {
            field(&mut out, "Images", &line);
        } else {
            out.push_str(&format!("{:<16}{line}\n", ""));
        }
    }
    out.push_str("Replicas:\n");
    let r = &view.replicas;
    for (label, n) in [
        ("  Desired", r.desired),
        ("  Current", r.current),
        ("  Updated", r.updated),
        ("  Ready", r.ready),
        ("  Available", r.available),
    ] {
        field(&mut out, label, &n.to_string());
    }
    out.push('\n');

    let mut rows = vec![Row {
        prefix: "⟳ ".into(),
        name: view.name.clone(),
        kind: "Rollout",
        state_width: view.phase.chars().count() + 2,
        state: style.state(&view.phase),
        age: style.age(view.created),
        info: String::new(),
    }];
    let revisions = view.revisions.len();
    for (i, rev) in view.revisions.iter().enumerate() {
        let last_rev = i + 1 == revisions;
        let (branch, indent) = if last_rev {
            ("└──", "   ")
        } else {
            ("├──", "│  ")
        };
        rows.push(Row {
            prefix: format!("{branch}# "),
            name: format!("revision:{}", rev.revision),
            kind: "",
            state: String::new(),
            state_width: 0,
            age: String::new(),
            info: String::new(),
        });
        let children = rev.replica_sets.len() + rev.analysis_runs.len();
        let mut n = 0;
        for rs in &rev.replica_sets {
            n += 1;
            let b = if n == children {
                "└──"
            } else {
                "├──"
            };
            let mut info = rs.roles.join(", ");
            if rs.desired > 0 {
                if !info.is_empty() {
                    info.push_str("  ");
                }
                info.push_str(&format!("ready:{}/{}", rs.ready, rs.desired));
            }
            rows.push(Row {
                prefix: format!("{indent}{b}⧉ "),
                name: rs.name.clone(),
                kind: "ReplicaSet",
                state_width: rs.status.chars().count() + 2,
                state: style.state(rs.status),
                age: style.age(rs.created),
                info,
            });
        }
        for run in &rev.analysis_runs {
            n += 1;
            let last = n == children;
            let b = if last { "└──" } else { "├──" };
            rows.push(run_row(&format!("{indent}{b}α "), run, style));
            let inner = format!("{indent}{}", if last { "   " } else { "│  " });
            for (m, metric) in run.metrics.iter().enumerate() {
                let b = if m + 1 == run.metrics.len() {
                    "└──"
                } else {
                    "├──"
                };
                let mut info = match &metric.last_value {
                    Some(v) => format!("last:{v}"),
                    None => "no measurement yet".to_string(),
                };
                info.push_str(&format!(
                    "  ✔ {} ✖ {} of {}",
                    metric.successful, metric.failed, metric.count
                ));
                rows.push(Row {
                    prefix: format!("{inner}{b}▸ "),
                    name: metric.name.clone(),
                    kind: "Metric",
                    state_width: metric.phase.chars().count() + 2,
                    state: style.state(&metric.phase),
                    age: String::new(),
                    info,
                });
            }
        }
    }
    out.push_str(&table(&rows));
    if !view.routes.is_empty() {
        out.push_str("\nRouting:\n");
        out.push_str(&routes(&view.routes, style));
    }
    out
}

fn run_row(prefix: &str, run: &RunView, style: &Style) -> Row {
    Row {
        prefix: prefix.to_string(),
        name: run.name.clone(),
        kind: "AnalysisRun",
        state_width: run.phase.chars().count() + 2,
        state: style.state(&run.phase),
        age: style.age(run.created),
        info: run.message.clone().unwrap_or_default(),
    }
}

fn table(rows: &[Row]) -> String {
    let width = |s: &str| s.chars().count();
    let name_w = rows
        .iter()
        .map(|r| width(&r.prefix) + width(&r.name))
        .max()
        .unwrap_or(0)
        .max(4);
    let kind_w = rows.iter().map(|r| r.kind.len()).max().unwrap_or(0).max(4);
    let state_w = rows.iter().map(|r| r.state_width).max().unwrap_or(0).max(6);
    let age_w = rows.iter().map(|r| width(&r.age)).max().unwrap_or(0).max(3);
    let mut out = format!(
        "{:<name_w$}  {:<kind_w$}  {:<state_w$}  {:<age_w$}  INFO\n",
        "NAME", "KIND", "STATUS", "AGE"
    );
    for r in rows {
        let name = format!("{}{}", r.prefix, r.name);
        let pad = |s: &str, visible: usize, w: usize| {
            format!("{s}{}", " ".repeat(w.saturating_sub(visible)))
        };
        let line = format!(
            "{}  {}  {}  {}  {}",
            pad(&name, width(&name), name_w),
            pad(r.kind, r.kind.len(), kind_w),
            pad(&r.state, r.state_width, state_w),
            pad(&r.age, width(&r.age), age_w),
            r.info
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn routes(routes: &[Route], style: &Style) -> String {
    let kind_w = routes.iter().map(|r| r.kind.len()).max().unwrap_or(0);
    let name_w = routes
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    routes
        .iter()
        .map(|r| {
            let weights = match &r.problem {
                Some(p) if r.weights.is_empty() => style.paint(p, Color::Red),
                _ => r
                    .weights
                    .iter()
                    .map(|(backend, w)| format!("{backend} {w}"))
                    .collect::<Vec<_>>()
                    .join(" / "),
            };
            format!("  {:<kind_w$}  {:<name_w$}  {weights}\n", r.kind, r.name)
        })
        .collect()
}
