//! The trust computation itself: pure, no I/O, on dense integer ids.
//!
//! Damped max-product propagation from the anchors (see the crate README for why):
//!
//! ```text
//! score(a) = 1                                   for a pinned DID (anchor)
//! score(b) = 0                                   for a blocked DID
//! score(v) = m(v) · max over endorsements u→v with w > 0 of  score(u) · w · d
//! m(v)     = penalty(v) · Π over reports u→v with w < 0 of (1 − |w| · standing(u))
//! ```
//!
//! `d` is the damping. It is the tropical (max, ×) form of the personalised-PageRank
//! equation `s = (1 − d)·p + d·Wᵀs` with the anchors as the teleport set: scores decay by
//! `d` per hop from an anchor, so nobody scores higher than `d` × their best endorser and
//! cycles or endorsement farms add nothing. Because every factor is ≤ 1 the fixed point is
//! found exactly by a best-first search (Dijkstra on products), O(E log V).
//!
//! Reports are weighed by the reporter's `standing`: its score from a first pass with
//! penalties but without reports, so reports cannot cascade into feedback loops.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// No predecessor.
pub const NONE: u32 = u32::MAX;

/// The operator's decision about a DID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decision {
    /// None: the score comes from endorsements.
    #[default]
    None,
    /// Pinned: an anchor, score 1.
    Pin,
    /// Blocked: score 0, its endorsements ignored.
    Block,
}

/// The endorsement graph on ids `0..n`.
#[derive(Debug, Default)]
pub struct Graph {
    /// Number of nodes.
    pub n: usize,
    /// CSR: positive endorsements of node `u` are `targets[offsets[u]..offsets[u+1]]`.
    pub offsets: Vec<u32>,
    /// Endorsed node of each positive edge.
    pub targets: Vec<u32>,
    /// Weight in (0, 1] of each positive edge.
    pub weights: Vec<f64>,
    /// Reports: (reporter, subject, |weight|).
    pub reports: Vec<(u32, u32, f64)>,
}

impl Graph {
    /// Build from edges `(signer, subject, weight)` with ids below `n`; ids out of range
    /// and zero weights are skipped.
    pub fn from_edges(n: usize, edges: impl IntoIterator<Item = (u32, u32, f64)>) -> Self {
        let mut pos: Vec<(u32, u32, f64)> = Vec::new();
        let mut reports = Vec::new();
        for (u, v, w) in edges {
            if (u as usize) >= n || (v as usize) >= n || u == v || !w.is_finite() {
                continue;
            }
            let w = w.clamp(-1.0, 1.0);
            if w > 0.0 {
                pos.push((u, v, w));
            } else if w < 0.0 {
                reports.push((u, v, -w));
            }
        }
        pos.sort_unstable_by_key(|e| e.0);
        let mut offsets = vec![0u32; n + 1];
        for e in &pos {
            offsets[e.0 as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        Self {
            n,
            offsets,
            targets: pos.iter().map(|e| e.1).collect(),
            weights: pos.iter().map(|e| e.2).collect(),
            reports,
        }
    }
}

/// Result for one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Final score in [0, 1].
    pub score: f64,
    /// Score from the best path alone, before this node's report and penalty factors.
    pub base: f64,
    /// Previous node on the best path, or [`NONE`].
    pub parent: u32,
    /// Weight of the edge from `parent`.
    pub edge_weight: f64,
    /// The anchor the best path starts from, or [`NONE`].
    pub anchor: u32,
    /// Endorsement hops from that anchor.
    pub hops: u32,
    /// Product of `(1 − |w| · standing)` over reports.
    pub report_factor: f64,
    /// Product of penalty factors.
    pub penalty_factor: f64,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            score: 0.0,
            base: 0.0,
            parent: NONE,
            edge_weight: 0.0,
            anchor: NONE,
            hops: 0,
            report_factor: 1.0,
            penalty_factor: 1.0,
        }
    }
}

#[derive(PartialEq)]
struct Item(f64, u32);
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

/// Best-first propagation with a per-node multiplier.
fn propagate(g: &Graph, decisions: &[Decision], mult: &[f64], damping: f64) -> Vec<Node> {
    let mut nodes = vec![Node::default(); g.n];
    let mut heap = BinaryHeap::new();
    for (i, d) in decisions.iter().enumerate().take(g.n) {
        if *d == Decision::Pin {
            nodes[i].score = 1.0;
            nodes[i].base = 1.0;
            nodes[i].anchor = i as u32;
            heap.push(Item(1.0, i as u32));
        }
    }
    while let Some(Item(s, u)) = heap.pop() {
        let ui = u as usize;
        if s < nodes[ui].score {
            continue; // a better path was found after this was queued
        }
        let (from, to) = (g.offsets[ui] as usize, g.offsets[ui + 1] as usize);
        for e in from..to {
            let v = g.targets[e] as usize;
            if decisions.get(v).copied().unwrap_or_default() != Decision::None {
                continue; // anchors stay 1, blocked stay 0
            }
            let w = g.weights[e];
            let base = s * w * damping;
            if base > nodes[v].base {
                let score = base * mult[v];
                nodes[v] = Node {
                    score,
                    base,
                    parent: u,
                    edge_weight: w,
                    anchor: nodes[ui].anchor,
                    hops: nodes[ui].hops + 1,
                    ..nodes[v]
                };
                if score > 0.0 {
                    heap.push(Item(score, v as u32));
                }
            }
        }
    }
    nodes
}

/// Compute every node's score. `penalty[v]` is the product of its penalty factors.
pub fn compute(g: &Graph, decisions: &[Decision], penalty: &[f64], damping: f64) -> Vec<Node> {
    let damping = damping.clamp(0.0, 1.0);
    let mut mult: Vec<f64> = (0..g.n)
        .map(|i| match decisions.get(i).copied().unwrap_or_default() {
            Decision::Block => 0.0,
            _ => penalty.get(i).copied().unwrap_or(1.0).clamp(0.0, 1.0),
        })
        .collect();
    let standing = propagate(g, decisions, &mult, damping);
    let mut report = vec![1.0f64; g.n];
    for &(u, v, w) in &g.reports {
        let s = standing[u as usize].score;
        if s > 0.0 {
            report[v as usize] *= 1.0 - w * s;
        }
    }
    for (m, r) in mult.iter_mut().zip(&report) {
        *m *= r.clamp(0.0, 1.0);
    }
    let mut nodes = propagate(g, decisions, &mult, damping);
    for (i, node) in nodes.iter_mut().enumerate() {
        node.report_factor = report[i].clamp(0.0, 1.0);
        node.penalty_factor = penalty.get(i).copied().unwrap_or(1.0).clamp(0.0, 1.0);
        match decisions.get(i).copied().unwrap_or_default() {
            Decision::Pin => node.score = 1.0,
            Decision::Block => node.score = 0.0,
            Decision::None => {}
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: usize, edges: &[(u32, u32, f64)], pins: &[u32], blocks: &[u32]) -> Vec<Node> {
        let g = Graph::from_edges(n, edges.iter().copied());
        let mut d = vec![Decision::None; n];
        for &p in pins {
            d[p as usize] = Decision::Pin;
        }
        for &b in blocks {
            d[b as usize] = Decision::Block;
        }
        compute(&g, &d, &vec![1.0; n], 0.85)
    }

    #[test]
    fn one_hop_is_weight_times_damping() {
        let r = run(2, &[(0, 1, 0.8)], &[0], &[]);
        assert!((r[1].score - 0.68).abs() < 1e-6);
        assert_eq!(r[1].parent, 0);
        assert_eq!(r[1].hops, 1);
    }

    #[test]
    fn strongest_path_wins_and_cycles_add_nothing() {
        // 0 → 1 (0.5), 0 → 2 (1.0), 2 → 1 (1.0), 1 ↔ 3 cycle.
        let r = run(
            4,
            &[
                (0, 1, 0.5),
                (0, 2, 1.0),
                (2, 1, 1.0),
                (1, 3, 1.0),
                (3, 1, 1.0),
            ],
            &[0],
            &[],
        );
        assert!((r[1].score - 0.85 * 0.85).abs() < 1e-6);
        assert_eq!(r[1].parent, 2);
        assert!(r[3].score < r[1].score);
    }

    #[test]
    fn reports_weigh_by_reporter_standing_and_blocks_cut() {
        let r = run(
            4,
            &[(0, 1, 1.0), (0, 2, 1.0), (2, 1, -1.0), (3, 1, -1.0)],
            &[0],
            &[],
        );
        // reporter 2 has standing 0.85, reporter 3 has none.
        assert!((r[1].report_factor - 0.15).abs() < 1e-6);
        assert!((r[1].score - 0.85 * 0.15).abs() < 1e-6);
        let r = run(3, &[(0, 1, 1.0), (1, 2, 1.0)], &[0], &[1]);
        assert_eq!(r[1].score, 0.0);
        assert_eq!(r[2].score, 0.0);
    }
}
