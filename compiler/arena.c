/* arena.c: bump allocation (see arena.h).
 *
 * Chunks double in size up to 1 MiB; a request larger than a chunk gets a
 * chunk of its own. arena_grow reallocates only by copying, since old
 * storage cannot be returned; growable arrays double, so the copies cost
 * at most as much again as the final array.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ArenaChunk {
	ArenaChunk *next; /* older chunk */
	size_t size;      /* bytes usable in data */
	size_t used;      /* bytes handed out */
	_Alignas(16) unsigned char data[];
};

enum { ARENA_MIN_CHUNK = 4096, ARENA_MAX_CHUNK = 1 << 20 };

static ArenaChunk *arena_new_chunk(Arena *a, size_t need)
{
	size_t size = a->head ? a->head->size * 2 : ARENA_MIN_CHUNK;
	if (size > ARENA_MAX_CHUNK)
		size = ARENA_MAX_CHUNK;
	if (size < need)
		size = need;
	ArenaChunk *c = xmalloc(sizeof *c + size);
	c->next = a->head;
	c->size = size;
	c->used = 0;
	a->head = c;
	return c;
}

void *arena_alloc(Arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	ArenaChunk *c = a->head;
	if (!c || c->size - c->used < size)
		c = arena_new_chunk(a, size);
	void *p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

void *arena_grow(Arena *a, void *old, size_t oldsize, size_t newsize)
{
	void *p = arena_alloc(a, newsize);
	if (old && oldsize)
		memcpy(p, old, oldsize < newsize ? oldsize : newsize);
	return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		trac_internal_error(__FILE__, __LINE__, "bad format '%s'", fmt);
	char *p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void arena_free(Arena *a)
{
	while (a->head) {
		ArenaChunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}
