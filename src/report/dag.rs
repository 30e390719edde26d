//! The DAG picture: a layout computed here (no graph-drawing dependency, no script) and its
//! inline SVG.
//!
//! Columns are waves: a step's column comes after the columns of everything it needs. A long
//! chain would make the picture wider than a page, so waves wrap into bands of at most
//! [`MAX_COLUMNS`] columns, read left to right, then top to bottom; an edge into a later band
//! runs along the gap above that band. Within a column, steps are ordered by the mean row of the
//! steps they need (one barycentre pass), which untangles the usual fan-out/fan-in shapes.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::escape::Html;
use super::format;
use super::{Dag, EdgeKind, Outcome};

/// Box width.
pub const BOX_W: u32 = 184;
/// Box height.
pub const BOX_H: u32 = 62;
/// Horizontal gap between columns (edges run here).
pub const COL_GAP: u32 = 30;
/// Vertical gap between boxes of one column.
pub const ROW_GAP: u32 = 14;
/// Vertical gap between bands (edges into the next band run here).
pub const BAND_GAP: u32 = 36;
/// Space around the picture; larger than half a column gap so that edges bending around the
/// last column stay inside.
pub const MARGIN: u32 = 18;
/// Most columns per band: six fit a 1,280-pixel page (scaled a few per cent).
pub const MAX_COLUMNS: usize = 6;

/// Where each node and edge goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// One per node of the DAG, in the DAG's node order.
    pub boxes: Vec<Placed>,
    pub edges: Vec<Route>,
}

/// A node's box (top-left corner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub x: u32,
    pub y: u32,
    pub band: usize,
    pub column: usize,
}

/// An edge as an SVG path.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Node indices.
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// The SVG path data.
    pub path: String,
}

/// Lays out `dag` with at most `max_columns` columns per band.
pub fn layout(dag: &Dag, max_columns: usize) -> Layout {
    let max_columns = max_columns.max(1);
    let index: HashMap<&str, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let wave_count = dag.nodes.iter().map(|n| n.wave + 1).max().unwrap_or(0);
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); dag.nodes.len()];
    for edge in &dag.edges {
        if let (Some(&from), Some(&to)) =
            (index.get(edge.from.as_str()), index.get(edge.to.as_str()))
        {
            predecessors[to].push(from);
        }
    }

    // Rows within each wave, by the barycentre of the rows of their predecessors.
    let mut row = vec![0usize; dag.nodes.len()];
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); wave_count];
    for (i, node) in dag.nodes.iter().enumerate() {
        columns[node.wave].push(i);
    }
    for column in &mut columns {
        let key = |i: &usize| -> f64 {
            let preds = &predecessors[*i];
            if preds.is_empty() {
                f64::MAX
            } else {
                preds.iter().map(|p| row[*p] as f64).sum::<f64>() / preds.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = column.iter().map(|i| (key(i), *i)).collect();
        // Stable: steps that tie keep the plan's order.
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        *column = keyed.into_iter().map(|(_, i)| i).collect();
        for (r, i) in column.iter().enumerate() {
            row[*i] = r;
        }
    }

    // Band heights, then positions (each column centred in its band).
    let bands = wave_count.div_ceil(max_columns);
    let column_height = |n: usize| -> u32 {
        let n = n as u32;
        if n == 0 {
            0
        } else {
            n * BOX_H + (n - 1) * ROW_GAP
        }
    };
    let band_height: Vec<u32> = (0..bands)
        .map(|b| {
            columns[b * max_columns..((b + 1) * max_columns).min(wave_count)]
                .iter()
                .map(|c| column_height(c.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut band_top = Vec::with_capacity(bands);
    let mut top = MARGIN;
    for height in &band_height {
        band_top.push(top);
        top += height + BAND_GAP;
    }
    let height = if bands == 0 {
        2 * MARGIN
    } else {
        top - BAND_GAP + MARGIN
    };
    let used_columns = wave_count.min(max_columns) as u32;
    let width = if used_columns == 0 {
        2 * MARGIN
    } else {
        2 * MARGIN + used_columns * BOX_W + (used_columns - 1) * COL_GAP
    };
    let mut boxes = vec![
        Placed {
            x: 0,
            y: 0,
            band: 0,
            column: 0
        };
        dag.nodes.len()
    ];
    for (wave, column) in columns.iter().enumerate() {
        let band = wave / max_columns;
        let column_index = wave % max_columns;
        let offset = (band_height[band] - column_height(column.len())) / 2;
        for (r, &i) in column.iter().enumerate() {
            boxes[i] = Placed {
                x: MARGIN + column_index as u32 * (BOX_W + COL_GAP),
                y: band_top[band] + offset + r as u32 * (BOX_H + ROW_GAP),
                band,
                column: column_index,
            };
        }
    }

    let mut edges = Vec::new();
    for edge in &dag.edges {
        let (Some(&from), Some(&to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str()))
        else {
            continue;
        };
        let (a, b) = (boxes[from], boxes[to]);
        let (sx, sy) = (a.x + BOX_W, a.y + BOX_H / 2);
        let (dx, dy) = (b.x, b.y + BOX_H / 2);
        let path = if a.band == b.band && dx > sx {
            let bend = (dx - sx) / 2;
            format!(
                "M{sx},{sy} C{},{sy} {},{dy} {dx},{dy}",
                sx + bend,
                dx - bend
            )
        } else {
            // Around the source's right side, along the gap above the target's band, into the
            // target from its left.
            let gap_y = band_top[b.band].saturating_sub(BAND_GAP / 2);
            let out_x = sx + COL_GAP / 2;
            let in_x = dx.saturating_sub(COL_GAP / 2);
            format!("M{sx},{sy} H{out_x} V{gap_y} H{in_x} V{dy} H{dx}")
        };
        edges.push(Route {
            from,
            to,
            kind: edge.kind,
            path,
        });
    }
    Layout {
        width,
        height,
        boxes,
        edges,
    }
}

/// Most characters of a step id or action shown in a box before it is cut with `…`.
const MAX_LABEL: usize = 24;

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// The DAG as an inline SVG element (styled by the page's CSS classes `node-<outcome>`).
pub fn svg(dag: &Dag) -> String {
    let layout = layout(dag, MAX_COLUMNS);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="Step graph coloured by outcome">"#,
        w = layout.width,
        h = layout.height
    );
    out.push_str(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs>"#,
    );
    for route in &layout.edges {
        let class = match route.kind {
            EdgeKind::Needs => "edge",
            EdgeKind::Handler => "edge edge-handler",
        };
        let _ = write!(
            out,
            r#"<path class="{class}" d="{}" marker-end="url(#arrow)"><title>{} → {}</title></path>"#,
            route.path,
            Html(&dag.nodes[route.from].id),
            Html(&dag.nodes[route.to].id)
        );
    }
    for (node, placed) in dag.nodes.iter().zip(&layout.boxes) {
        let (x, y) = (placed.x, placed.y);
        let status = node
            .status
            .map_or("not started", crate::store::records::StepStatus::as_str);
        let mut detail = status.to_owned();
        if let Some(items) = node.items {
            let _ = write!(detail, " · {}/{} items", items.succeeded, items.total);
        } else if let Some(ms) = node.duration_ms {
            let _ = write!(detail, " · {}", format::duration(ms));
        }
        let _ = write!(
            out,
            r#"<g class="node node-{outcome}"><title>{id} ({action}): {status}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="7"/>"#,
            outcome = node.outcome.as_str(),
            id = Html(&node.id),
            action = Html(&node.action),
            status = Html(status),
        );
        let _ = write!(
            out,
            r#"<text class="node-id" x="{}" y="{}">{}</text><text class="node-action" x="{}" y="{}">{}</text><text class="node-status" x="{}" y="{}">{}</text>"#,
            x + 10,
            y + 21,
            Html(&shorten(&node.id, MAX_LABEL)),
            x + 10,
            y + 37,
            Html(&shorten(&node.action, MAX_LABEL + 4)),
            x + 10,
            y + 53,
            Html(&detail),
        );
        if node.mutating {
            let _ = write!(
                out,
                r#"<circle class="node-mutating" cx="{}" cy="{}" r="4"><title>changes SDRS or ECS resources</title></circle>"#,
                x + BOX_W - 12,
                y + 12
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// The legend under the picture.
pub fn legend() -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for outcome in Outcome::ALL {
        let _ = write!(
            out,
            r#"<span><i class="swatch node-{}"></i>{}</span>"#,
            outcome.as_str(),
            outcome.label()
        );
    }
    out.push_str(
        r#"<span><i class="swatch-dot"></i>changes SDRS/ECS</span><span><i class="swatch-line"></i>needs</span><span><i class="swatch-line handler"></i>failure handler</span></div>"#,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::{DagEdge, DagNode};
    use super::*;

    fn node(id: &str, wave: usize) -> DagNode {
        DagNode {
            id: id.into(),
            action: "log".into(),
            wave,
            mutating: false,
            status: None,
            outcome: Outcome::Pending,
            items: None,
            duration_ms: None,
        }
    }

    fn edge(from: &str, to: &str) -> DagEdge {
        DagEdge {
            from: from.into(),
            to: to.into(),
            kind: EdgeKind::Needs,
        }
    }

    fn overlaps(a: &Placed, b: &Placed) -> bool {
        a.x < b.x + BOX_W && b.x < a.x + BOX_W && a.y < b.y + BOX_H && b.y < a.y + BOX_H
    }

    #[test]
    fn a_diamond_lays_out_in_three_columns_without_overlap() {
        let dag = Dag {
            waves: vec![],
            nodes: vec![node("a", 0), node("b", 1), node("c", 1), node("d", 2)],
            edges: vec![
                edge("a", "b"),
                edge("a", "c"),
                edge("b", "d"),
                edge("c", "d"),
            ],
            problem: None,
        };
        let layout = layout(&dag, 6);
        let b = &layout.boxes;
        assert!(b[0].x < b[1].x && b[1].x == b[2].x && b[2].x < b[3].x);
        assert!(!overlaps(&b[1], &b[2]));
        // The single steps are centred on the pair.
        assert_eq!(b[0].y + BOX_H / 2, (b[1].y + b[2].y + BOX_H) / 2);
        assert_eq!(layout.edges.len(), 4);
        for (placed, _) in b.iter().zip(0..) {
            assert!(placed.x + BOX_W + MARGIN <= layout.width);
            assert!(placed.y + BOX_H + MARGIN <= layout.height);
        }
    }

    #[test]
    fn a_long_chain_wraps_into_bands_and_edges_stay_inside() {
        let nodes: Vec<DagNode> = (0..12).map(|i| node(&format!("s{i}"), i)).collect();
        let edges: Vec<DagEdge> = (1..12)
            .map(|i| edge(&format!("s{}", i - 1), &format!("s{i}")))
            .collect();
        let dag = Dag {
            waves: vec![],
            nodes,
            edges,
            problem: None,
        };
        let layout = layout(&dag, 6);
        assert_eq!(layout.boxes[5].band, 0);
        assert_eq!(layout.boxes[6].band, 1);
        assert_eq!(layout.boxes[6].column, 0);
        assert!(layout.boxes[6].y > layout.boxes[5].y + BOX_H);
        assert_eq!(layout.width, 2 * MARGIN + 6 * BOX_W + 5 * COL_GAP);
        // The wrapping edge bends through the band gap, inside the picture.
        let wrap = &layout.edges[5];
        assert!(
            wrap.path.contains('V') && wrap.path.contains('H'),
            "{}",
            wrap.path
        );
        for number in wrap
            .path
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
        {
            let n: u32 = number.parse().unwrap();
            assert!(n <= layout.width.max(layout.height), "{}", wrap.path);
        }
    }

    #[test]
    fn fan_in_rows_follow_their_predecessors() {
        // b1 needs a2 (row 1), b2 needs a1 (row 0): the barycentre swaps them.
        let dag = Dag {
            waves: vec![],
            nodes: vec![node("a1", 0), node("a2", 0), node("b1", 1), node("b2", 1)],
            edges: vec![edge("a2", "b1"), edge("a1", "b2")],
            problem: None,
        };
        let layout = layout(&dag, 6);
        assert!(layout.boxes[3].y < layout.boxes[2].y);
    }

    #[test]
    fn labels_are_escaped_and_shortened() {
        let mut evil = node("<script>alert(1)</script>", 0);
        evil.action = "a\"b".into();
        let dag = Dag {
            waves: vec![],
            nodes: vec![evil],
            edges: vec![],
            problem: None,
        };
        let svg = svg(&dag);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("a&quot;b"), "{svg}");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
