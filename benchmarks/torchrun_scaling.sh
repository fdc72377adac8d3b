#!/bin/bash
# train-refiner throughput at 1 and 2 torchrun ranks (one thread each), eyes preset, 20 iterations.
# Usage: benchmarks/torchrun_scaling.sh [WORKDIR]   (docs/benchmarks.md, "torchrun on the CPU")
set -euo pipefail
W=${1:-/tmp/simgan_scaling}
PY=${PY:-.venv/bin/python}
mkdir -p "$W"
export OMP_NUM_THREADS=1
[ -d "$W/syn" ] || $PY -m simgan simulate eyes --n 600 --seed 1 --out "$W/syn" >/dev/null
[ -d "$W/real" ] || $PY -m simgan simulate eyes --n 600 --seed 2 --target pseudo-real --out "$W/real" >/dev/null
ARGS=(train-refiner --synthetic "$W/syn" --real "$W/real" --preset eyes --pretrain-r-steps 0
      --pretrain-d-steps 0 --steps 20 --monitor-every 0 --log-every 20 --ckpt-every 1000
      --grid-every 1000 --history-size 256 --device cpu)
run() {  # nproc, per-rank batch
    local out="$W/run_$1x$2"
    rm -rf "$out"
    if [ "$1" = 1 ]; then
        $PY -m simgan "${ARGS[@]}" --out "$out" --batch-size "$2" >/dev/null 2>&1
    else
        $PY -m torch.distributed.run --standalone --nproc-per-node "$1" -m simgan "${ARGS[@]}" \
            --out "$out" --batch-size "$2" >/dev/null 2>&1
    fi
    tail -1 "$out/stats.jsonl" | $PY -c "import json, sys; s = json.load(sys.stdin)['time/session_s']; \
print(f'ranks $1, batch $2 per rank: {s:.1f} s, {20 * $1 * $2 / s:.1f} synthetic images/s')"
}
run 1 64
run 2 32
run 2 64
