/* files.c: the files a run writes, all of them or none.
 *
 * A run's outputs (and a generated program's --trace) are one
 * transaction, shared by every generated program (cli.c) and by
 * `trac --interpret` (compiler/driver.c), so the two create, name and
 * clean up files identically and word every failure the same way:
 *
 *   trart_files_distinct   before anything runs: no two destinations
 *                          are one file (a usage error for the caller)
 *   trart_files_make_dir   mkdir -p the output directory, noting each
 *                          directory it creates
 *   trart_files_npy, ...   write each file under a fresh name beside its
 *                          destination (staging)
 *   trart_files_commit     rename every staged file onto its destination
 *   trart_files_free       remove what is still staged and, unless the
 *                          set was committed, the directories it made
 *
 * so a failed run leaves every destination as it was, no staged file,
 * and no directory it created (rmdir, which removes only empty ones).
 * Removing outputs already written instead would delete the user's file
 * when an output overwrites the file an input was read from.
 *
 * Messages name the file as the user spelled it, never the staged name:
 * "output Y: nodir/y.npy: cannot create: No such file or directory".
 *
 * A destination that is not a regular file (/dev/null, a FIFO) is written
 * in place, since a rename would replace it; such destinations are also
 * exempt from trart_files_distinct (two outputs to /dev/null are fine).
 * A symbolic link to a file is followed: the file it names is replaced,
 * not the link.
 *
 * Two destinations are the same file when both exist and are one inode,
 * or when their names resolve to the same absolute name: the longest
 * leading part of the directory that exists is resolved by realpath
 * (symbolic links, "..", "."), the rest, to be created by
 * trart_files_make_dir or missing, is normalised as text.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include "trart.h"
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __GNUC__
#define FILES_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FILES_PRINTF(f, a)
#endif

/* One file of the set. */
typedef struct FilesEntry {
	char *label; /* how messages name it: "output Y", "trace" */
	char *path;  /* the destination as the user spelled it */
	char *dest;  /* where it goes: path, or the file a symlink names */
	char *stage; /* the staged copy; NULL when renamed, or written in place */
} FilesEntry;

struct TrartFiles {
	FilesEntry *e;  /* the files staged so far */
	int n, cap;     /* entries used, and room */
	char **dirs;    /* directories trart_files_make_dir created, outer first */
	int ndirs;      /* entries of dirs */
	bool committed; /* trart_files_commit succeeded: keep the directories */
};

/* Formats a one-line message into err; returns -1. */
static int FILES_PRINTF(3, 4)
files_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

TrartFiles *
trart_files_new(void)
{
	return calloc(1, sizeof(TrartFiles));
}

/* ---- the same file ---- */

/* Appends the components of rel to the absolute name abs (of room
 * size), dropping "." and empty ones and popping for "..", as text. */
static void
files_join(char *abs, size_t size, const char *rel)
{
	size_t n = strlen(abs);

	while (*rel) {
		size_t len = strcspn(rel, "/");
		if (len == 2 && rel[0] == '.' && rel[1] == '.') {
			while (n > 1 && abs[n - 1] != '/')
				n--;
			if (n > 1)
				n--;
			abs[n] = '\0';
		} else if (len > 0 && !(len == 1 && rel[0] == '.') &&
		           n + len + 2 < size) {
			if (n > 1 || abs[0] != '/')
				abs[n++] = '/';
			memcpy(abs + n, rel, len);
			abs[n += len] = '\0';
		}
		rel += len;
		rel += *rel == '/';
	}
}

/* The absolute name path resolves to (see the top), malloc'ed; NULL
 * when out of memory. */
static char *
files_resolve(const char *path)
{
	size_t size = strlen(path) + 3;
	char *dir = malloc(size), *real = NULL, *abs;
	size_t cut;

	if (!dir)
		return NULL;
	snprintf(dir, size, "%s%s", path[0] == '/' ? "" : "./", path);
	if ((real = realpath(dir, NULL)) != NULL) { /* it exists: all links */
		free(dir);
		return real;
	}
	/* the longest existing leading directory (dir starts with "./" or
	 * "/", so one exists), then the rest as text */
	for (cut = strlen(dir); !real && cut-- > 0;)
		if (dir[cut] == '/') {
			dir[cut] = '\0';
			real = realpath(cut ? dir : "/", NULL);
			dir[cut] = '/';
		}
	size = (real ? strlen(real) : 1) + strlen(dir) + 2;
	abs = real ? malloc(size) : NULL;
	if (abs) {
		snprintf(abs, size, "%s", real);
		files_join(abs, size, dir + cut + 1);
	}
	free(real);
	free(dir);
	return abs;
}

/* Whether the destinations a and b, resolved to ra and rb, are one
 * file. Something other than a regular file is written in place and
 * may be shared: never the same. */
static bool
files_same(const char *a, const char *b, const char *ra, const char *rb)
{
	struct stat sa, sb;
	bool ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;

	if ((ea && !S_ISREG(sa.st_mode)) || (eb && !S_ISREG(sb.st_mode)))
		return false;
	if (ea && eb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
		return true;
	return ra && rb && strcmp(ra, rb) == 0;
}

int
trart_files_distinct(int n, const char *const *labels,
                     const char *const *paths, char *err, size_t errlen)
{
	char **real = calloc((size_t)n + 1, sizeof *real);
	int i, j, rc = 0;

	if (!real)
		return files_fail(err, errlen, "out of memory");
	for (i = 0; i < n; i++)
		real[i] = files_resolve(paths[i]);
	for (i = 0; i < n && rc == 0; i++)
		for (j = 0; j < i && rc == 0; j++)
			if (files_same(paths[j], paths[i], real[j], real[i]))
				rc = files_fail(err, errlen, "%s ('%s') and %s ('%s') "
				                "name the same file; each needs a file of its own",
				                labels[j], paths[j], labels[i], paths[i]);
	for (i = 0; i < n; i++)
		free(real[i]);
	free(real);
	return rc;
}

/* ---- directories ---- */

/* Notes that the set created dir. */
static int
files_note_dir(TrartFiles *fs, const char *dir)
{
	char **dirs = realloc(fs->dirs, (size_t)(fs->ndirs + 1) * sizeof *dirs);
	char *copy = strdup(dir);

	if (dirs)
		fs->dirs = dirs;
	if (!dirs || !copy) {
		free(copy);
		return -1;
	}
	fs->dirs[fs->ndirs++] = copy;
	return 0;
}

int
trart_files_make_dir(TrartFiles *fs, const char *dir, char *err,
                     size_t errlen)
{
	char *path = strdup(dir), *s;
	struct stat st;
	int ok = path != NULL;

	for (s = path ? path + 1 : NULL; ok; s++) {
		bool end = *s == '\0';
		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(path, 0777) == 0)
			ok = files_note_dir(fs, path) == 0;
		else
			ok = errno == EEXIST;
		if (end)
			break;
		*s = '/';
	}
	if (ok && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		ok = 0;
		errno = ENOTDIR;
	}
	free(path);
	if (!ok)
		return files_fail(err, errlen, "cannot create the output "
		                  "directory '%s': %s", dir, strerror(errno));
	return 0;
}

/* ---- staging ---- */

/* Creates a fresh file beside dest, exclusively so that no one else's
 * file is taken, with mode 0666 for the kernel to apply the umask; sets
 * *stage to its name. Returns the descriptor, or -1 with errno. */
static int
files_reserve(const char *dest, char **stage)
{
	size_t size = strlen(dest) + 40;
	unsigned attempt;
	int fd = -1;

	*stage = malloc(size);
	if (!*stage) {
		errno = ENOMEM;
		return -1;
	}
	for (attempt = 0; attempt < 100 && fd < 0; attempt++) {
		snprintf(*stage, size, "%s.stage%ld.%u", dest, (long)getpid(),
		         attempt);
		fd = open(*stage, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int saved = errno;
		free(*stage);
		*stage = NULL;
		errno = saved;
	}
	return fd;
}

/* A new entry for path: its destination, and a descriptor open on its
 * staged copy, or on path itself when that is not a regular file.
 * Returns the descriptor, or -1 with a message. */
static int
files_open(FilesEntry *e, const char *path, const char *label, char *err,
           size_t errlen)
{
	struct stat st;
	int fd;

	memset(e, 0, sizeof *e);
	e->label = strdup(label);
	e->path = strdup(path);
	if (!e->label || !e->path)
		return files_fail(err, errlen, "out of memory");
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return files_fail(err, errlen, "%s: %s: cannot open: %s", label,
			                  path, strerror(errno));
		return fd;
	}
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		e->dest = realpath(path, NULL);
	if (!e->dest && !(e->dest = strdup(path)))
		return files_fail(err, errlen, "out of memory");
	fd = files_reserve(e->dest, &e->stage);
	if (fd < 0)
		return files_fail(err, errlen, "%s: %s: cannot create: %s", label,
		                  path, strerror(errno));
	return fd;
}

int
trart_files_add(TrartFiles *fs, const char *path, const char *label,
                TrartWriter fill, const void *ctx, char *err, size_t errlen)
{
	FilesEntry *e;
	FILE *f;
	int fd, rc;

	if (fs->n == fs->cap) {
		int cap = fs->cap ? 2 * fs->cap : 8;
		FilesEntry *grown = realloc(fs->e, (size_t)cap * sizeof *grown);
		if (!grown)
			return files_fail(err, errlen, "out of memory");
		fs->e = grown;
		fs->cap = cap;
	}
	e = &fs->e[fs->n++];
	fd = files_open(e, path, label, err, errlen);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "wb");
	if (!f) {
		close(fd);
		return files_fail(err, errlen, "%s: %s: cannot write: %s", label,
		                  path, strerror(errno));
	}
	rc = fill(f, ctx);
	if (rc == 0)
		rc = fflush(f) == 0 && !ferror(f) ? 0 : -1;
	if (rc < 0)
		files_fail(err, errlen, "%s: %s: write failed: %s", label, path,
		           strerror(errno));
	if (fclose(f) != 0 && rc == 0) /* a full disk may show only here */
		rc = files_fail(err, errlen, "%s: %s: write failed: %s", label,
		                path, strerror(errno));
	return rc;
}

int
trart_files_commit(TrartFiles *fs, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < fs->n; i++) {
		FilesEntry *e = &fs->e[i];
		if (!e->stage)
			continue;
		if (rename(e->stage, e->dest) != 0)
			return files_fail(err, errlen, "%s: %s: cannot rename the "
			                  "written file onto it: %s", e->label,
			                  e->path, strerror(errno));
		free(e->stage);
		e->stage = NULL;
	}
	fs->committed = true;
	return 0;
}

void
trart_files_free(TrartFiles *fs)
{
	int i;

	if (!fs)
		return;
	for (i = 0; i < fs->n; i++) {
		if (fs->e[i].stage)
			unlink(fs->e[i].stage);
		free(fs->e[i].stage);
		free(fs->e[i].dest);
		free(fs->e[i].path);
		free(fs->e[i].label);
	}
	for (i = fs->ndirs; i-- > 0;) {
		if (!fs->committed)
			rmdir(fs->dirs[i]); /* only if empty: never the user's files */
		free(fs->dirs[i]);
	}
	free(fs->dirs);
	free(fs->e);
	free(fs);
}
