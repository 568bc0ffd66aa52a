/* mpi.c: the transport between ranks, over MPI (libtrart_mpi).
 *
 * A program compiled with trac --ranks=R is placed on R ranks; started
 * with `mpirun -np R ./prog [options]`, each process runs its rank's part
 * of the task graph (sched.c says which, and when a block moves). This
 * file is the only one that includes mpi.h: it gives the executor the
 * table of trart.h's TrartComm (post, poll, agree, bcast) and is the
 * program's main (trart_mpi_main), so that the rest of the runtime
 * builds and runs without MPI.
 *
 * Messages. Every piece of a block travels as one non-blocking message,
 * MPI_Isend on the rank that made it once its task is done and MPI_Irecv
 * on the rank that reads it, posted before the run begins, straight into
 * the reader's buffer. A piece that is one stretch of its buffer moves
 * as bytes; a strided box (a block of columns) moves through an MPI
 * subarray datatype, so MPI copies from and into place and nothing is
 * packed by hand. Only sched.c's comm thread posts and polls during a
 * run (MPI_Testsome, which never waits), and the main thread calls MPI
 * only between runs (the collectives of agree and bcast), so
 * MPI_THREAD_SERIALIZED is all this asks for; no worker ever blocks on a
 * message, and a rank whose receives are all posted before any send
 * cannot deadlock the way blocking sends and receives on worker threads
 * can (RESEARCH.md).
 *
 * Without mpirun (no launcher in the environment) the program does not
 * start MPI at all and runs as one process, every task on its workers.
 * Under mpirun with a number of processes other than R and other than 1
 * it refuses, naming both. TRART_FAIL_RANK=k, for tests, makes rank k
 * fail after its first task that writes a block, as a rank that hits an
 * error mid-run would: it says so and aborts the whole job (MPI_Abort),
 * so the other ranks end too rather than wait for it.
 */
#define _POSIX_C_SOURCE 200809L

#include "trart.h"
#include "exec.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRART_BCAST_CHUNK ((size_t)1 << 30) /* bytes per MPI_Bcast */

/* The transport's state: the requests in flight and the caller's id of
 * each (the comm thread alone touches them during a run). */
typedef struct MpiComm {
	MPI_Request *req;     /* requests posted and not yet seen complete */
	int *id;              /* the caller's id of each */
	int *index;           /* MPI_Testsome's room */
	int n, cap;
	int tag_ub;           /* the largest tag MPI takes */
	int fail_rank;        /* TRART_FAIL_RANK, or -1 */
	const TrartProgram *p;
} MpiComm;

static _Noreturn void
mpi_fatal(const MpiComm *m, const char *what)
{
	int rank = 0;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	fprintf(stderr, "%s: error: rank %d: %s\n", m->p->name ? m->p->name : "program",
	        rank, what);
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1); /* MPI_Abort does not return; this says so to the compiler */
}

static void
mpi_grow(MpiComm *m)
{
	int cap = m->cap ? 2 * m->cap : 64;
	MPI_Request *req = realloc(m->req, (size_t)cap * sizeof *req);
	int *id = req ? realloc(m->id, (size_t)cap * sizeof *id) : NULL;
	int *index = id ? realloc(m->index, (size_t)cap * sizeof *index) : NULL;

	if (req)
		m->req = req;
	if (id)
		m->id = id;
	if (!index)
		mpi_fatal(m, "out of memory for messages");
	m->index = index;
	m->cap = cap;
}

/* Whether a box of a C-order buffer is one stretch of it: every
 * dimension after the first that the box cuts to more than one index is
 * whole. Then *first is its first element. */
static bool
mpi_stretch(const TrartPiece *pc, int64_t *first)
{
	const int64_t *shape = pc->dims, *start = pc->dims + pc->ndim,
	              *size = pc->dims + 2 * pc->ndim;
	bool cut = false;
	int64_t stride = 1;
	int d;

	*first = 0;
	for (d = pc->ndim - 1; d >= 0; d--) {
		*first += start[d] * stride;
		stride *= shape[d];
	}
	for (d = 0; d < pc->ndim; d++) {
		if (cut && size[d] != shape[d])
			return false;
		if (size[d] > 1)
			cut = true;
	}
	return true;
}

/* The datatype of one element of pc (its bytes, as a unit). */
static MPI_Datatype
mpi_element(const MpiComm *m, const TrartPiece *pc)
{
	MPI_Datatype t;

	if (MPI_Type_contiguous(pc->elsize, MPI_BYTE, &t) != MPI_SUCCESS ||
	    MPI_Type_commit(&t) != MPI_SUCCESS)
		mpi_fatal(m, "cannot make an element datatype");
	return t;
}

/* A piece as MPI sees it: a start address, a count and a datatype that
 * the caller frees (MPI lets a datatype go while a request uses it). */
static void
mpi_describe(const MpiComm *m, const TrartPiece *pc, char *base, char **at,
             int *count, MPI_Datatype *type)
{
	MPI_Datatype element = mpi_element(m, pc);
	int shape[TRART_MAX_RANK], start[TRART_MAX_RANK], size[TRART_MAX_RANK], d;
	int64_t first, n = 1;

	for (d = 0; d < pc->ndim; d++)
		n *= pc->dims[2 * pc->ndim + d];
	if (mpi_stretch(pc, &first)) {
		if (n > 2147483647)
			mpi_fatal(m, "a block of more than 2^31 elements");
		*at = base + first * pc->elsize;
		*count = (int)n;
		*type = element;
		return;
	}
	for (d = 0; d < pc->ndim; d++) {
		if (pc->dims[d] > 2147483647)
			mpi_fatal(m, "a tensor dimension of more than 2^31 elements");
		shape[d] = (int)pc->dims[d];
		start[d] = (int)pc->dims[pc->ndim + d];
		size[d] = (int)pc->dims[2 * pc->ndim + d];
	}
	if (MPI_Type_create_subarray(pc->ndim, shape, size, start, MPI_ORDER_C, element,
	                             type) != MPI_SUCCESS ||
	    MPI_Type_commit(type) != MPI_SUCCESS)
		mpi_fatal(m, "cannot make a subarray datatype");
	MPI_Type_free(&element);
	*at = base;
	*count = 1;
}

static void
mpi_post(void *ctx, bool send, int peer, int tag, void *base, const TrartPiece *pc, int id)
{
	MpiComm *m = ctx;
	MPI_Datatype type;
	char *at;
	int count, rc;

	if (tag > m->tag_ub)
		mpi_fatal(m, "more tasks than MPI has message tags");
	if (m->n == m->cap)
		mpi_grow(m);
	mpi_describe(m, pc, base, &at, &count, &type);
	if (send)
		rc = MPI_Isend(at, count, type, peer, tag, MPI_COMM_WORLD, &m->req[m->n]);
	else
		rc = MPI_Irecv(at, count, type, peer, tag, MPI_COMM_WORLD, &m->req[m->n]);
	if (rc != MPI_SUCCESS)
		mpi_fatal(m, send ? "MPI_Isend failed" : "MPI_Irecv failed");
	MPI_Type_free(&type);
	m->id[m->n++] = id;
}

/* Completed requests' ids into done; the rest close ranks. */
static int
mpi_poll(void *ctx, int *done)
{
	MpiComm *m = ctx;
	int count = 0, i, j;

	if (m->n == 0)
		return 0;
	if (MPI_Testsome(m->n, m->req, &count, m->index, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
		mpi_fatal(m, "MPI_Testsome failed");
	if (count == MPI_UNDEFINED || count == 0)
		return 0;
	for (i = 0; i < count; i++)
		done[i] = m->id[m->index[i]];
	for (i = j = 0; i < m->n; i++) /* completed ones are MPI_REQUEST_NULL now */
		if (m->req[i] != MPI_REQUEST_NULL) {
			m->req[j] = m->req[i];
			m->id[j++] = m->id[i];
		}
	m->n = j;
	return count;
}

static int
mpi_agree(void *ctx, int status, int *first)
{
	MpiComm *m = ctx;
	int worst, rank, mine;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
		mpi_fatal(m, "MPI_Allreduce failed");
	mine = status == worst ? rank : 1 << 30;
	if (MPI_Allreduce(&mine, first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
		mpi_fatal(m, "MPI_Allreduce failed");
	return worst;
}

static void
mpi_bcast(void *ctx, void *buf, size_t bytes, int root)
{
	MpiComm *m = ctx;
	size_t done, n;

	for (done = 0; done < bytes; done += n) { /* MPI counts are ints */
		n = bytes - done < TRART_BCAST_CHUNK ? bytes - done : TRART_BCAST_CHUNK;
		if (MPI_Bcast((char *)buf + done, (int)n, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
			mpi_fatal(m, "MPI_Bcast failed");
	}
}

static void
mpi_task_done(void *ctx, int t)
{
	MpiComm *m = ctx;
	int rank;
	char what[256];

	if (m->fail_rank < 0)
		return;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (rank != m->fail_rank)
		return;
	snprintf(what, sizeof what, "failing after task %d, as TRART_FAIL_RANK asks", t);
	mpi_fatal(m, what);
}

/* Whether a launcher started this process (Open MPI's, or a PMI one). */
static bool
mpi_launched(void)
{
	return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

/* The ranks the program was compiled for, and the processes it got:
 * 0 when they may run it, else the status after the message. */
static int
mpi_check_size(const TrartProgram *p, int rank, int size)
{
	int want = p->tasks ? p->tasks->nranks : 1;

	if (size == 1 || size == want)
		return 0;
	if (rank == 0)
		fprintf(stderr, "%s: error: compiled for %d ranks (trac --ranks=%d), started on %d: "
		        "run it with mpirun -np %d, or without mpirun as one process\n",
		        p->name ? p->name : "program", want, want, size, want);
	return 2;
}

int
trart_mpi_main(const TrartProgram *p, int argc, char **argv)
{
	MpiComm m = {.fail_rank = -1, .p = p};
	TrartComm c = {0};
	const char *fail = getenv("TRART_FAIL_RANK");
	int provided, rank, size, rc, *tag_ub, flag;

	trart_exec_blas_kernels(argv); /* before MPI_Init: it may execute the program again */
	if (!mpi_launched())
		return trart_main(p, argc, argv);
	if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
		fprintf(stderr, "%s: error: MPI_Init_thread failed\n", p->name ? p->name : "program");
		return 1;
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (provided < MPI_THREAD_SERIALIZED)
		mpi_fatal(&m, "this MPI does not let threads take turns (MPI_THREAD_SERIALIZED)");
	rc = mpi_check_size(p, rank, size);
	if (rc == 0 && size == 1) {
		rc = trart_main(p, argc, argv);
	} else if (rc == 0) {
		MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag);
		m.tag_ub = flag ? *tag_ub : 32767;
		m.fail_rank = fail && *fail ? atoi(fail) : -1;
		c = (TrartComm){rank, size, &m, mpi_post, mpi_poll, mpi_agree, mpi_bcast, mpi_task_done};
		if (rank > 0) /* --help and --version once */
			(void)!freopen("/dev/null", "w", stdout);
		trart_set_comm(&c);
		rc = trart_main(p, argc, argv);
		trart_set_comm(NULL);
	}
	free(m.req);
	free(m.id);
	free(m.index);
	MPI_Finalize();
	return rc;
}
