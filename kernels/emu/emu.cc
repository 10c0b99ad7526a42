// emu.cc - presto's CUDA emulator (see emu_device.h, cuda_runtime_api.h):
// the thread scheduler of a block, and the runtime API on host memory.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <map>
#include <mutex>
#include <vector>

#include "cuda_runtime_api.h"
#include "emu_device.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace presto_emu {

enum { RUN, WAIT_BLOCK, WAIT_WARP, DONE };

// an asynchronous copy to shared memory (cuda_pipeline.h), done when waited for
struct async_copy {
	void *dst;
	const void *src;
	size_t n;
};

struct thread_state {
	std::vector<async_copy> copies;   // issued, oldest first
	std::vector<size_t> batches;      // committed: copies in each, oldest first
	dim3 tid;
	int linear = 0, state = DONE;
	unsigned wmma_ops = 0;  // the wmma loads it has made (which scratch slot is next)
	unsigned wmask = 0;
	uint64_t wval = 0;
	uint64_t *wall = nullptr;
	char *stack = nullptr;
#if defined(__x86_64__)
	void *sp = nullptr;
#else
	ucontext_t uc;
#endif
};

thread_state *cur;
dim3 block_idx, block_dim, grid_dim;

namespace {

constexpr size_t kStack = 256 << 10;
constexpr int kMaxThreads = 1024;
constexpr size_t kMaxSmem = 227 << 10;

std::vector<thread_state> threads(kMaxThreads);
unsigned char wmma_slots[kMaxThreads / 32][2][1024];  // wmma_slot()
unsigned wmma_stamp[kMaxThreads / 32][2];              // the load (1-based) a slot holds
const std::function<void()> *body_fn;
unsigned char *smem_buf;  // 256-byte aligned, like the GPU's shared memory base
size_t smem_cap;
std::mutex launch_lock;
// $PRESTO_EMU_ORDER=reverse: blocks, the warps of a block and the lanes of a
// warp run in the opposite order. Between two barriers a GPU runs threads in
// any order: a kernel whose output differs between the two orders reads
// what another thread writes (or writes what it reads) without a barrier
// between them
bool reverse_order = [] {
	const char *e = getenv("PRESTO_EMU_ORDER");
	if (!e || !*e || !strcmp(e, "forward"))
		return false;
	if (strcmp(e, "reverse")) {
		fprintf(stderr, "CUDA emulator: PRESTO_EMU_ORDER=%s: forward or reverse\n", e);
		abort();
	}
	return true;
}();
cudaError_t last_err = cudaSuccess;

#if defined(__x86_64__)
void *sched_sp;
extern "C" void presto_emu_switch(void **save_sp, void *next_sp);
asm(".text\n"
    ".globl presto_emu_switch\n"
    ".type presto_emu_switch,@function\n"
    "presto_emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size presto_emu_switch,.-presto_emu_switch\n");
#else
ucontext_t sched_uc;
#endif

void to_scheduler()
{
#if defined(__x86_64__)
	presto_emu_switch(&cur->sp, sched_sp);
#else
	swapcontext(&cur->uc, &sched_uc);
#endif
}

// complete the oldest `batches` committed batches of t's asynchronous copies
// (all its copies, committed or not, when batches < 0)
void finish_copies(thread_state &t, long batches)
{
	size_t n = 0;
	if (batches < 0) {
		n = t.copies.size();
		t.batches.clear();
	} else {
		for (long b = 0; b < batches; b++)
			n += t.batches[b];
		t.batches.erase(t.batches.begin(), t.batches.begin() + batches);
	}
	for (size_t i = 0; i < n; i++)
		memmove(t.copies[i].dst, t.copies[i].src, t.copies[i].n);
	t.copies.erase(t.copies.begin(), t.copies.begin() + n);
}

void entry()
{
	(*body_fn)();
	finish_copies(*cur, -1);  // what a thread copies lands, waited for or not
	cur->state = DONE;
	to_scheduler();
	fail("a finished thread was resumed");
}

void start(thread_state &t)
{
	if (!t.stack) {
		void *p = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (p == MAP_FAILED)
			fail("no memory for a thread stack");
		t.stack = (char *)p;
	}
#if defined(__x86_64__)
	uintptr_t top = ((uintptr_t)t.stack + kStack) & ~(uintptr_t)15;
	uint64_t *s = (uint64_t *)top;
	*--s = 0;                   // entry()'s return address (never used)
	*--s = (uint64_t)(uintptr_t)&entry;
	for (int i = 0; i < 6; i++)
		*--s = 0;           // rbp rbx r12 r13 r14 r15
	uint32_t csr;
	uint16_t cw;
	asm volatile("stmxcsr %0" : "=m"(csr));
	asm volatile("fnstcw %0" : "=m"(cw));
	--s;
	memcpy(s, &csr, 4);
	memcpy((char *)s + 4, &cw, 2);
	t.sp = s;
#else
	getcontext(&t.uc);
	t.uc.uc_stack.ss_sp = t.stack;
	t.uc.uc_stack.ss_size = kStack;
	t.uc.uc_link = nullptr;
	makecontext(&t.uc, entry, 0);
#endif
}

void resume(thread_state &t)
{
	cur = &t;
#if defined(__x86_64__)
	presto_emu_switch(&sched_sp, t.sp);
#else
	swapcontext(&sched_uc, &t.uc);
#endif
	cur = nullptr;
}

const char *state_name(int s)
{
	return s == WAIT_BLOCK ? "__syncthreads()" : s == WAIT_WARP ? "a warp collective" : s == DONE ? "exit" : "running";
}

// lanes of warp w that take part in the collective its first waiting lane
// posted, released when all of them wait there; false when some still run
bool release_warp(int w, int n)
{
	int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n, first = -1;
	for (int i = lo; i < hi && first < 0; i++)
		if (threads[i].state == WAIT_WARP)
			first = i;
	if (first < 0)
		return false;
	unsigned mask = threads[first].wmask;
	if (!(mask >> (first - lo) & 1))
		fail("block (%u,%u,%u) thread %d: warp collective whose mask 0x%08x leaves out the calling lane",
		     block_idx.x, block_idx.y, block_idx.z, first, mask);
	for (int i = lo; i < hi; i++) {
		if (!(mask >> (i - lo) & 1))
			continue;
		int st = threads[i].state;
		if (st == RUN)
			return false;
		if (st != WAIT_WARP)
			fail("block (%u,%u,%u) warp %d: lane %d waits at a warp collective (mask 0x%08x) while lane %d "
			     "is at %s", block_idx.x, block_idx.y, block_idx.z, w, first - lo, mask, i - lo,
			     state_name(st));
		if (threads[i].wmask != mask)
			fail("block (%u,%u,%u) warp %d: lanes %d and %d meet at warp collectives of different masks "
			     "(0x%08x, 0x%08x)", block_idx.x, block_idx.y, block_idx.z, w, first - lo, i - lo, mask,
			     threads[i].wmask);
	}
	uint64_t vals[32];
	for (int l = 0; l < 32; l++)
		vals[l] = lo + l < hi ? threads[lo + l].wval : 0;
	for (int i = lo; i < hi; i++) {
		if (!(mask >> (i - lo) & 1))
			continue;
		thread_state &t = threads[i];
		for (int l = 0; l < 32; l++)
			t.wall[l] = (mask >> l & 1) && lo + l < hi ? vals[l] : t.wval;
		t.state = RUN;
	}
	return true;
}

// run one block to completion: warp by warp, each warp's lanes until they
// all wait at __syncthreads() or have exited (their warp collectives met on
// the way), then release the barrier
void run_block(int n)
{
	for (int i = 0; i < n; i++) {
		thread_state &t = threads[i];
		t.linear = i;
		t.wmma_ops = 0;
		if (i % 32 == 0)
			wmma_stamp[i / 32][0] = wmma_stamp[i / 32][1] = 0;
		t.copies.clear();
		t.batches.clear();
		t.tid = dim3(i % block_dim.x, i / block_dim.x % block_dim.y, i / (block_dim.x * block_dim.y));
		t.state = RUN;
		start(t);
	}
	int nwarps = (n + 31) / 32;
	for (;;) {
		for (int k = 0; k < nwarps; k++) {
			int w = reverse_order ? nwarps - 1 - k : k;
			int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n;
			do {
				for (int j = lo; j < hi; j++) {
					int i = reverse_order ? lo + hi - 1 - j : j;
					while (threads[i].state == RUN)
						resume(threads[i]);
				}
			} while (release_warp(w, n));
		}
		int waiting = 0, done = 0;
		for (int i = 0; i < n; i++) {
			if (threads[i].state == WAIT_BLOCK)
				waiting++;
			else if (threads[i].state == DONE)
				done++;
		}
		if (done == n)
			return;
		if (waiting + done != n)
			fail("block (%u,%u,%u): threads stuck at different barriers", block_idx.x, block_idx.y,
			     block_idx.z);
		for (int i = 0; i < n; i++)
			if (threads[i].state == WAIT_BLOCK)
				threads[i].state = RUN;
	}
}

}  // namespace

static float bf16_lo(uint32_t v) { uint32_t u = v << 16; float f; memcpy(&f, &u, 4); return f; }
static float bf16_hi(uint32_t v) { uint32_t u = v & 0xffff0000u; float f; memcpy(&f, &u, 4); return f; }

// The m16n8k16 fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16"):
// lane = 4 g + t. A (16 x 16, row): a[0] = (g, 2t..2t+1), a[1] = (g+8, 2t..),
// a[2] = (g, 2t+8..), a[3] = (g+8, 2t+8..), the lower half the lower column.
// B (16 x 8, col): b[0] = (k 2t..2t+1, n g), b[1] = (k 2t+8.., n g).
// C, D (16 x 8): c[0..1] = (g, 2t..2t+1), c[2..3] = (g+8, 2t..2t+1).
void mma_16816_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
	uint64_t pa0[32], pa1[32], pb[32], pc0[32], pc1[32], v;
	warp_collective(0xffffffffu, (uint64_t)a[0] | (uint64_t)a[1] << 32, pa0);
	warp_collective(0xffffffffu, (uint64_t)a[2] | (uint64_t)a[3] << 32, pa1);
	warp_collective(0xffffffffu, (uint64_t)b[0] | (uint64_t)b[1] << 32, pb);
	memcpy(&v, c, 8);
	warp_collective(0xffffffffu, v, pc0);
	memcpy(&v, c + 2, 8);
	warp_collective(0xffffffffu, v, pc1);
	float A[16][16], B[16][8], C[16][8];
	for (int l = 0; l < 32; l++) {
		int g = l >> 2, t = l & 3;
		uint32_t r[4] = {(uint32_t)pa0[l], (uint32_t)(pa0[l] >> 32), (uint32_t)pa1[l], (uint32_t)(pa1[l] >> 32)};
		for (int i = 0; i < 4; i++) {
			int row = g + (i & 1) * 8, col = 2 * t + (i >> 1) * 8;
			A[row][col] = bf16_lo(r[i]);
			A[row][col + 1] = bf16_hi(r[i]);
		}
		uint32_t rb[2] = {(uint32_t)pb[l], (uint32_t)(pb[l] >> 32)};
		for (int i = 0; i < 2; i++) {
			B[2 * t + 8 * i][g] = bf16_lo(rb[i]);
			B[2 * t + 8 * i + 1][g] = bf16_hi(rb[i]);
		}
		float cc[4];
		memcpy(cc, &pc0[l], 8);
		memcpy(cc + 2, &pc1[l], 8);
		for (int i = 0; i < 4; i++)
			C[g + (i >> 1) * 8][2 * t + (i & 1)] = cc[i];
	}
	int g = (int)lane_id() >> 2, t = (int)lane_id() & 3;
	for (int i = 0; i < 4; i++) {
		int row = g + (i >> 1) * 8, col = 2 * t + (i & 1);
		float acc = C[row][col];
		for (int k = 0; k < 16; k++)
			acc += A[row][k] * B[k][col];
		d[i] = acc;
	}
}

// cuda_pipeline.h: a copy is issued now and done when a wait covers its
// batch, so that reading the destination before the wait reads what was
// there before (as a GPU may)
void async_issue(void *dst, const void *src, size_t n)
{
	if ((n != 4 && n != 8 && n != 16) || (uintptr_t)dst % n || (uintptr_t)src % n)
		fail("__pipeline_memcpy_async of %zu bytes from %p to %p: 4, 8 or 16 bytes, aligned to their size", n,
		     src, dst);
	cur->copies.push_back({dst, src, n});
}

void async_commit()
{
	size_t in_batches = 0;
	for (size_t b : cur->batches)
		in_batches += b;
	cur->batches.push_back(cur->copies.size() - in_batches);
}

void async_wait_prior(size_t prior)
{
	size_t nb = cur->batches.size();
	if (nb > prior)
		finish_copies(*cur, (long)(nb - prior));
}

void set_reverse_order(bool reverse) { reverse_order = reverse; }

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("CUDA emulator: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

const dim3 &thread_idx()
{
	if (!cur)
		fail("threadIdx read outside a kernel");
	return cur->tid;
}

unsigned lane_id() { return (unsigned)(cur->linear & 31); }

// two 1 KB slots a warp, used in turn by its wmma loads (mma.h): the lanes
// meet, the first to go on reads the whole tile into the slot (the tile as
// it was when they met), each copies it out. A lane may reach the next
// load (the other slot) while others still copy; not the one after, before
// they all meet again.
void *wmma_slot(bool *fill)
{
	unsigned k = ++cur->wmma_ops, w = (unsigned)cur->linear / 32;
	*fill = wmma_stamp[w][k & 1] != k;
	wmma_stamp[w][k & 1] = k;
	return wmma_slots[w][k & 1];
}

void syncthreads()
{
	if (!cur)
		fail("__syncthreads() outside a kernel");
	cur->state = WAIT_BLOCK;
	to_scheduler();
}

void warp_collective(unsigned mask, uint64_t v, uint64_t all[32])
{
	if (!cur)
		fail("warp collective outside a kernel");
	cur->wmask = mask;
	cur->wval = v;
	cur->wall = all;
	cur->state = WAIT_WARP;
	to_scheduler();
}

void syncwarp(unsigned mask)
{
	uint64_t all[32];
	warp_collective(mask, 0, all);
}

void *dynamic_smem() { return smem_buf; }

std::mutex attr_lock;
// $PRESTO_EMU_STATS: counts on stderr at exit (tests see what ran)
unsigned long long n_launches, n_graph_launches, n_graph_kernels, n_to_device, n_to_host, n_allocs;
struct stats_at_exit {
	~stats_at_exit()
	{
		const char *e = getenv("PRESTO_EMU_STATS");
		if (e && *e)
			fprintf(stderr,
				"CUDA emulator: %llu kernel launches, %llu graph launches (%llu kernels in them), "
				"%llu copies to the device, %llu to the host, %llu allocations\n",
				n_launches, n_graph_launches, n_graph_kernels, n_to_device, n_to_host, n_allocs);
	}
} stats_printer;

void count_copy(cudaMemcpyKind k)
{
	if (k == cudaMemcpyHostToDevice)
		n_to_device++;
	else if (k == cudaMemcpyDeviceToHost)
		n_to_host++;
}
bool in_graph;
cudaStream_t capture_stream;
std::vector<std::function<void()>> *capture_work;

// s NULL: whether any capture is under way; else whether s is being
// captured (work on another stream during a capture stops the program: on a
// GPU it would escape the graph or invalidate the capture)
bool capturing(cudaStream_t s)
{
	if (!capture_stream)
		return false;
	if (!s)
		return true;
	if (s != capture_stream)
		fail("work on another stream while a stream is being captured");
	return true;
}

void record(std::function<void()> work) { capture_work->push_back(std::move(work)); }

std::map<const void *, int> max_dynamic_smem;  // cudaFuncSetAttribute's opt-ins

void run_grid(dim3 grid, dim3 block, size_t smem, const void *fn, const std::function<void()> &body)
{
	std::lock_guard<std::mutex> g(launch_lock);
	n_launches++;
	// $PRESTO_EMU_FAIL_LAUNCH=N: launch N fails (tests of the GPU-error paths)
	static long long fail_at = -2;
	if (fail_at == -2) {
		const char *e = getenv("PRESTO_EMU_FAIL_LAUNCH");
		fail_at = e && *e ? atoll(e) : -1;
	}
	if ((long long)n_launches == fail_at) {
		last_err = cudaErrorLaunchFailure;
		return;
	}
	if (in_graph)
		n_graph_kernels++;
	size_t n = (size_t)block.x * block.y * block.z;
	if (cur)
		fail("kernel launched from a kernel");
	if (!n || n > kMaxThreads || block.z > 64 || !grid.x || !grid.y || !grid.z || grid.y > 65535 ||
	    grid.z > 65535 || smem > kMaxSmem) {
		last_err = cudaErrorInvalidConfiguration;
		return;
	}
	size_t limit = 48 << 10;  // as a GPU: more dynamic shared memory only after an opt-in
	{
		std::lock_guard<std::mutex> a(attr_lock);
		auto it = max_dynamic_smem.find(fn);
		if (it != max_dynamic_smem.end())
			limit = (size_t)it->second;
	}
	if (smem > limit) {
		last_err = cudaErrorInvalidValue;
		return;
	}
	if (smem > smem_cap || !smem_buf) {
		free(smem_buf);
		smem_cap = (smem + 255) & ~(size_t)255;
		smem_buf = (unsigned char *)aligned_alloc(256, smem_cap ? smem_cap : 256);
		if (!smem_buf)
			fail("no memory for %zu bytes of shared memory", smem);
	}
	grid_dim = grid;
	block_dim = block;
	body_fn = &body;
	size_t nblocks = (size_t)grid.x * grid.y * grid.z;
	for (size_t k = 0; k < nblocks; k++) {
		size_t b = reverse_order ? nblocks - 1 - k : k;
		block_idx = dim3((unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y),
				 (unsigned)(b / ((size_t)grid.x * grid.y)));
		// every block finds its shared memory uninitialised (reading as
		// NaN), not as the block before it left it
		memset(smem_buf, 0xff, smem);
		run_block((int)n);
	}
	body_fn = nullptr;
}

}  // namespace presto_emu

// ---- the runtime API ----

namespace {
size_t mem_limit = (size_t)1 << 30, mem_used;
std::mutex mem_lock;
struct alloc_hdr {
	size_t n;
	size_t pad[7];
};
}  // namespace


// $PRESTO_EMU_MEMORY: the emulated device's memory in bytes (tests of the
// out-of-memory paths)
static void read_env()
{
	static bool done;
	if (done)
		return;
	done = true;
	const char *e = getenv("PRESTO_EMU_MEMORY");
	if (e && *e)
		mem_limit = strtoull(e, nullptr, 10);
}

extern "C" {

void presto_emu_set_memory_limit(size_t bytes)
{
	read_env();
	mem_limit = bytes;
}

cudaError_t cudaGetDeviceCount(int *n)
{
	*n = 1;
	return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int *d)
{
	*d = 0;
	return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d)
{
	if (d != 0)
		return cudaErrorInvalidDevice;
	read_env();
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "presto CUDA emulator");
	p->totalGlobalMem = mem_limit;
	p->sharedMemPerBlock = 48 << 10;
	p->sharedMemPerBlockOptin = 227 << 10;
	p->major = 9;
	p->minor = 0;
	p->multiProcessorCount = 132;
	p->maxThreadsPerBlock = 1024;
	return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n)
{
	std::lock_guard<std::mutex> g(mem_lock);
	read_env();
	*p = nullptr;
	if (mem_limit && (n > mem_limit || mem_used > mem_limit - n))
		return cudaErrorMemoryAllocation;
	alloc_hdr *h = (alloc_hdr *)aligned_alloc(64, sizeof(alloc_hdr) + ((n + 63) & ~(size_t)63));
	if (!h)
		return cudaErrorMemoryAllocation;
	h->n = n;
	mem_used += n;
	presto_emu::n_allocs++;
	memset(h + 1, 0xff, n);  // fresh device memory reads as NaN, not zeros
	*p = h + 1;
	return cudaSuccess;
}
cudaError_t cudaFree(void *p)
{
	if (!p)
		return cudaSuccess;
	std::lock_guard<std::mutex> g(mem_lock);
	alloc_hdr *h = (alloc_hdr *)p - 1;
	mem_used -= h->n;
	free(h);
	return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t n)
{
	*p = malloc(n ? n : 1);
	return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void *p)
{
	free(p);
	return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind k)
{
	if (presto_emu::capturing(nullptr))
		presto_emu::fail("cudaMemcpy while a stream is being captured");
	presto_emu::count_copy(k);
	if (n)
		memmove(dst, src, n);
	return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s)
{
	if (presto_emu::capturing(s ? s : presto_emu::capture_stream)) {
		if (!s)
			presto_emu::fail("cudaMemcpyAsync on the legacy stream while a stream is being captured");
		if (k != cudaMemcpyDeviceToDevice)
			return cudaErrorStreamCaptureUnsupported;  // host memory: not in a graph here
		presto_emu::record([=]() { memmove(dst, src, n); });
		return cudaSuccess;
	}
	presto_emu::count_copy(k);
	if (n)
		memmove(dst, src, n);
	return cudaSuccess;
}
cudaError_t cudaMemset(void *p, int v, size_t n)
{
	memset(p, v, n);
	return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s)
{
	if (presto_emu::capturing(nullptr) && !s)
		presto_emu::fail("cudaMemsetAsync on the legacy stream while a stream is being captured");
	if (presto_emu::capturing(s)) {
		presto_emu::record([=]() { memset(p, v, n); });
		return cudaSuccess;
	}
	memset(p, v, n);
	return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
	read_env();
	*total_b = mem_limit;
	*free_b = mem_limit - mem_used;
	return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void)
{
	if (presto_emu::capturing(nullptr))
		presto_emu::fail("cudaDeviceSynchronize while a stream is being captured");
	return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	*s = (cudaStream_t)malloc(1);
	return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) { return cudaStreamCreate(s); }

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode)
{
	if (!s || presto_emu::capture_stream)
		return cudaErrorStreamCaptureUnsupported;  // the legacy stream cannot be captured
	presto_emu::capture_stream = s;
	presto_emu::capture_work = new std::vector<std::function<void()>>();
	return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g)
{
	if (s != presto_emu::capture_stream || !s)
		return cudaErrorStreamCaptureInvalidated;
	*g = (cudaGraph_t)presto_emu::capture_work;
	presto_emu::capture_work = nullptr;
	presto_emu::capture_stream = nullptr;
	return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags)
{
	auto *w = (std::vector<std::function<void()>> *)g;
	*e = (cudaGraphExec_t) new std::vector<std::function<void()>>(*w);
	return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s)
{
	if (presto_emu::capturing(nullptr))
		return cudaErrorStreamCaptureUnsupported;
	presto_emu::n_graph_launches++;
	presto_emu::in_graph = true;
	for (auto &f : *(std::vector<std::function<void()>> *)e)
		f();
	presto_emu::in_graph = false;
	return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e)
{
	delete (std::vector<std::function<void()>> *)e;
	return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
	delete (std::vector<std::function<void()>> *)g;
	return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	free(s);
	return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
	if (presto_emu::capturing(nullptr))
		presto_emu::fail("cudaStreamSynchronize while a stream is being captured");
	return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	*e = (cudaEvent_t)malloc(1);
	return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	free(e);
	return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	*ms = 0;
	return cudaSuccess;
}
cudaError_t cudaGetLastError(void)
{
	cudaError_t e = presto_emu::last_err;
	presto_emu::last_err = cudaSuccess;
	return e;
}
cudaError_t cudaPeekAtLastError(void) { return presto_emu::last_err; }
const char *cudaGetErrorName(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "cudaSuccess";
	case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
	case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
	case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
	case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
	case cudaErrorNoDevice: return "cudaErrorNoDevice";
	case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
	default: return "cudaErrorUnknown";
	}
}
const char *cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorInvalidDevice: return "invalid device ordinal";
	case cudaErrorNoDevice: return "no CUDA-capable device is detected";
	case cudaErrorLaunchFailure: return "unspecified launch failure";
	default: return "unknown error";
	}
}
cudaError_t cudaFuncSetAttribute(const void *f, int attr, int value)
{
	if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || (size_t)value > presto_emu::kMaxSmem)
		return cudaErrorInvalidValue;
	std::lock_guard<std::mutex> a(presto_emu::attr_lock);
	presto_emu::max_dynamic_smem[f] = value;
	return cudaSuccess;
}

}  // extern "C"
