#!/usr/bin/env bash
# tools/torch_ratio.sh — the train-step ratio to PyTorch, measured in one run.
#
# Alternates the PyTorch anchor (train steps at batch 1024: ../shared/anchors/
# torch_train_anchor.py) with `kprof student-step --batch 1024` (or `teacher-step`) on the GPU
# and CPU devices, so that the VM's slow and fast phases hit both sides alike, and prints every
# round and the medians of the per-round ratios.
#
# Usage: tools/torch_ratio.sh PYTHON ANCHOR_DIR [ROUNDS] [STEPS] [student|teacher]
#   PYTHON      a python with torch (e.g. a venv: python3 -m venv v && v/bin/pip install torch numpy)
#   ANCHOR_DIR  the folder holding torch_train_anchor.py and torch_vdd_anchor.py
#   ROUNDS      alternations (default 5); STEPS: kprof's timed steps per round (default 10)
#   student     the VDD student's step (default); teacher: the DiffusionGPT teacher's DSM step
# Run from the repository after `cargo build --release --workspace`; the GPU side needs a
# Vulkan adapter (WGPU_BACKEND=vulkan on lavapipe).
set -euo pipefail
py=${1:?usage: tools/torch_ratio.sh PYTHON ANCHOR_DIR [ROUNDS] [STEPS] [student|teacher]}
anchors=${2:?usage: tools/torch_ratio.sh PYTHON ANCHOR_DIR [ROUNDS] [STEPS] [student|teacher]}
rounds=${3:-5}
steps=${4:-10}
case ${5:-student} in
    student) workload=student-step key=student_train_step_b1024_ms ;;
    teacher) workload=teacher-step key=teacher_dsm_step_b1024_ms ;;
    *) echo "error: workload must be student or teacher, not '$5'" >&2; exit 1 ;;
esac
kprof=target/release/kprof
[ -x "$kprof" ] || { echo "error: $kprof not found; run cargo build --release --workspace first" >&2; exit 1; }
[ -f "$anchors/torch_train_anchor.py" ] || { echo "error: no torch_train_anchor.py in $anchors" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "error: $py cannot import torch" >&2; exit 1; }

field() { "$py" -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
ratios=$(mktemp)
trap 'rm -f "$ratios"' EXIT
for r in $(seq 1 "$rounds"); do
    torch=$( (cd "$anchors" && "$py" torch_train_anchor.py) | field "$key")
    gpu=$("$kprof" "$workload" --batch 1024 --steps "$steps" --device gpu --json 2>/dev/null | field step_ms)
    cpu=$("$kprof" "$workload" --batch 1024 --steps "$steps" --device cpu --json 2>/dev/null | field step_ms)
    line=$("$py" -c "t,g,c=$torch,$gpu,$cpu; print(f'{t:.1f} {g:.1f} {c:.1f} {g/t:.2f} {c/t:.2f}')")
    echo "$line" >>"$ratios"
    read -r t g c rg rc <<<"$line"
    echo "round $r: PyTorch $t ms  GPU $g ms ($rg×)  CPU $c ms ($rc×)"
done
"$py" - "$ratios" "$workload" <<'EOF'
import statistics as s, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
col = lambda i: [r[i] for r in rows]
print(f"{sys.argv[2]}: medians over {len(rows)} rounds: PyTorch {s.median(col(0)):.1f} ms, GPU {s.median(col(1)):.1f} ms, "
      f"CPU {s.median(col(2)):.1f} ms; ratio GPU {s.median(col(3)):.2f}× "
      f"[{min(col(3)):.2f}–{max(col(3)):.2f}], CPU {s.median(col(4)):.2f}× [{min(col(4)):.2f}–{max(col(4)):.2f}]")
EOF
