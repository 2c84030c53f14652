# Sourced by *.sh: environment, binaries (once per machine), the file being made.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s15; R=/tmp/r; mkdir -p $R
for b in vi gpu_attention gpu_paged gpu_append gpu_tuner; do [ -f $S/$b.xz ] || continue; [ -x $R/$b ] || { xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; }; done
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$GPU"
case "$GPU" in *H200*) F=$R/nvidia-h200.json;; *) F=$R/nvidia-h100-80gb-hbm3.json;; esac
# WANT=H200 (or H100): run nothing on the other kind.
case "$GPU" in *"${WANT:-}"*) ;; *) echo "not an ${WANT}: nothing run"; exit 0;; esac
ENGINE_SHAPES=1x2048,1x8192,1x32768,1x131072,4x2048,4x8192,4x32768,4x131072,16x8192,16x32768,16x131072,64x8192,64x32768,64x131072,256x8192
# A file begun on a machine since given back: carried in as $S/<file>.part.gz.
[ -f $F ] || [ ! -f $S/$(basename $F).part.gz ] || { zcat $S/$(basename $F).part.gz > $F; echo "resumed $(basename $F)"; }
