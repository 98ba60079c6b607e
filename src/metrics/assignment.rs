//! Minimum-cost perfect assignment (Hungarian algorithm with potentials, O(n³)).

/// For an `n×n` row-major cost matrix, the column assigned to each row minimising the total cost.
pub fn hungarian(cost: &[f64], n: usize) -> Vec<usize> {
    assert_eq!(cost.len(), n * n, "hungarian: cost matrix must be n×n");
    // 1-based potentials u (rows), v (columns); p[j] = row matched to column j; way = augmenting path.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut rows = vec![0; n];
    for j in 1..=n {
        if p[j] != 0 {
            rows[p[j] - 1] = j - 1;
        }
    }
    rows
}
