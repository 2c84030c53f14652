#include <cstdio>
#include <cstdlib>
#define OFFSET_CODES 0
#define REPLICAS 1
#include "c.cuh"
#include "f.cuh"
__device__ int bad, n;
template<int B,int N,int P> __global__ void k(const unsigned char* g){
 constexpr int R=P*N*B/8; __shared__ __align__(16) unsigned char s[16*R+16];
 for(int i=threadIdx.x;i<16*R+16;i+=blockDim.x) s[i]=g[i];
 __syncthreads();
 int t=threadIdx.x; if(t>=16*P) return;
 const unsigned char* row=s+(t/P)*R; int f=(t%P)*N; int c[N]; read_codes<B,N>(row,f,c);
 for(int i=0;i<N;++i){ atomicAdd(&n,1); if(c[i]!=read_code<B>(row,f+i)) atomicAdd(&bad,1);}
}
unsigned char* g;
template<int B,int N,int P> void r(){static_assert(N*B%16==0,"");for(int x=0;x<200;++x)k<B,N,P><<<1,128>>>(g+x*4096);
 int b,m;cudaDeviceSynchronize();cudaMemcpyFromSymbol(&b,bad,4);cudaMemcpyFromSymbol(&m,n,4);printf("B%d N%d P%d bad=%d codes=%d %s\n",B,N,P,b,m,cudaGetErrorString(cudaGetLastError()));}
int main(){int S=210*4096;unsigned char*h=(unsigned char*)malloc(S);srand(7);for(int i=0;i<S;++i)h[i]=rand();for(int i=0;i<4096;++i)h[i]=255;
 cudaMalloc(&g,S);cudaMemcpy(g,h,S,cudaMemcpyHostToDevice);
 r<10,8,4>();r<12,8,4>();r<12,4,4>();r<9,16,4>();r<10,16,4>();r<11,16,4>();r<12,16,4>();r<9,32,4>();r<10,32,4>();r<11,32,4>();r<12,32,4>();
 r<12,4,8>();r<10,8,8>();r<12,8,8>();r<9,16,8>();r<10,16,8>();r<11,16,8>();r<12,16,8>();return 0;}
