#!/usr/bin/env bash
# Session 35, H200: where the landed build's attention kernel waits. Nsight Compute on one
# launch each (after the verification launches): occupancy, throughput and the warp stall
# reasons per issued instruction, for the Llama default and t512 w4 at 8 x 32k and 64 x 8k,
# and SmolLM2's default at 64 x 8k.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s35
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
T0=$(date +%s)
M="smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_not_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__average_warps_issue_stalled_branch_resolving_per_issue_active.ratio,smsp__average_warps_issue_stalled_membar_per_issue_active.ratio,smsp__average_warps_issue_stalled_drain_per_issue_active.ratio,smsp__average_warps_issue_stalled_sleeping_per_issue_active.ratio,smsp__average_warps_issue_stalled_tex_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_imc_miss_per_issue_active.ratio,smsp__average_warps_issue_stalled_misc_per_issue_active.ratio,smsp__issue_active.avg.pct_of_peak_sustained_active,smsp__warps_active.avg.per_cycle_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed,sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,dram__throughput.avg.pct_of_peak_sustained_elapsed,gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second,launch__registers_per_thread,sm__warps_active.avg.pct_of_peak_sustained_active"
run() {
  local name=$1; shift
  timeout 120 ncu -k regex:vq_att --launch-skip 10 --launch-count 1 --metrics $M /tmp/vi bench --codecs d4b8/d4b8 --runs 5 "$@" > $R/$name.txt 2>&1
  echo "== $name rc $? at $(( $(date +%s) - T0 )) s"
  grep -E "^\s+(smsp|l1tex|sm__|dram|gpu__|launch)" $R/$name.txt | sed -E 's/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | awk '{print $1, $NF}' | tr '\n' ';'; echo
}
run llama-default-8x32k --shapes 8x32768
run llama-t512w4-8x32k --tile 512 --warps 4 --min-blocks 0 --shapes 8x32768
run llama-default-64x8k --shapes 64x8192
run llama-t512w4-64x8k --tile 512 --warps 4 --min-blocks 0 --shapes 64x8192
run smol-default-64x8k --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 64x8192
cd $OUT && tar czf r.tgz r && rm -r r
