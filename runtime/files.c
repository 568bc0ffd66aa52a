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
 * A program that writes out of core (cli.c) stages its large outputs
 * before it computes them: trart_files_map creates the staged file with
 * its header, reserves its blocks, and maps it, and the kernels write
 * the data in place; trart_files_commit syncs and unmaps it, then
 * renames it like any other. Such a file exists during the whole run,
 * so a run that dies must not leave it behind: trart_files_guard
 * removes the staged files when the program ends on a fatal error (the
 * runtime's trart_fatal, through pool.c's hook) or on SIGINT, SIGTERM
 * or SIGHUP (a handler that unlinks them, async-signal-safely, and then
 * lets the signal end the program as it would have), and the
 * directories the set made with them. Only SIGKILL, and
 * the like, can leave one.
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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	char *map;   /* trart_files_map's: the staged file's mapping, or NULL */
	size_t mapsize; /* its bytes */
} FilesEntry;

struct TrartFiles {
	FilesEntry *e;  /* the files staged so far */
	int n, cap;     /* entries used, and room */
	char **dirs;    /* directories trart_files_make_dir created, outer first */
	int ndirs;      /* entries of dirs */
	bool committed; /* trart_files_commit succeeded: keep the directories */
};

static void files_make_begin(const TrartFiles *fs, sigset_t *old);
static void files_make_end(const TrartFiles *fs, const sigset_t *old);

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
		sigset_t old;
		files_make_begin(fs, &old);
		if (mkdir(path, 0777) == 0)
			ok = files_note_dir(fs, path) == 0;
		else
			ok = errno == EEXIST;
		files_make_end(fs, &old);
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
 * file is taken, with mode 0666 for the kernel to apply the umask, open
 * for access (O_WRONLY, or O_RDWR to map it); sets *stage to its name.
 * Returns the descriptor, or -1 with errno. */
static int
files_reserve(const char *dest, int access, char **stage)
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
		fd = open(*stage, access | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
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
 * staged copy (for access), or on path itself when that is not a
 * regular file. Returns the descriptor, or -1 with a message. */
static int
files_open(FilesEntry *e, const char *path, const char *label, int access,
           char *err, size_t errlen)
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
	fd = files_reserve(e->dest, access, &e->stage);
	if (fd < 0)
		return files_fail(err, errlen, "%s: %s: cannot create: %s", label,
		                  path, strerror(errno));
	return fd;
}

/* A new entry at the end of fs, zeroed; NULL when out of memory. */
static FilesEntry *
files_entry(TrartFiles *fs)
{
	if (fs->n == fs->cap) {
		int cap = fs->cap ? 2 * fs->cap : 8;
		FilesEntry *grown = realloc(fs->e, (size_t)cap * sizeof *grown);
		if (!grown)
			return NULL;
		fs->e = grown;
		fs->cap = cap;
	}
	memset(&fs->e[fs->n], 0, sizeof fs->e[fs->n]);
	return &fs->e[fs->n++];
}

int
trart_files_add(TrartFiles *fs, const char *path, const char *label,
                TrartWriter fill, const void *ctx, char *err, size_t errlen)
{
	FilesEntry *e = files_entry(fs);
	FILE *f;
	sigset_t old;
	int fd, rc;

	if (!e)
		return files_fail(err, errlen, "out of memory");
	files_make_begin(fs, &old);
	fd = files_open(e, path, label, O_WRONLY, err, errlen);
	files_make_end(fs, &old);
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

/* ---- staged files mapped ---- */

/* Writes all of the n bytes at p at the start of fd; an errno value. */
static int
files_write_at(int fd, const unsigned char *p, size_t n)
{
	off_t off = 0;

	while (n > 0) {
		ssize_t done = pwrite(fd, p, n, off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return done < 0 ? errno : ENOSPC;
		p += done;
		off += done;
		n -= (size_t)done;
	}
	return 0;
}

/* Makes e's staged file, open on fd, the header and then size bytes in
 * all, its blocks reserved, so that a full disk shows now and not as a
 * SIGBUS in the middle of a kernel (where the file system cannot
 * reserve, the file is only sized). */
static int
files_size(const FilesEntry *e, int fd, const unsigned char *header,
           size_t hlen, size_t size, char *err, size_t errlen)
{
	char text[32];
	int rc = EFBIG;

	/* Past a file size limit (ulimit -f) the kernel would send SIGXFSZ;
	 * ignored, the call fails with EFBIG, a one-line error (spill.c
	 * does the same). */
	signal(SIGXFSZ, SIG_IGN);
	if ((rc = files_write_at(fd, header, hlen)) != 0)
		return files_fail(err, errlen, "%s: %s: write failed: %s",
		                  e->label, e->path, strerror(rc));
	if ((size_t)(off_t)size == size) {
		rc = posix_fallocate(fd, 0, (off_t)size);
		if (rc == EOPNOTSUPP || rc == EINVAL)
			rc = ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
	}
	if (rc != 0)
		return files_fail(err, errlen, "%s: %s: cannot reserve %s: %s",
		                  e->label, e->path,
		                  trart_size_text(text, sizeof text, (double)size),
		                  strerror(rc));
	return 0;
}

int
trart_files_map(TrartFiles *fs, const char *path, const char *label,
                const unsigned char *header, size_t hlen, size_t bytes,
                void **data, char *err, size_t errlen)
{
	FilesEntry *e;
	struct stat st;
	sigset_t old;
	int fd, rc;

	*data = NULL;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return 1;
	if (bytes > SIZE_MAX - hlen)
		return files_fail(err, errlen, "%s: %s: too large to map", label, path);
	if (!(e = files_entry(fs)))
		return files_fail(err, errlen, "out of memory");
	files_make_begin(fs, &old);
	fd = files_open(e, path, label, O_RDWR, err, errlen);
	files_make_end(fs, &old);
	if (fd < 0)
		return -1;
	rc = e->stage ? 0 : files_fail(err, errlen, "%s: %s: not a regular "
	                               "file", label, path); /* it changed */
	if (rc == 0)
		rc = files_size(e, fd, header, hlen, hlen + bytes, err, errlen);
	if (rc == 0 && !(e->map = trart_map_file(fd, hlen + bytes, true, path)))
		rc = files_fail(err, errlen, "%s: %s: cannot map: %s", label,
		                path, strerror(errno));
	close(fd);
	if (rc != 0)
		return -1;
	e->mapsize = hlen + bytes;
	*data = e->map + hlen;
	return 0;
}

/* Writes e's mapping back to its staged file and unmaps it. */
static int
files_unmap(FilesEntry *e, char *err, size_t errlen)
{
	int rc = msync(e->map, e->mapsize, MS_SYNC);

	if (rc != 0)
		files_fail(err, errlen, "%s: %s: write failed: %s", e->label,
		           e->path, strerror(errno));
	trart_unmap_file(e->map);
	e->map = NULL;
	return rc;
}

int
trart_files_commit(TrartFiles *fs, char *err, size_t errlen)
{
	int i;

	/* every mapped file is written before any file is renamed */
	for (i = 0; i < fs->n; i++)
		if (fs->e[i].map && files_unmap(&fs->e[i], err, errlen) != 0)
			return -1;
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
		if (fs->e[i].map)
			trart_unmap_file(fs->e[i].map);
		if (fs->e[i].stage)
			unlink(fs->e[i].stage);
		free(fs->e[i].stage);
		free(fs->e[i].dest);
		free(fs->e[i].path);
		free(fs->e[i].label);
	}
	trart_files_unguard(fs); /* nothing staged is left to remove */
	for (i = fs->ndirs; i-- > 0;) {
		if (!fs->committed)
			rmdir(fs->dirs[i]); /* only if empty: never the user's files */
		free(fs->dirs[i]);
	}
	free(fs->dirs);
	free(fs->e);
	free(fs);
}

/* ---- the guard: no staged file outlives a run that dies ---- */

/* The signals that end a run from outside, whose default action is to
 * terminate: the guard removes the staged files first. */
static const int files_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define FILES_NSIGNALS (int)(sizeof files_signals / sizeof files_signals[0])

/* The guarded set's staged names and the directories it made (inner
 * first), copied (so that renaming and freeing entries cannot pull them
 * from under a handler), each NULL-terminated; and the actions the
 * handlers replaced. */
/* A file or directory of the guarded set is being made: set from just
 * before it is created until the handlers know its name. */
static atomic_int files_making;

static struct {
	atomic_flag busy;                     /* a set is guarded */
	const TrartFiles *owner;              /* which */
	_Atomic(char **) names;               /* the names, or NULL */
	_Atomic(char **) dirs;                /* the directories */
	char ***retired;                      /* copies replaced by newer ones, */
	int nretired;                         /* freed at unguard (a handler on
	                                         another thread may still read one) */
	bool installed[FILES_NSIGNALS];       /* a handler of ours is in place */
	struct sigaction old[FILES_NSIGNALS]; /* what it replaced */
} files_guard = {.busy = ATOMIC_FLAG_INIT};

/* Removes the guarded names, then the directories if empty: unlink
 * and rmdir only, async-signal-safe. A name already renamed onto its
 * destination is gone, and stays so (and its directory, not empty). */
static void
files_unlink_guarded(void)
{
	char **names = atomic_load(&files_guard.names);
	char **dirs = atomic_load(&files_guard.dirs);
	int i;

	for (i = 0; names && names[i]; i++)
		unlink(names[i]);
	for (i = 0; dirs && dirs[i]; i++)
		rmdir(dirs[i]);
}

/* A signal that ends the run: the staged files go, then the signal
 * takes its default action, as if the handler had not been there. The
 * signal is unblocked and raised again here, so that it ends the
 * process before the handler returns; should it come back anyway (a
 * sanitizer's runtime that defers signals may lose a raise made from a
 * handler it called), _exit gives the status a shell reports for it. */
static void
files_on_signal(int sig)
{
	struct sigaction dfl;
	sigset_t only;

	while (atomic_load(&files_making))
		; /* another thread is making a file: microseconds (files_make_begin) */
	files_unlink_guarded();
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&only);
	sigaddset(&only, sig);
	pthread_sigmask(SIG_UNBLOCK, &only, NULL);
	raise(sig);
	_exit(128 + sig);
}

/* Frees a NULL-terminated array of strings. */
static void
files_free_names(char **names)
{
	int i;

	for (i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

/* Copies the staged names of fs, NULL-terminated; NULL when out of
 * memory. */
static char **
files_copy_names(const TrartFiles *fs)
{
	char **names = calloc((size_t)fs->n + 1, sizeof *names);
	int i, n = 0;

	for (i = 0; names && i < fs->n; i++)
		if (fs->e[i].stage && !(names[n++] = strdup(fs->e[i].stage))) {
			files_free_names(names);
			return NULL;
		}
	return names;
}

/* Copies the directories fs made, inner first, NULL-terminated. */
static char **
files_copy_dirs(const TrartFiles *fs)
{
	char **dirs = calloc((size_t)fs->ndirs + 1, sizeof *dirs);
	int i;

	for (i = 0; dirs && i < fs->ndirs; i++)
		if (!(dirs[i] = strdup(fs->dirs[fs->ndirs - 1 - i]))) {
			files_free_names(dirs);
			return NULL;
		}
	return dirs;
}

/* Installs the handler for signal i, unless the signal is ignored (a
 * run under nohup, or in the background of a shell, should stay so). */
static void
files_catch(int i)
{
	struct sigaction sa;

	if (sigaction(files_signals[i], NULL, &files_guard.old[i]) != 0 ||
	    files_guard.old[i].sa_handler == SIG_IGN)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = files_on_signal;
	sigfillset(&sa.sa_mask); /* no other of them interrupts the unlinks */
	files_guard.installed[i] = sigaction(files_signals[i], &sa, NULL) == 0;
}

int
trart_files_guard(TrartFiles *fs)
{
	int i;

	char **names, **dirs;

	if (atomic_flag_test_and_set(&files_guard.busy))
		return -1;
	names = files_copy_names(fs);
	dirs = files_copy_dirs(fs);
	if (!names || !dirs) {
		files_free_names(names);
		files_free_names(dirs);
		atomic_flag_clear(&files_guard.busy);
		return -1;
	}
	atomic_store(&files_guard.names, names);
	atomic_store(&files_guard.dirs, dirs);
	files_guard.owner = fs;
	trart_set_fatal_hook(files_unlink_guarded);
	for (i = 0; i < FILES_NSIGNALS; i++)
		files_catch(i);
	return 0;
}

void
trart_files_unguard(const TrartFiles *fs)
{
	char **names = atomic_load(&files_guard.names);
	char **dirs = atomic_load(&files_guard.dirs);
	int i;

	if (!fs || !names || files_guard.owner != fs)
		return;
	files_guard.owner = NULL;
	for (i = 0; i < FILES_NSIGNALS; i++)
		if (files_guard.installed[i])
			sigaction(files_signals[i], &files_guard.old[i], NULL);
	memset(files_guard.installed, 0, sizeof files_guard.installed);
	trart_set_fatal_hook(NULL);
	atomic_store(&files_guard.names, NULL);
	atomic_store(&files_guard.dirs, NULL);
	files_free_names(names);
	files_free_names(dirs);
	for (i = 0; i < files_guard.nretired; i++)
		files_free_names(files_guard.retired[i]);
	free(files_guard.retired);
	files_guard.retired = NULL;
	files_guard.nretired = 0;
	atomic_flag_clear(&files_guard.busy);
}

/* Keeps the copies in use, names and dirs, until unguard (a handler on
 * another thread may still read them): false when there is no room to,
 * and nothing is kept. */
static bool
files_retire(char **names, char **dirs)
{
	char ***grown = realloc(files_guard.retired,
	                        (size_t)(files_guard.nretired + 2) * sizeof *grown);

	if (!grown)
		return false;
	files_guard.retired = grown;
	files_guard.retired[files_guard.nretired++] = names;
	files_guard.retired[files_guard.nretired++] = dirs;
	return true;
}

/* A guarded set has a new staged file or directory: the handlers see it
 * from now on (out of memory, they keep the lists they had). */
static void
files_guard_refresh(const TrartFiles *fs)
{
	char **names, **dirs;

	if (files_guard.owner != fs || !fs)
		return;
	names = files_copy_names(fs);
	dirs = files_copy_dirs(fs);
	if (names && dirs && files_retire(atomic_load(&files_guard.names),
	                                  atomic_load(&files_guard.dirs))) {
		atomic_store(&files_guard.names, names);
		atomic_store(&files_guard.dirs, dirs);
		return;
	}
	files_free_names(names);
	files_free_names(dirs);
}

/* A set is guarded before anything of it is made (cli.c), and each file
 * or directory is made between these two: this thread holds the
 * signals meanwhile (one it takes is handled after, with the name
 * known), and a handler on another thread (any may take a signal:
 * OpenBLAS's threads block none) waits for the name (files_on_signal).
 * So a signal in the middle of staging leaves nothing. Outside a
 * guarded set, they do nothing. */
static void
files_make_begin(const TrartFiles *fs, sigset_t *old)
{
	sigset_t hold;
	int i;

	if (files_guard.owner != fs || !fs)
		return;
	sigemptyset(&hold);
	for (i = 0; i < FILES_NSIGNALS; i++)
		sigaddset(&hold, files_signals[i]);
	pthread_sigmask(SIG_BLOCK, &hold, old);
	atomic_store(&files_making, 1);
}

static void
files_make_end(const TrartFiles *fs, const sigset_t *old)
{
	if (files_guard.owner != fs || !fs)
		return;
	files_guard_refresh(fs);
	atomic_store(&files_making, 0);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}
