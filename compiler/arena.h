/* arena.h: bump allocation with the lifetime of a compilation.
 *
 * The compiler never frees individual objects: everything it builds (the
 * AST, the TRA graph, strings) lives in an arena that is released whole
 * when the compilation ends. Out of memory is a clean fatal error.
 */
#ifndef TRAC_ARENA_H
#define TRAC_ARENA_H

#include <stddef.h>

typedef struct ArenaChunk ArenaChunk;

/* An arena: a list of chunks, allocation bumps a pointer in the newest. */
typedef struct Arena {
	ArenaChunk *head; /* newest chunk, or NULL before the first allocation */
} Arena;

void *arena_alloc(Arena *a, size_t size);            /* zeroed, 16-aligned */
void *arena_grow(Arena *a, void *old, size_t oldsize, size_t newsize);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void arena_free(Arena *a);                           /* releases everything */

/* A growable array in an arena: ARENA_PUSH(arena, arr, n, cap) makes room
 * for one more element of arr (which has n used, cap allocated). */
#define ARENA_RESERVE(arena, arr, n, cap)                                     \
	do {                                                                  \
		if ((n) >= (cap)) {                                           \
			size_t newcap_ = (cap) ? 2 * (size_t)(cap) : 8;       \
			(arr) = arena_grow((arena), (arr),                    \
			                   (size_t)(cap) * sizeof *(arr),     \
			                   newcap_ * sizeof *(arr));          \
			(cap) = newcap_;                                      \
		}                                                             \
	} while (0)

#endif /* TRAC_ARENA_H */
