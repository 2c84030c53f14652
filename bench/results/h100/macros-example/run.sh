export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc; .carry/gpu/engine  # binary: cargo build --release -p vecinfer-example-engine
