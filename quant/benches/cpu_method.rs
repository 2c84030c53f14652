//! CPU speed of the method's heavy parts: k-means (1M sub-vectors of dim 4, 256 centroids, as
//! in issue 2) and nearest-centroid encoding.
//!
//!   cargo bench -p vecinfer-quant --bench cpu_method

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use vecinfer_quant::kmeans::{KMeansConfig, kmeans};
use vecinfer_quant::{Codebook, VqCodec};

fn points(n: usize, dim: usize) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    (0..n * dim)
        .map(|_| rng.random_range(-1.0..1.0f32) + rng.random_range(-1.0..1.0f32))
        .collect()
}

fn bench_kmeans(c: &mut Criterion) {
    let data = points(1 << 20, 4);
    let mut group = c.benchmark_group("kmeans");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1 << 20));
    group.bench_function("1M x dim4, 256 centroids, 30 iters", |b| {
        let cfg = KMeansConfig {
            tolerance: 0.0,
            ..KMeansConfig::new(256, 0)
        };
        b.iter(|| black_box(kmeans(&data, 4, &cfg).unwrap().mean_squared_error))
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let head_dim = 128;
    let rows = 16_384;
    let data = points(rows, head_dim);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(rows as u64));
    for codec in ["d4b8", "d8b12", "d2b8"] {
        let codec: VqCodec = codec.parse().unwrap();
        let book = Codebook::new(codec, &points(codec.codebook_size(), codec.sub_dim())).unwrap();
        group.bench_function(format!("{codec}, 16k head vectors of dim 128"), |b| {
            b.iter(|| {
                let mut x = data.clone();
                book.round_trip_rows(&mut x, head_dim).unwrap();
                black_box(x[0])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_kmeans, bench_encode);
criterion_main!(benches);
