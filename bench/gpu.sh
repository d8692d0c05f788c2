#!/usr/bin/env bash
# The GPU benchmarks of docs/benchmarks.md in one prepared run of under 10 minutes (a lent machine's device time
# is short): the streamed CE against the matmul floor at the language-model size, the K = 50,000, d = 768 UFM's
# evaluation and L-BFGS iteration, scale-model solves to relative stationarity 1e-8, the roofline and the sweep
# throughput. Every result goes to $OUT (default bench/results/gpu), written as it is measured; each step has its
# own time limit, so a slow step costs its own numbers only.
#
#     OUT=/tmp/gpu bash bench/gpu.sh          # from the repository root, with jax for the GPU installed
#
# It needs jax (with the GPU plugin), optax, numpy, scipy and sympy, and runs ufm from the working tree
# (PYTHONPATH), so nothing is installed. float64 throughout (jax x64, as ufm always runs).
#     SMOKE=1 OUT=/tmp/gpu bash bench/gpu.sh  # the same steps on tiny sizes (a check of the script on a CPU)
set -u
OUT=${OUT:-bench/results/gpu}
if [ -n "${SMOKE:-}" ]; then BIG=300x16 LM=300x16x1 SCALE=30x4x1 SIZES=small; else
    BIG=10000x768,50000x768 LM=50000x768x1 SCALE=300x32x1,2000x32x1 SIZES=small,medium,large; fi
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
step() {  # step SECONDS NAME COMMAND...: run with a limit, log to $OUT/NAME.log
    local limit=$1 name=$2
    shift 2
    echo "== $name (limit ${limit}s) $(date +%T)"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "   exit $? $(date +%T)"
    tail -n 8 "$OUT/$name.log"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $PY -c "import jax, optax; print('jax', jax.__version__, 'optax', optax.__version__, jax.devices())"; } \
    | tee "$OUT/device.txt"
step 100 streamed $PY bench/bench_streamed.py --grid "$BIG" --dense-max 10000 --repeats 5 \
    --out "$OUT/streamed.json"
step 200 large_k_eval $PY bench/bench_large_k.py --grid "$LM" --modes eval --iters 10 --limit 190 \
    --max-memory-gb 100 --out "$OUT/large_k_eval.json"
step 150 large_k_scale $PY bench/bench_large_k.py --grid "$SCALE" --modes solve --gtol 1e-8 \
    --max-iter 50000 --limit 70 --max-memory-gb 100 --out "$OUT/large_k_scale.json"
step 60 roofline $PY bench/bench_scale.py roofline --sizes "$SIZES" --out "$OUT/roofline.json"
step 60 sweep $PY bench/bench_sweep.py --batch 32 --repeats 3
cp "$OUT/sweep.log" "$OUT/sweep.md" 2>/dev/null
echo "done $(date +%T)"
