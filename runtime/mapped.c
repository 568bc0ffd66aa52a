/* mapped.c: the file mappings the runtime made, and where they are.
 *
 * A program that reads or writes out of core (its plan has READ and
 * WRITE memory tasks, spill.c) does not copy its input files into
 * memory, nor its outputs out of it: cli.c maps each input .npy file
 * and each staged output file, and the tensor's buffer is the mapping's
 * data. The memory tasks then only advise the kernel which pages to
 * bring in and which to let go (madvise, msync). They may do so only
 * over mappings the runtime made itself: a library caller's buffer is
 * ordinary memory, where MADV_DONTNEED would zero the caller's data.
 * So every mapping is recorded here, and the memory tasks ask
 * trart_mapped_find first; a buffer it does not know is left alone.
 *
 * Each mapping is padded as every buffer is (cli.c, CLI_ALIGN): kernels
 * may load and store up to 64 bytes past a tensor's end, and past the
 * end of a file a mapping's last page is followed by nothing, so a
 * touch there would be SIGSEGV (or, for a file shorter than the mapping,
 * SIGBUS). So an anonymous region of the file's bytes plus the padding,
 * rounded up to pages, is reserved first, and the file is mapped with
 * MAP_FIXED over its start: the padding past the file's last page is
 * anonymous zero pages. An input's file is mapped MAP_PRIVATE and
 * read-only: a page the kernel drops is faulted in again from the file.
 * An output's is MAP_SHARED and writable: what the kernels write goes to
 * the file through the page cache.
 *
 * The registry is a small array under a mutex: mappings are made and
 * undone before and after a run, and looked up by memory tasks, once
 * per task, during it (on any worker, or the I/O thread).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include "exec.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAPPED_PAD 64 /* bytes past a tensor's end kernels may touch */
/* Where a mapping starts: a multiple of a huge page (2 MiB on x86-64),
 * so that the kernel may map the file's large page-cache folios whole
 * (one PMD entry each) instead of page by page. A mapping at an address
 * the kernel picked for the padded reservation, whose length is not a
 * multiple of it, was not so aligned; there, a GEMV over each 250 MB
 * block of a mapped input took 80 ms instead of 8 (TLB misses, dearer
 * under a hypervisor's nested page tables). */
#define MAPPED_ALIGN ((size_t)2 << 20)

/* One mapping. */
typedef struct MappedFile {
	char *base;   /* the reservation's start: the file's first byte */
	size_t size;  /* the file's bytes mapped there */
	size_t len;   /* the whole reservation, for munmap */
	char *name;   /* the file as the user gave it, for messages */
} MappedFile;

static struct {
	pthread_mutex_t lock; /* guards the rest */
	MappedFile *m;        /* the mappings */
	int n, cap;           /* entries used, and room */
} mapped = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* bytes rounded up to whole pages; 0 when that overflows. */
static size_t
mapped_pages(size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (bytes + page - 1) / page * page;

	return len < bytes ? 0 : len;
}

/* Records a mapping; -1 when out of memory. */
static int
mapped_add(char *base, size_t size, size_t len, const char *name)
{
	MappedFile *grown;
	char *copy = strdup(name);
	int rc = -1;

	pthread_mutex_lock(&mapped.lock);
	if (copy && mapped.n == mapped.cap) {
		int cap = mapped.cap ? 2 * mapped.cap : 8;
		grown = realloc(mapped.m, (size_t)cap * sizeof *grown);
		if (grown) {
			mapped.m = grown;
			mapped.cap = cap;
		}
	}
	if (copy && mapped.n < mapped.cap) {
		mapped.m[mapped.n++] = (MappedFile){base, size, len, copy};
		rc = 0;
	}
	pthread_mutex_unlock(&mapped.lock);
	if (rc != 0)
		free(copy);
	return rc;
}

/* An anonymous reservation of len bytes starting at a multiple of
 * MAPPED_ALIGN (more is reserved, and the slack around it given back);
 * NULL with errno when there is no room. */
static char *
mapped_reserve(size_t len, int prot)
{
	char *raw, *base;
	size_t extra = len + MAPPED_ALIGN < len ? 0 : len + MAPPED_ALIGN;

	if (extra == 0) {
		errno = EFBIG;
		return NULL;
	}
	raw = mmap(NULL, extra, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	base = (char *)(((uintptr_t)raw + MAPPED_ALIGN - 1) & ~(uintptr_t)(MAPPED_ALIGN - 1));
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	if (raw + extra > base + len)
		munmap(base + len, (size_t)(raw + extra - (base + len)));
	return base;
}

void *
trart_map_file(int fd, size_t size, bool writable, const char *name)
{
	size_t len = size + MAPPED_PAD < size ? 0 : mapped_pages(size + MAPPED_PAD);
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	char *base;
	int err;

	if (len == 0) {
		errno = EFBIG;
		return NULL;
	}
	base = mapped_reserve(len, prot);
	if (!base)
		return NULL;
	if (size > 0 && mmap(base, size, prot, MAP_FIXED |
	                     (writable ? MAP_SHARED : MAP_PRIVATE), fd, 0) == MAP_FAILED) {
		err = errno;
		munmap(base, len);
		errno = err;
		return NULL;
	}
	if (mapped_add(base, size, len, name) != 0) {
		munmap(base, len);
		errno = ENOMEM;
		return NULL;
	}
	return base;
}

void
trart_unmap_file(void *base)
{
	size_t len = 0;
	char *name = NULL;
	int i;

	pthread_mutex_lock(&mapped.lock);
	for (i = 0; i < mapped.n; i++)
		if (mapped.m[i].base == base) {
			len = mapped.m[i].len;
			name = mapped.m[i].name;
			mapped.m[i] = mapped.m[--mapped.n];
			break;
		}
	if (mapped.n == 0) { /* the last one: nothing is left to free later */
		free(mapped.m);
		mapped.m = NULL;
		mapped.cap = 0;
	}
	pthread_mutex_unlock(&mapped.lock);
	if (len > 0)
		munmap(base, len);
	free(name);
}

const char *
trart_mapped_find(const void *p, size_t *left)
{
	const char *c = p, *name = NULL;
	int i;

	pthread_mutex_lock(&mapped.lock);
	for (i = 0; i < mapped.n && !name; i++)
		if (c >= mapped.m[i].base && c < mapped.m[i].base + mapped.m[i].size) {
			name = mapped.m[i].name;
			if (left)
				*left = (size_t)(mapped.m[i].base + mapped.m[i].size - c);
		}
	pthread_mutex_unlock(&mapped.lock);
	return name;
}

