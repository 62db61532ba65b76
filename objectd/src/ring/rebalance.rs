//! The rebalance engine of [`RingBuilder`](super::RingBuilder) ("gather and
//! place", after Swift's builder): it owns the per-rebalance working state,
//! the placement tiers, quotas, gathering, placement and fix-up, and turns
//! the builder state into a new assignment table. Applying that table
//! (move accounting, `last_moved`, version) is left to the builder.
//!
//! Rebalance outline:
//! 1. Per-device *weighted replicas* (weight share of `R`, capped at one
//!    replica per partition) give integer partition quotas (largest
//!    remainder, ties to current holders) and, summed per region / zone /
//!    host / device tier, the most replicas of one partition a tier may hold
//!    (`ceil(target)`).
//! 2. Gather: unassigned slots and slots on removed / zero-weight devices
//!    (always); replicas breaking a tier maximum (one per partition, subject
//!    to `min_part_hours`, except device duplicates); replicas on devices
//!    over quota, from partitions allowed to move.
//! 3. Place each gathered replica by walking the tiers, taking at each level
//!    the child with the most room among those under their maximum.
//! 4. Fix up leftover imbalance by shortest move chains between devices,
//!    first re-moving only replicas already moved in this rebalance.
//!
//! At most one replica slot of a partition moves per rebalance unless forced.

use std::cmp::Reverse;
use std::collections::VecDeque;

use super::file::{DeviceRecord, RingData};
use super::{mix64, RingError, NONE_DEV};
use crate::ring::Result;

/// Run a rebalance of `data` as if the current time were `now` (unix
/// seconds) and return the new assignment table (`table[replica][partition]`).
/// `data` itself is not modified.
pub(super) fn rebalance_table(data: &RingData, now: u64) -> Result<Vec<Vec<u32>>> {
    let mut w = Work::new(data, data.table.clone(), now)?;
    w.run(data);
    Ok(w.table)
}

/// Levels of the placement tiers.
const REGION: usize = 0;
const DEVICE: usize = 3;
const LEVELS: usize = 4;

/// Working state of one rebalance; devices are referred to by their index
/// among the active (weight > 0, not removed) devices.
struct Work {
    table: Vec<Vec<u32>>,
    parts: usize,
    /// Active index -> device id.
    ids: Vec<u32>,
    /// Device id -> active index (`usize::MAX` when not active).
    act_of: Vec<usize>,
    /// Active index -> tier item at every level.
    path: Vec<[usize; LEVELS]>,
    /// Level -> item -> children at the next level (`children[0]` = regions).
    children: Vec<Vec<Vec<usize>>>,
    /// Level -> item -> most replicas of one partition the item may hold.
    max: Vec<Vec<u32>>,
    /// Level -> item -> replicas of every partition the item should hold.
    min: Vec<Vec<u32>>,
    /// Level -> item -> sum of (quota - assigned) over its devices.
    room: Vec<Vec<i64>>,
    /// Partition -> bit set of replica slots moved in this rebalance.
    mask: Vec<u16>,
    /// Partition -> may move under `min_part_hours`.
    time_ok: Vec<bool>,
    gathered: Vec<(usize, usize)>,
    seed: u64,
}

impl Work {
    fn new(data: &RingData, table: Vec<Vec<u32>>, now: u64) -> Result<Work> {
        let mut act: Vec<&DeviceRecord> = data
            .devices
            .iter()
            .filter(|d| !d.removed && d.weight > 0.0)
            .collect();
        if act.is_empty() {
            return Err(RingError::NoActiveDevices);
        }
        act.sort_by(|a, b| {
            (a.region, a.zone, &a.host, a.id).cmp(&(b.region, b.zone, &b.host, b.id))
        });
        let n = act.len();
        let parts = 1usize << data.part_power;
        let mut act_of = vec![usize::MAX; data.next_dev_id as usize];
        let mut path = Vec::with_capacity(n);
        // children[level][parent]: items at `level` under item `parent` of
        // the level above (a single root parent for regions).
        let mut children: Vec<Vec<Vec<usize>>> = vec![Vec::new(); LEVELS];
        children[REGION].push(Vec::new());
        for (i, d) in act.iter().enumerate() {
            act_of[d.id as usize] = i;
            let prev = i.checked_sub(1).map(|j| act[j]);
            let mut p = [0usize; LEVELS];
            // A new item starts at a level when any key up to it changes.
            let same = [
                prev.is_some_and(|q| q.region == d.region),
                prev.is_some_and(|q| q.region == d.region && q.zone == d.zone),
                prev.is_some_and(|q| q.region == d.region && q.zone == d.zone && q.host == d.host),
                false,
            ];
            let mut parent = 0;
            for level in 0..LEVELS {
                if !same[level] {
                    let next = children.get(level + 1).map_or(i, |c| c.len());
                    children[level][parent].push(next);
                    if level + 1 < LEVELS {
                        children[level + 1].push(Vec::new());
                    }
                }
                p[level] = *children[level][parent].last().expect("item just pushed");
                parent = p[level];
            }
            path.push(p);
        }
        // Weighted replicas per device: weight share of R, capped at 1.
        let r = f64::from(data.replicas);
        let mut t = vec![0.0f64; n];
        let mut capped = vec![false; n];
        loop {
            let remaining = r - t.iter().sum::<f64>();
            let free_w: f64 = (0..n).filter(|&i| !capped[i]).map(|i| act[i].weight).sum();
            if remaining < 1e-10 || free_w <= 0.0 {
                break;
            }
            let mut newly = false;
            for i in 0..n {
                if capped[i] {
                    continue;
                }
                t[i] += remaining * act[i].weight / free_w;
                if t[i] >= 1.0 {
                    t[i] = 1.0;
                    capped[i] = true;
                    newly = true;
                }
            }
            if !newly {
                break;
            }
        }
        let mut max: Vec<Vec<u32>> = Vec::with_capacity(LEVELS);
        let mut min: Vec<Vec<u32>> = Vec::with_capacity(LEVELS);
        for level in 0..LEVELS {
            let items = if level == DEVICE {
                n
            } else {
                children[level + 1].len()
            };
            let mut target = vec![0.0f64; items];
            for i in 0..n {
                target[path[i][level]] += t[i];
            }
            max.push(
                target
                    .iter()
                    .map(|x| (x - 1e-9).ceil().max(1.0) as u32)
                    .collect(),
            );
            min.push(target.iter().map(|x| (x + 1e-9).floor() as u32).collect());
        }
        let min_secs = u64::from(data.min_part_hours) * 3600;
        let time_ok = data
            .last_moved
            .iter()
            .map(|&m| min_secs == 0 || m == 0 || now.saturating_sub(m) >= min_secs)
            .collect();
        let seed = u64::from_le_bytes(data.hash_key[8..16].try_into().expect("8 bytes"));
        let mut w = Work {
            table,
            parts,
            ids: act.iter().map(|d| d.id).collect(),
            act_of,
            path,
            children,
            max,
            min,
            room: Vec::new(),
            mask: vec![0; parts],
            time_ok,
            gathered: Vec::new(),
            seed: mix64(seed ^ data.version),
        };
        w.gather_forced();
        w.set_quotas(&t);
        Ok(w)
    }

    fn run(&mut self, data: &RingData) {
        if self.ids.len() >= data.replicas as usize {
            self.gather_dispersion();
        }
        self.gather_balance();
        // Slot-major, pseudo-randomly shuffled within a slot: a structured
        // order would correlate the devices of a partition.
        let mut gathered = std::mem::take(&mut self.gathered);
        gathered.sort_by_key(|&(p, s)| (s, self.shuffle(p, s), p));
        for &(p, s) in &gathered {
            let d = self.choose(p, s);
            self.assign(p, s, d);
        }
        for allow_unmoved in [false, true] {
            self.fix_up(allow_unmoved);
        }
    }

    fn active(&self, id: u32) -> Option<usize> {
        self.act_of
            .get(id as usize)
            .copied()
            .filter(|&i| i != usize::MAX)
    }

    fn slot_dev(&self, p: usize, s: usize) -> Option<usize> {
        self.active(self.table[s][p])
    }

    /// Replicas of `p` (ignoring slot `skip`) inside tier item `item`.
    fn count_at(&self, p: usize, skip: usize, level: usize, item: usize) -> u32 {
        (0..self.table.len())
            .filter(|&s| s != skip)
            .filter_map(|s| self.slot_dev(p, s))
            .filter(|&d| self.path[d][level] == item)
            .count() as u32
    }

    /// Whether slot `s` of `p` may go to device `d` without breaking a tier maximum.
    fn fits(&self, p: usize, s: usize, d: usize) -> bool {
        (0..LEVELS).all(|l| {
            let item = self.path[d][l];
            self.count_at(p, s, l, item) < self.max[l][item]
        })
    }

    fn movable(&self, p: usize, s: usize) -> bool {
        self.mask[p] & (1 << s) != 0 || (self.mask[p] == 0 && self.time_ok[p])
    }

    fn add_room(&mut self, d: usize, delta: i64) {
        for l in 0..LEVELS {
            self.room[l][self.path[d][l]] += delta;
        }
    }

    fn unassign(&mut self, p: usize, s: usize) {
        if let Some(d) = self.slot_dev(p, s) {
            self.add_room(d, 1);
        }
        self.table[s][p] = NONE_DEV;
        self.mask[p] |= 1 << s;
        self.gathered.push((p, s));
    }

    fn assign(&mut self, p: usize, s: usize, d: usize) {
        if let Some(old) = self.slot_dev(p, s) {
            self.add_room(old, 1);
        }
        self.table[s][p] = self.ids[d];
        self.mask[p] |= 1 << s;
        self.add_room(d, -1);
    }

    /// Deterministic pseudo-random tie-breaker.
    fn shuffle(&self, p: usize, x: usize) -> u64 {
        mix64(self.seed ^ ((p as u64) << 24) ^ x as u64)
    }

    /// Partitions in a deterministic per-rebalance rotated order.
    fn part_order(&self) -> impl Iterator<Item = usize> + use<> {
        let parts = self.parts;
        let start = (self.seed % parts as u64) as usize;
        (0..parts).map(move |i| (start + i) % parts)
    }

    fn gather_forced(&mut self) {
        for s in 0..self.table.len() {
            for p in 0..self.parts {
                if self.slot_dev(p, s).is_none() {
                    self.table[s][p] = NONE_DEV;
                    self.mask[p] |= 1 << s;
                    self.gathered.push((p, s));
                }
            }
        }
    }

    /// Integer quotas and rooms. Rounding is hierarchical (largest
    /// remainder among the children of each tier item, ties to current
    /// holders) so that every tier's quota is the floor or ceiling of its
    /// exact share and thus reachable within its per-partition limits.
    fn set_quotas(&mut self, t: &[f64]) {
        let (n, parts) = (self.ids.len(), self.parts as f64);
        let mut exact: Vec<Vec<f64>> = self.max.iter().map(|m| vec![0.0; m.len()]).collect();
        let mut held: Vec<Vec<i64>> = self.max.iter().map(|m| vec![0; m.len()]).collect();
        for d in 0..n {
            for l in 0..LEVELS {
                exact[l][self.path[d][l]] += t[d] * parts;
            }
        }
        for s in 0..self.table.len() {
            for p in 0..self.parts {
                if let Some(d) = self.slot_dev(p, s) {
                    for l in 0..LEVELS {
                        held[l][self.path[d][l]] += 1;
                    }
                }
            }
        }
        let mut quota: Vec<Vec<i64>> = self.max.iter().map(|m| vec![0; m.len()]).collect();
        for l in 0..LEVELS {
            for parent in 0..self.children[l].len() {
                let kids = &self.children[l][parent];
                let total = if l == REGION {
                    exact[REGION].iter().sum::<f64>().round() as i64
                } else {
                    quota[l - 1][parent]
                };
                let (ex, hd) = (&exact[l], &held[l]);
                let floor = |c: usize| (ex[c] + 1e-9).floor() as i64;
                let mut order = kids.clone();
                order.sort_by_key(|&c| {
                    let frac = ex[c] - floor(c) as f64;
                    (
                        frac <= 1e-9,
                        Reverse(hd[c] - floor(c)),
                        Reverse((frac * 1e9) as i64),
                        c,
                    )
                });
                let extra = total - kids.iter().map(|&c| floor(c)).sum::<i64>();
                for (k, &c) in order.iter().enumerate() {
                    let len = order.len() as i64;
                    let k = k as i64;
                    quota[l][c] = floor(c) + extra / len + i64::from(k < extra % len);
                }
            }
        }
        self.room = (0..LEVELS).map(|l| vec![0; self.max[l].len()]).collect();
        for d in 0..n {
            self.add_room(d, quota[DEVICE][d] - held[DEVICE][d]);
        }
    }

    /// The assigned slot of `p` on the device most over quota among those
    /// passing `ok(slot, device)`.
    fn most_over(&self, p: usize, ok: impl Fn(usize, usize) -> bool) -> Option<usize> {
        (0..self.table.len())
            .filter_map(|s| self.slot_dev(p, s).filter(|&d| ok(s, d)).map(|d| (s, d)))
            .min_by_key(|&(s, d)| (self.room[DEVICE][d], s))
            .map(|(s, _)| s)
    }

    /// Gather replicas breaking a tier maximum (device duplicates always,
    /// others if movable).
    fn gather_dispersion(&mut self) {
        for p in self.part_order() {
            while let Some(s) = self.most_over(p, |s, d| {
                let over = (0..LEVELS).any(|l| {
                    let item = self.path[d][l];
                    self.count_at(p, usize::MAX, l, item) > self.max[l][item]
                });
                over && (self.count_at(p, usize::MAX, DEVICE, d) > 1 || self.movable(p, s))
            }) {
                self.unassign(p, s);
            }
        }
    }

    fn gather_balance(&mut self) {
        let unders: Vec<usize> = (0..self.ids.len())
            .filter(|&d| self.room[DEVICE][d] > 0)
            .collect();
        let mut excess: i64 = self.room[DEVICE]
            .iter()
            .filter(|&&r| r < 0)
            .map(|r| -r)
            .sum();
        for p in self.part_order() {
            if excess == 0 || unders.is_empty() {
                break;
            }
            if self.mask[p] != 0 || !self.time_ok[p] {
                continue;
            }
            if let Some(s) = self.most_over(p, |s, d| {
                self.room[DEVICE][d] < 0 && unders.iter().any(|&u| self.fits(p, s, u))
            }) {
                self.unassign(p, s);
                excess -= 1;
            }
        }
    }

    /// Walk the tiers: at each level the child under its maximum, preferring
    /// one under its minimum, with the most room (falling back to the
    /// least-overfull child).
    fn choose(&self, p: usize, s: usize) -> usize {
        let mut item = 0;
        for level in 0..LEVELS {
            let parent = if level == REGION { 0 } else { item };
            item = self.children[level][parent]
                .iter()
                .copied()
                .min_by_key(|&c| {
                    let count = self.count_at(p, s, level, c);
                    let over = (count + 1).saturating_sub(self.max[level][c]);
                    let has_min = count >= self.min[level][c];
                    (
                        over,
                        has_min,
                        Reverse(self.room[level][c]),
                        self.shuffle(p, c),
                        c,
                    )
                })
                .expect("every tier item has a child");
        }
        item
    }

    /// Move imbalance along chains of valid single-replica moves from
    /// over-quota to under-quota devices (a Dinic-style blocking flow over
    /// devices, phase by phase), until no chain is left. Only replicas
    /// already moved in this rebalance are used unless `allow_unmoved`.
    fn fix_up(&mut self, allow_unmoved: bool) {
        let n = self.ids.len();
        let parts = self.parts;
        let usable = |w: &Work, p: usize, s: usize| {
            w.mask[p] & (1 << s) != 0 || (allow_unmoved && w.movable(p, s))
        };
        let imbalanced = |w: &Work| {
            let room = &w.room[DEVICE];
            room.iter().any(|&r| r > 0) && room.iter().any(|&r| r < 0)
        };
        if !imbalanced(self) {
            return;
        }
        // Candidate slots (`s * parts + p`) per device; entries go stale as
        // slots move and are re-checked when used.
        let mut slots_on: Vec<Vec<u32>> = vec![Vec::new(); n];
        for s in 0..self.table.len() {
            for p in 0..parts {
                if let Some(d) = self.slot_dev(p, s).filter(|_| usable(self, p, s)) {
                    slots_on[d].push((s * parts + p) as u32);
                }
            }
        }
        let live = |w: &Work, a: usize, e: u32| {
            let (s, p) = (e as usize / parts, e as usize % parts);
            (w.slot_dev(p, s) == Some(a) && usable(w, p, s)).then_some((p, s))
        };
        while imbalanced(self) {
            // BFS levels from all over-quota devices.
            let mut level: Vec<usize> = self.room[DEVICE]
                .iter()
                .map(|&r| if r < 0 { 0 } else { usize::MAX })
                .collect();
            let mut unseen = level.iter().filter(|&&l| l == usize::MAX).count();
            let mut queue: VecDeque<usize> = (0..n).filter(|&d| level[d] == 0).collect();
            let mut reached = false;
            'bfs: while let Some(a) = queue.pop_front() {
                for &e in &slots_on[a] {
                    if unseen == 0 {
                        break 'bfs;
                    }
                    let Some((p, s)) = live(self, a, e) else {
                        continue;
                    };
                    for b in 0..n {
                        if level[b] == usize::MAX && self.fits(p, s, b) {
                            level[b] = level[a] + 1;
                            unseen -= 1;
                            reached |= self.room[DEVICE][b] > 0;
                            queue.push_back(b);
                        }
                    }
                }
            }
            if !reached {
                return;
            }
            let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
            for d in 0..n {
                if level[d] <= n {
                    by_level[level[d]].push(d);
                }
            }
            // Blocking flow by iterative DFS with per-device cursors.
            let mut cursor = vec![0usize; n];
            let mut progress = false;
            for src in 0..n {
                let mut path: Vec<(usize, usize, usize, usize)> = Vec::new();
                let mut cur = src;
                while self.room[DEVICE][src] < 0 && level[src] == 0 {
                    if cur != src && self.room[DEVICE][cur] > 0 {
                        // Apply the chain from its under-quota end.
                        for &(a, p, s, b) in path.iter().rev() {
                            if live(self, a, (s * parts + p) as u32).is_none()
                                || !self.fits(p, s, b)
                            {
                                return;
                            }
                            self.assign(p, s, b);
                            slots_on[b].push((s * parts + p) as u32);
                        }
                        progress = true;
                        path.clear();
                        cur = src;
                        continue;
                    }
                    let mut next = None;
                    while let Some(&e) = slots_on[cur].get(cursor[cur]) {
                        // A chain never moves two slots of one partition,
                        // so every move stays valid while the chain is applied.
                        let fresh = |p: usize| path.iter().all(|&(_, q, _, _)| q != p);
                        if let Some((p, s)) = live(self, cur, e).filter(|&(p, _)| fresh(p)) {
                            let want = level[cur] + 1;
                            let cands = by_level.get(want).map_or(&[][..], |v| &v[..]);
                            if let Some(&b) = cands
                                .iter()
                                .find(|&&b| level[b] == want && self.fits(p, s, b))
                            {
                                next = Some((p, s, b));
                                break;
                            }
                        }
                        cursor[cur] += 1;
                    }
                    match next {
                        Some((p, s, b)) => {
                            path.push((cur, p, s, b));
                            cur = b;
                        }
                        None => {
                            // Dead end: prune it for this phase and retreat.
                            level[cur] = usize::MAX;
                            match path.pop() {
                                Some((a, ..)) => cur = a,
                                None => break,
                            }
                        }
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }
}
