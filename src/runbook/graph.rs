//! The dependency graph of a runbook's steps (petgraph): edges, cycles, ancestors, waves.
//!
//! An edge `a → b` means "`a` must be done before `b` starts": `b` needs `a`, or `b` is the
//! failure handler of `a`. Validation uses the graph to find cycles and to check that a step
//! only reads steps it depends on; the plan uses it to order steps into waves.

use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::Serialize;

/// Why one step comes after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// The later step lists the earlier one in `needs`.
    Needs,
    /// The later step is the earlier one's `on_failure` handler: it runs only if that step fails.
    Handler,
}

/// Steps as graph nodes (node `i` is step `i` of the runbook). Ids are borrowed from the
/// runbook, so that building the graph copies no strings.
#[derive(Debug, Clone)]
pub struct StepGraph<'a> {
    graph: DiGraph<&'a str, EdgeKind>,
    index: HashMap<&'a str, usize>,
    /// Incoming edges per step, sorted: the hot query of validation and planning, kept next to
    /// petgraph's structure so that asking allocates nothing.
    preds: Vec<Vec<(usize, EdgeKind)>>,
}

impl<'a> StepGraph<'a> {
    /// A graph over `ids` (duplicate ids map to their first step).
    pub fn new(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for (i, id) in ids.into_iter().enumerate() {
            graph.add_node(id);
            index.entry(id).or_insert(i);
        }
        let preds = vec![Vec::new(); graph.node_count()];
        StepGraph {
            graph,
            index,
            preds,
        }
    }

    /// The graph of a validated runbook: `needs` edges and failure-handler edges.
    pub fn from_runbook(runbook: &'a super::model::Runbook) -> Self {
        let mut graph = StepGraph::new(runbook.steps.iter().map(|s| s.id.as_str()));
        for (i, step) in runbook.steps.iter().enumerate() {
            for need in &step.needs {
                if let Some(p) = graph.index_of(need)
                    && p != i
                {
                    graph.add_edge(p, i, EdgeKind::Needs);
                }
            }
            if let super::policy::OnFailure::Handler(handler) = &step.on_failure
                && let Some(h) = graph.index_of(handler)
                && h != i
            {
                graph.add_edge(i, h, EdgeKind::Handler);
            }
        }
        graph
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The index of the step with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn id(&self, i: usize) -> &'a str {
        self.graph
            .node_weight(NodeIndex::new(i))
            .copied()
            .unwrap_or("")
    }

    /// `before` must be done before `after` starts.
    pub fn add_edge(&mut self, before: usize, after: usize, kind: EdgeKind) {
        self.graph
            .add_edge(NodeIndex::new(before), NodeIndex::new(after), kind);
        if let Some(preds) = self.preds.get_mut(after) {
            let at = preds.partition_point(|(p, _)| *p < before);
            preds.insert(at, (before, kind));
        }
    }

    /// Steps that must be done before `i`, with the kind of each edge, in step order.
    pub fn predecessors(&self, i: usize) -> &[(usize, EdgeKind)] {
        self.preds.get(i).map_or(&[], Vec::as_slice)
    }

    /// Every edge as (before, after, kind).
    pub fn edges(&self) -> Vec<(usize, usize, EdgeKind)> {
        let mut out: Vec<_> = self
            .graph
            .edge_references()
            .map(|e| (e.source().index(), e.target().index(), *e.weight()))
            .collect();
        out.sort_unstable_by_key(|(a, b, _)| (*a, *b));
        out
    }

    /// The cycles, one path per strongly connected component, each starting and ending at the
    /// same step and following edges (`path[k]` is done before `path[k + 1]`).
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for component in tarjan_scc(&self.graph) {
            if component.len() < 2 {
                continue;
            }
            let members: Vec<usize> = component.iter().map(|n| n.index()).collect();
            let Some(&start) = members.iter().min() else {
                continue;
            };
            if let Some(path) = self.path_within(start, &members) {
                out.push(path);
            }
        }
        out.sort();
        out
    }

    /// A path from `start` back to `start` through `members` (breadth-first: the shortest).
    fn path_within(&self, start: usize, members: &[usize]) -> Option<Vec<usize>> {
        let mut previous: HashMap<usize, usize> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let mut next: Vec<usize> = self
                .graph
                .neighbors(NodeIndex::new(node))
                .map(|n| n.index())
                .filter(|n| members.contains(n))
                .collect();
            next.sort_unstable();
            for n in next {
                if n == start {
                    let mut path = vec![start];
                    let mut cur = node;
                    while cur != start {
                        path.push(cur);
                        cur = *previous.get(&cur)?;
                    }
                    path.push(start);
                    path.reverse();
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(e) = previous.entry(n) {
                    e.insert(node);
                    queue.push_back(n);
                }
            }
        }
        None
    }

    /// For every step, the set of steps it depends on directly or transitively.
    pub fn ancestors(&self) -> Ancestors {
        let n = self.len();
        let words = n.div_ceil(64);
        let mut sets = vec![0u64; n * words];
        let set_bit = |sets: &mut [u64], of: usize, bit: usize| {
            sets[of * words + bit / 64] |= 1 << (bit % 64);
        };
        match toposort(&self.graph, None) {
            Ok(order) => {
                for node in order {
                    let i = node.index();
                    for &(p, _) in self.predecessors(i) {
                        set_bit(&mut sets, i, p);
                        for w in 0..words {
                            let bits = sets[p * words + w];
                            sets[i * words + w] |= bits;
                        }
                    }
                }
            }
            Err(_) => {
                // With a cycle (already reported), walk backwards from each step instead.
                for i in 0..n {
                    let mut stack: Vec<usize> =
                        self.predecessors(i).iter().map(|(p, _)| *p).collect();
                    while let Some(p) = stack.pop() {
                        if sets[i * words + p / 64] & (1 << (p % 64)) == 0 {
                            set_bit(&mut sets, i, p);
                            stack.extend(self.predecessors(p).iter().map(|(q, _)| *q));
                        }
                    }
                }
            }
        }
        Ancestors { words, sets }
    }

    /// Orders the steps for which `include` holds into waves: a step's wave is one more than the
    /// latest wave among the steps it depends on (longest path). Steps of a wave may run in
    /// parallel. Returns `None` when the included steps form a cycle.
    pub fn waves(&self, include: impl Fn(usize) -> bool) -> Option<Vec<Vec<usize>>> {
        let order = toposort(&self.graph, None).ok()?;
        let mut wave_of: Vec<Option<usize>> = vec![None; self.len()];
        let mut waves: Vec<Vec<usize>> = Vec::new();
        for node in order {
            let i = node.index();
            if !include(i) {
                continue;
            }
            let wave = self
                .predecessors(i)
                .iter()
                .filter_map(|(p, _)| wave_of[*p])
                .map(|w| w + 1)
                .max()
                .unwrap_or(0);
            wave_of[i] = Some(wave);
            if waves.len() <= wave {
                waves.resize_with(wave + 1, Vec::new);
            }
            waves[wave].push(i);
        }
        for wave in &mut waves {
            wave.sort_unstable();
        }
        Some(waves)
    }
}

/// Transitive dependencies of every step, as bit sets.
#[derive(Debug, Clone)]
pub struct Ancestors {
    words: usize,
    sets: Vec<u64>,
}

impl Ancestors {
    /// Whether `step` depends on `on`, directly or transitively.
    pub fn depends_on(&self, step: usize, on: usize) -> bool {
        self.sets
            .get(step * self.words + on / 64)
            .is_some_and(|w| w & (1 << (on % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> StepGraph<'static> {
        let ids: &'static [String] = (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>().leak();
        let mut g = StepGraph::new(ids.iter().map(String::as_str));
        for (a, b) in edges {
            g.add_edge(*a, *b, EdgeKind::Needs);
        }
        g
    }

    #[test]
    fn waves_follow_the_longest_path() {
        // 0 → 1 → 3, 0 → 2, 2 → 3, 4 alone.
        let g = graph(5, &[(0, 1), (1, 3), (0, 2), (2, 3)]);
        assert_eq!(
            g.waves(|_| true).unwrap(),
            vec![vec![0, 4], vec![1, 2], vec![3]]
        );
        // Leaving out step 1 lets 3 follow 2 directly.
        assert_eq!(
            g.waves(|i| i != 1).unwrap(),
            vec![vec![0, 4], vec![2], vec![3]]
        );
    }

    #[test]
    fn ancestors_are_transitive() {
        let g = graph(4, &[(0, 1), (1, 2)]);
        let a = g.ancestors();
        assert!(a.depends_on(2, 0));
        assert!(a.depends_on(2, 1));
        assert!(!a.depends_on(0, 2));
        assert!(!a.depends_on(3, 0));
    }

    #[test]
    fn cycles_are_reported_as_paths() {
        let g = graph(4, &[(0, 1), (1, 2), (2, 0), (2, 3)]);
        assert_eq!(g.cycles(), vec![vec![0, 1, 2, 0]]);
        assert!(g.waves(|_| true).is_none());
        // Ancestors still work on a cyclic graph.
        assert!(g.ancestors().depends_on(3, 0));
    }
}
