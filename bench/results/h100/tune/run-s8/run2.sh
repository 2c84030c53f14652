#!/usr/bin/env bash
# Session 8, H100, part 2 of 2 (the machine of run.sh, still warm): paged keys whose page size
# the tuner chooses (2-bit and 1.25-bit, guided), and the SmolLM2 attention shape (9 query /
# 3 KV heads, head dim 64) for 2-bit, guided, each with its own baselines from part 1. Then
# racecheck over the engine's checks without the perplexity evals (as session 7 ran it), and
# the full checks under racecheck with the session-7 binary (it stopped early with this one).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
F=$(ls /tmp/t8/tuned/*.json)
timeout 200 /tmp/t8/vecinfer-new tune --strategy guided --layouts paged --codecs d4b8/d4b8,d8b12/d8b8 --pages 16,64,256 --file $F --baseline /tmp/t8/sdpa-baseline.json --table $OUT/table-paged.md > $OUT/tune-paged.log 2>&1; echo "paged rc $?"
timeout 200 /tmp/t8/vecinfer-new tune --strategy guided --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b8/d4b8 --file $F --baseline /tmp/t8/sdpa-smollm2.json --table $OUT/table-smollm2.md > $OUT/tune-smollm2.log 2>&1; echo "smollm2 rc $?"
tail -n 14 $OUT/table-paged.md | cut -c1-200; tail -n 7 $OUT/table-smollm2.md | cut -c1-200
timeout 120 compute-sanitizer --tool racecheck --print-limit 20 /tmp/t8/vecinfer-new gpu-check --no-eval > $OUT/racecheck.txt 2>&1; echo "racecheck rc $?"; tail -1 $OUT/racecheck.txt
timeout 200 compute-sanitizer --tool racecheck --print-limit 20 /tmp/t8/vecinfer-old gpu-check > $OUT/racecheck-old-full.txt 2>&1; echo "racecheck old full rc $?"; tail -3 $OUT/racecheck-old-full.txt
cd $OUT && gzip -c $F > tuned-final.json.gz && tar czf logs-part2.tgz *.log *.txt && rm -f *.log racecheck*.txt
