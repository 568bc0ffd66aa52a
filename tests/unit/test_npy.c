/* test_npy.c: Check tests for the runtime's .npy reader and writer and
 * its random fill.
 *
 * The reader is the part of trac that meets untrusted bytes, so most of
 * these tests are about errors: each class of bad file must give -1, no
 * data, and one line of text that names the tensor, the path and the
 * problem. The last tests feed every truncation and a few hundred seeded
 * corruptions of a good file and ask only that the reader answers
 * without crashing (ASan and valgrind do the rest).
 *
 * The writer is compared byte for byte with headers NumPy 1.24 writes
 * (the dict texts and sizes below came from numpy.lib.format), and the
 * random fill with values computed by tests/trart_random.py, so the C
 * and the Python reimplementation cannot drift apart.
 *
 * The tests work under a fresh directory "./npy-test-XXXXXX" in the
 * current directory (the build tree, which need not be the source tree):
 * each test in its own subdirectory, so it can count what a failed write
 * left behind. main removes the whole tree at the end, because a test
 * that fails exits its process before its teardown can run.
 */
#define _POSIX_C_SOURCE 200809L

#include "trart.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "input X" /* the decorated tensor name errors must carry */

static char top_dir[32];   /* all tests' scratch space, made by main */
static char test_dir[64];  /* this test's subdirectory of it */

/* ---- Helpers ---- */

static void
setup(void)
{
	snprintf(test_dir, sizeof test_dir, "%s/t-XXXXXX", top_dir);
	ck_assert_msg(mkdtemp(test_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Counts the entries of a directory other than . and .., removing them
 * (and what is in them) as it goes if asked. */
static int
dir_entries(const char *dir, int remove)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (remove && unlink(path) < 0) {
			dir_entries(path, 1);
			rmdir(path);
		}
	}
	closedir(d);
	return n;
}

static void
teardown(void)
{
	dir_entries(test_dir, 1);
	rmdir(test_dir);
}

/* The path of file in the scratch directory, in a static buffer (one of
 * two, so a test may hold two paths). */
static const char *
in_dir(const char *file)
{
	static char buf[2][512];
	static int which;

	which = !which;
	snprintf(buf[which], sizeof buf[which], "%s/%s", test_dir, file);
	return buf[which];
}

static void
write_bytes(const char *path, const void *bytes, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole file at path, malloc'ed; its size in *n. */
static unsigned char *
read_bytes(const char *path, size_t *n)
{
	unsigned char *buf = malloc(1 << 16);
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	*n = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

/* Builds a .npy file by hand into out: magic, version major.0, the
 * header text as given (no padding), then datalen bytes 0x3f. Returns
 * its size. */
static size_t
build_npy(unsigned char *out, int major, const char *header, size_t datalen)
{
	size_t hlen = strlen(header), p = 8, i;

	memcpy(out, "\x93NUMPY", 6);
	out[6] = (unsigned char)major;
	out[7] = 0;
	for (i = 0; i < (major == 1 ? 2u : 4u); i++)
		out[p++] = (unsigned char)(hlen >> (8 * i));
	memcpy(out + p, header, hlen);
	memset(out + p + hlen, 0x3f, datalen);
	return p + hlen + datalen;
}

/* Asserts a failed read: -1, no data, and a one-line message that
 * starts "input X: PATH: " and contains phrase. */
static void
assert_read_error(int rc, void *data, const char *err, const char *path,
                  const char *phrase)
{
	char prefix[600];

	snprintf(prefix, sizeof prefix, "%s: %s: ", NAME, path);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_null(data);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	              "message \"%s\" does not start with \"%s\"", err, prefix);
	ck_assert_msg(strstr(err, phrase) != NULL,
	              "message \"%s\" lacks \"%s\"", err, phrase);
	ck_assert_msg(strchr(err, '\n') == NULL, "message has a newline: %s", err);
}

/* ---- Round trips ---- */

/* A dtype and shape for the loop tests. */
typedef struct ShapeCase {
	TrartDtype t;
	int rank;
	int64_t shape[TRART_MAX_RANK];
} ShapeCase;

static const ShapeCase round_trips[] = {
	{TRART_F32, 0, {0}},
	{TRART_F32, 1, {5}},
	{TRART_F32, 3, {2, 3, 4}},
	{TRART_F64, 0, {0}},
	{TRART_F64, 1, {7}},
	{TRART_F64, 3, {4, 1, 3}},
	{TRART_F32, 2, {0, 3}}, /* no elements at all */
};

static size_t
elements(int rank, const int64_t *shape)
{
	size_t n = 1;
	int i;

	for (i = 0; i < rank; i++)
		n *= (size_t)shape[i];
	return n;
}

/* Writes random data, reads it back bit for bit, and checks the header
 * ends on a 64-byte boundary with '\n' as NumPy requires. */
START_TEST(test_round_trip)
{
	const ShapeCase *sc = &round_trips[_i];
	size_t n = elements(sc->rank, sc->shape), bytes, size, hlen;
	char err[TRART_ERRLEN];
	void *in = malloc(n * 8 + 1), *out = NULL;
	unsigned char *file;
	const char *path = in_dir("rt.npy");

	trart_random_fill(in, sc->t, n, 1, "rt");
	ck_assert_int_eq(trart_npy_write(path, "output Y", sc->t, sc->rank,
	                                 sc->shape, in, err, sizeof err), 0);
	ck_assert_msg(trart_npy_read(path, NAME, sc->t, sc->rank, sc->shape,
	                             &out, err, sizeof err) == 0, "%s", err);
	bytes = n * trart_dtype_size(sc->t);
	ck_assert(bytes == 0 || memcmp(in, out, bytes) == 0);
	file = read_bytes(path, &size);
	hlen = (size_t)file[8] | (size_t)file[9] << 8;
	ck_assert_uint_eq((10 + hlen) % 64, 0);
	ck_assert_uint_eq(size, 10 + hlen + bytes);
	ck_assert_int_eq(file[10 + hlen - 1], '\n');
	free(file);
	free(in);
	free(out);
}
END_TEST

/* ---- Headers byte-exact with NumPy ---- */

/* A header NumPy 1.24 writes: its dict text (before the padding) and
 * the total size of magic, length and header. */
typedef struct HeaderCase {
	ShapeCase s;
	const char *dict;
	size_t total;
} HeaderCase;

static const HeaderCase numpy_headers[] = {
	{{TRART_F32, 2, {2, 3}},
	 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 128},
	{{TRART_F64, 0, {0}},
	 "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 128},
	{{TRART_F32, 1, {5}},
	 "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 128},
	/* (a 0 somewhere keeps these files small) */
	{{TRART_F32, 16, {1, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
	 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0, 3, 4, 5, "
	 "6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), }", 192},
	/* the growth spaces alone push this one from 128 to 192 */
	{{TRART_F32, 15, {1, 0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}},
	 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0, 7, 7, 7, "
	 "7, 7, 7, 7, 7, 7, 7, 7, 7, 7), }", 192},
	/* already aligned before padding: NumPy pads a full 64 */
	{{TRART_F32, 14, {5, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 105}},
	 "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 0, 3, 3, 3, "
	 "3, 3, 3, 3, 3, 3, 3, 3, 105), }", 192},
	/* a long first axis gets fewer growth spaces */
	{{TRART_F64, 4, {123456789012, 0, 1, 1}},
	 "{'descr': '<f8', 'fortran_order': False, 'shape': (123456789012, "
	 "0, 1, 1), }", 128},
};

/* The header must be exactly magic, version 1.0, length, dict, spaces
 * and '\n'. */
START_TEST(test_header_matches_numpy)
{
	const HeaderCase *hc = &numpy_headers[_i];
	char err[TRART_ERRLEN], expect[512];
	size_t n = elements(hc->s.rank, hc->s.shape), size, dlen = strlen(hc->dict);
	unsigned char *file;
	void *data;
	const char *path = in_dir("h.npy");

	data = calloc(n + 1, 8);
	ck_assert_int_eq(trart_npy_write(path, "output Y", hc->s.t, hc->s.rank,
	                                 hc->s.shape, data, err, sizeof err), 0);
	file = read_bytes(path, &size);
	memcpy(expect, "\x93NUMPY\x01\x00", 8);
	expect[8] = (char)((hc->total - 10) & 0xff);
	expect[9] = (char)((hc->total - 10) >> 8);
	memcpy(expect + 10, hc->dict, dlen);
	memset(expect + 10 + dlen, ' ', hc->total - 10 - dlen - 1);
	expect[hc->total - 1] = '\n';
	ck_assert_uint_ge(size, hc->total);
	ck_assert_msg(memcmp(file, expect, hc->total) == 0, "header differs: %.*s",
	              (int)(hc->total - 10), (const char *)file + 10);
	free(file);
	free(data);
}
END_TEST

/* A shape whose byte count overflows is refused before anything is
 * created. */
START_TEST(test_header_huge_shape)
{
	int64_t shape[3] = {INT64_MAX, INT64_MAX, 2};
	char err[TRART_ERRLEN];
	float x = 0;
	const char *path = in_dir("huge.npy");

	ck_assert_int_eq(trart_npy_write(path, "output Y", TRART_F32, 3, shape,
	                                 &x, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "output Y: ") == err, "%s", err);
	ck_assert_msg(strstr(err, "shape (9223372036854775807, "
	                     "9223372036854775807, 2) is too large"), "%s", err);
	ck_assert_int_eq(dir_entries(test_dir, 0), 0);
}
END_TEST

/* ---- Reading hand-built files ---- */

/* A header text that must read as '<f4' (2, 3), and its version. */
typedef struct GoodCase {
	int major;
	const char *header;
} GoodCase;

static const GoodCase good_headers[] = {
	{1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"},
	{2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"},
	{3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"},
	/* other key orders, double quotes, no trailing comma, no padding */
	{1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}"},
	{1, "{\"fortran_order\": False, \"shape\": (2, 3), \"descr\": \"<f4\"}"},
	/* whitespace anywhere Python allows it */
	{1, "  {\n\t'descr'\t:\r\n'<f4' ,'shape':(\n2 ,3 ,\n) ,"
	    "'fortran_order':False,}\n\n  \n"},
	/* Python 2 wrote long integers with an L */
	{1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"},
};

START_TEST(test_read_handbuilt)
{
	const GoodCase *gc = &good_headers[_i];
	int64_t shape[2] = {2, 3};
	unsigned char file[512];
	char err[TRART_ERRLEN];
	void *data = NULL;
	const char *path = in_dir("in.npy");
	size_t i;

	write_bytes(path, file, build_npy(file, gc->major, gc->header, 24));
	ck_assert_msg(trart_npy_read(path, NAME, TRART_F32, 2, shape, &data,
	                             err, sizeof err) == 0, "%s", err);
	for (i = 0; i < 24; i++)
		ck_assert_int_eq(((unsigned char *)data)[i], 0x3f);
	free(data);
}
END_TEST

/* A scalar takes a 0-d array, and the one-element (1,) that
 * np.save(np.array([x])) writes: the same four bytes. */
START_TEST(test_read_scalar_shapes)
{
	static const char *const headers[] = {
		"{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
	};
	unsigned char file[512];
	char err[TRART_ERRLEN];
	void *data = NULL;
	const char *path = in_dir("s.npy");

	write_bytes(path, file, build_npy(file, 1, headers[_i], 4));
	ck_assert_msg(trart_npy_read(path, NAME, TRART_F32, 0, NULL, &data, err,
	                             sizeof err) == 0, "%s", err);
	ck_assert_int_eq(((unsigned char *)data)[0], 0x3f);
	free(data);
}
END_TEST

/* ---- Errors in the header and data ---- */

/* A bad file: its header, data size, what the program declares, and a
 * phrase the message must contain. */
typedef struct BadCase {
	const char *header;
	size_t datalen;
	ShapeCase want;
	const char *phrase;
} BadCase;

#define F32_23 {TRART_F32, 2, {2, 3}}
#define F64_23 {TRART_F64, 2, {2, 3}}
#define HDR(descr, fortran, shape) \
	"{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " \
	shape ", }"

static const BadCase bad_files[] = {
	{HDR(">f4", "False", "(2, 3)"), 24, F32_23,
	 "dtype '>f4' has the wrong byte order; expected little-endian '<f4'"},
	{HDR(">f8", "False", "(2, 3)"), 48, F64_23,
	 "dtype '>f8' has the wrong byte order; expected little-endian '<f8'"},
	{HDR(">f4", "False", "(2, 3)"), 24, F32_23,
	 "(convert the array with .astype('<f4'))"},
	{HDR("<i8", "False", "(2, 3)"), 48, F32_23,
	 "dtype '<i8' does not match the declared '<f4' (f32); convert the "
	 "array with .astype(np.float32)"},
	{HDR("<f2", "False", "(2, 3)"), 12, F64_23,
	 "dtype '<f2' does not match the declared '<f8' (f64)"},
	{HDR("<f4", "False", "(2, 3)"), 24, F64_23,
	 "dtype '<f4' does not match the declared '<f8' (f64); convert the "
	 "array with .astype(np.float64)"},
	{HDR("<f8", "False", "(2, 3)"), 48, F32_23,
	 "dtype '<f8' does not match the declared '<f4' (f32); convert the "
	 "array with .astype(np.float32)"},
	{HDR("<f4\n", "False", "(2, 3)"), 24, F32_23, /* escaped, one line */
	 "dtype '<f4\\x0a' does not match"},
	{HDR("<f4", "True", "(2, 3)"), 24, F32_23,
	 "array is in Fortran order; expected C order"},
	{HDR("<f4", "False", "(3, 5)"), 60, {TRART_F32, 2, {4, 5}},
	 "shape (3, 5) does not match the declared (4, 5)"},
	{HDR("<f4", "False", "(20,)"), 80, {TRART_F32, 2, {4, 5}},
	 "shape (20,) does not match the declared (4, 5)"},
	{HDR("<f4", "False", "()"), 4, {TRART_F32, 1, {1}},
	 "shape () does not match the declared (1,)"},
	{HDR("<f4", "False", "(1, 1)"), 4, {TRART_F32, 0, {0}},
	 "shape (1, 1) does not match the declared () (a scalar: shape () or "
	 "(1,))"},
	{HDR("<f4", "False", "(2,)"), 8, {TRART_F32, 0, {0}},
	 "shape (2,) does not match the declared () (a scalar"},
	{HDR("<f4", "False", "(4, 5)"), 12, {TRART_F32, 2, {4, 5}},
	 "truncated: expected 80 bytes of data, found 12"},
	{HDR("<f4", "False", "(2, 3)"), 0, F32_23,
	 "truncated: expected 24 bytes of data, found 0"},
	{HDR("<f4", "False", "(2, 3)"), 28, F32_23,
	 "trailing data: expected 24 bytes of data, found 28"},
	{HDR("<f4", "False", "(4294967296, 4294967296, 4294967296)"), 0,
	 {TRART_F32, 3, {4294967296, 4294967296, 4294967296}},
	 "shape (4294967296, 4294967296, 4294967296) is too large"},
	{HDR("<f4", "False", "(99999999999999999999,)"), 0, F32_23,
	 "malformed header: dimension too large at byte"},
	{HDR("<f4", "False", "(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17)"), 0,
	 F32_23, "shape has more than 16 dimensions"},
	{HDR("<f4", "False", "(-2, 3)"), 24, F32_23,
	 "malformed header: expected a dimension at byte"},
	{HDR("<f4", "False", "[2, 3]"), 24, F32_23,
	 "malformed header: expected a tuple for 'shape' at byte"},
	{HDR("<f4", "False", "(2 3)"), 24, F32_23,
	 "malformed header: expected ',' or ')' in 'shape' at byte"},
	{HDR("<f4", "0", "(2, 3)"), 24, F32_23,
	 "malformed header: expected True or False for 'fortran_order' at byte"},
	{HDR("<f4", "Falsey", "(2, 3)"), 24, F32_23,
	 "malformed header: expected True or False"},
	{"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24,
	 F32_23, "malformed header: expected ':' after a key at byte 19"},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 24, F32_23,
	 "malformed header: expected ',' or '}' at byte"},
	{"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }", 24, F32_23,
	 "malformed header: expected ',' or '}' at byte 27"},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'descr", 24,
	 F32_23, "malformed header: expected the end of a string"},
	{"{'descr': '<f4', 'fortran_order': False, }", 24, F32_23,
	 "malformed header: no 'shape' key"},
	{"{'shape': (2, 3), 'fortran_order': False}", 24, F32_23,
	 "malformed header: no 'descr' key"},
	{"{'descr': '<f4', 'shape': (2, 3)}", 24, F32_23,
	 "malformed header: no 'fortran_order' key"},
	{"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
	 "'shape': (2, 3)}", 24, F32_23,
	 "malformed header: key 'descr' appears twice"},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24,
	 F32_23, "malformed header: unexpected key 'x'"},
	{HDR("<f4", "False", "(2, 3)") " junk", 24, F32_23,
	 "malformed header: expected the end of the header at byte"},
	{"[1, 2]", 24, F32_23, "malformed header: expected '{' at byte 10"},
	{"", 24, F32_23, "malformed header: expected '{'"},
	{"{,}", 24, F32_23, "malformed header: expected a quoted string"},
};

START_TEST(test_read_bad_file)
{
	const BadCase *bc = &bad_files[_i];
	unsigned char file[1024];
	char err[TRART_ERRLEN];
	void *data = (void *)1;
	const char *path = in_dir("bad.npy");
	int rc;

	write_bytes(path, file, build_npy(file, 1, bc->header, bc->datalen));
	rc = trart_npy_read(path, NAME, bc->want.t, bc->want.rank, bc->want.shape,
	                    &data, err, sizeof err);
	assert_read_error(rc, data, err, path, bc->phrase);
}
END_TEST

/* ---- Errors before the header ---- */

/* Raw bytes of a bad file and the phrase its message must contain. */
typedef struct RawCase {
	const char *bytes;
	size_t len;
	const char *phrase;
} RawCase;

#define RAW(s) s, sizeof s - 1

static const RawCase raw_files[] = {
	{RAW(""), "not a .npy file (no \\x93NUMPY magic string)"},
	{RAW("PK\x03\x04 a zip file"), "not a .npy file"},
	{RAW("\x93NUMP"), "not a .npy file"},
	{RAW("\x93NUMPY\x01"), "truncated header: the file ends after 7 bytes"},
	{RAW("\x93NUMPY\x01\x00\x40"),
	 "truncated header: the file ends after 9 bytes"},
	{RAW("\x93NUMPY\x01\x00\x40\x00{'descr'"),
	 "truncated header: the file ends after 18 bytes"},
	{RAW("\x93NUMPY\x02\x00\x40\x00\x00"),
	 "truncated header: the file ends after 11 bytes"},
	{RAW("\x93NUMPY\x04\x00\x40\x00"),
	 "unsupported .npy version 4.0 (expected 1.0, 2.0 or 3.0)"},
	{RAW("\x93NUMPY\x01\x01\x40\x00"), "unsupported .npy version 1.1"},
	{RAW("\x93NUMPY\x00\x00\x40\x00"), "unsupported .npy version 0.0"},
	{RAW("\x93NUMPY\x02\x00\xff\xff\xff\xff{"),
	 "header length 4294967295 is implausibly large"},
};

START_TEST(test_read_bad_preamble)
{
	const RawCase *raw = &raw_files[_i];
	int64_t shape[2] = {2, 3};
	char err[TRART_ERRLEN];
	void *data = (void *)1;
	const char *path = in_dir("raw.npy");

	int rc;

	write_bytes(path, raw->bytes, raw->len);
	rc = trart_npy_read(path, NAME, TRART_F32, 2, shape, &data, err,
	                    sizeof err);
	assert_read_error(rc, data, err, path, raw->phrase);
}
END_TEST

START_TEST(test_read_cannot_open)
{
	int64_t shape[1] = {3};
	char err[TRART_ERRLEN];
	void *data = (void *)1;
	const char *path = in_dir("missing.npy");
	int rc = trart_npy_read(path, NAME, TRART_F32, 1, shape, &data, err,
	                        sizeof err);

	assert_read_error(rc, data, err, path,
	                  "cannot open: No such file or directory");
}
END_TEST

START_TEST(test_read_directory)
{
	int64_t shape[1] = {3};
	char err[TRART_ERRLEN];
	void *data = (void *)1;
	int rc = trart_npy_read(test_dir, NAME, TRART_F32, 1, shape, &data, err,
	                        sizeof err);

	assert_read_error(rc, data, err, test_dir, "read error: Is a directory");
}
END_TEST

/* A tiny error buffer truncates the message but must not overflow, and
 * no buffer at all is allowed. */
START_TEST(test_read_small_err_buffer)
{
	int64_t shape[1] = {3};
	char err[8];
	void *data = (void *)1;

	memset(err, 'z', sizeof err);
	ck_assert_int_eq(trart_npy_read(in_dir("missing.npy"), NAME, TRART_F32,
	                                 1, shape, &data, err, 4), -1);
	ck_assert_str_eq(err, "inp");
	ck_assert_int_eq(err[4], 'z');
	ck_assert_int_eq(trart_npy_read(in_dir("missing.npy"), NAME, TRART_F32,
	                                 1, shape, &data, NULL, 0), -1);
}
END_TEST

/* ---- Writing ---- */

START_TEST(test_write_missing_directory)
{
	int64_t shape[1] = {3};
	float x[3] = {1, 2, 3};
	char err[TRART_ERRLEN], expect[600];
	const char *path = in_dir("nope/out.npy");
	struct stat st;

	ck_assert_int_eq(trart_npy_write(path, "output Y", TRART_F32, 1, shape, x,
	                                 err, sizeof err), -1);
	snprintf(expect, sizeof expect, "output Y: %s: cannot create: No such "
	         "file or directory", path);
	ck_assert_str_eq(err, expect);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(dir_entries(test_dir, 0), 0);
}
END_TEST

/* A file size limit makes write() fail part way, as a full disk would:
 * the error must say so and leave neither the file nor the temporary. */
START_TEST(test_write_short_write)
{
	static float x[4096];
	int64_t shape[1] = {4096};
	struct rlimit old, tiny;
	char err[TRART_ERRLEN];
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	int rc;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	tiny = old;
	tiny.rlim_cur = 1000;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	rc = trart_npy_write(in_dir("big.npy"), "output Y", TRART_F32, 1, shape,
	                     x, err, sizeof err);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, oldsig);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, "write failed: File too large"), "%s", err);
	ck_assert_int_eq(dir_entries(test_dir, 0), 0);
}
END_TEST

/* Writing onto a directory fails cleanly: no temporary left, the
 * directory stays. */
START_TEST(test_write_onto_directory)
{
	int64_t shape[1] = {3};
	float x[3] = {1, 2, 3};
	char err[TRART_ERRLEN];
	const char *path = in_dir("sub");
	struct stat st;

	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(trart_npy_write(path, "output Y", TRART_F32, 1, shape, x,
	                                 err, sizeof err), -1);
	ck_assert_msg(strstr(err, "Is a directory"), "%s", err);
	ck_assert_int_eq(dir_entries(test_dir, 0), 1);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
}
END_TEST

/* The result gets 0666 less the umask, like any file the user creates. */
START_TEST(test_write_mode_follows_umask)
{
	static const mode_t masks[] = {022, 077, 002};
	int64_t shape[1] = {1};
	float x = 1;
	char err[TRART_ERRLEN];
	struct stat st;
	mode_t old = umask(022);
	size_t i;

	for (i = 0; i < sizeof masks / sizeof *masks; i++) {
		umask(masks[i]);
		ck_assert_int_eq(trart_npy_write(in_dir("m.npy"), "output Y",
		                 TRART_F32, 1, shape, &x, err, sizeof err), 0);
		ck_assert_int_eq(stat(in_dir("m.npy"), &st), 0);
		ck_assert_int_eq(st.st_mode & 0777, 0666 & ~masks[i]);
	}
	umask(old);
}
END_TEST

/* Writing over an existing file replaces it whole. */
START_TEST(test_write_replaces)
{
	int64_t three[1] = {3}, one[1] = {1};
	double a[3] = {1, 2, 3}, b = 4;
	char err[TRART_ERRLEN];
	void *data = NULL;
	const char *path = in_dir("r.npy");

	ck_assert_int_eq(trart_npy_write(path, "output Y", TRART_F64, 1, three,
	                                 a, err, sizeof err), 0);
	ck_assert_int_eq(trart_npy_write(path, "output Y", TRART_F64, 1, one,
	                                 &b, err, sizeof err), 0);
	ck_assert_msg(trart_npy_read(path, NAME, TRART_F64, 1, one, &data, err,
	                             sizeof err) == 0, "%s", err);
	ck_assert(*(double *)data == 4.0);
	ck_assert_int_eq(dir_entries(test_dir, 0), 1);
	free(data);
}
END_TEST

START_TEST(test_write_bad_shape)
{
	int64_t shape[2] = {2, -1};
	float x = 0;
	char err[TRART_ERRLEN];

	ck_assert_int_eq(trart_npy_write(in_dir("s.npy"), "output Y", TRART_F32,
	                                 2, shape, &x, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "shape (2, -1) has a negative dimension"),
	              "%s", err);
	ck_assert_int_eq(trart_npy_write(in_dir("s.npy"), "output Y", TRART_F32,
	                                 17, shape, &x, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "invalid rank 17"), "%s", err);
	ck_assert_int_eq(dir_entries(test_dir, 0), 0);
}
END_TEST

/* ---- The random fill ---- */

START_TEST(test_random_deterministic)
{
	float a[1000], b[1000], prefix[10];
	double d[1000], scaled;
	size_t k;

	trart_random_fill(a, TRART_F32, 1000, 42, "A");
	trart_random_fill(b, TRART_F32, 1000, 42, "A");
	ck_assert(memcmp(a, b, sizeof a) == 0);
	trart_random_fill(prefix, TRART_F32, 10, 42, "A");
	ck_assert(memcmp(a, prefix, sizeof prefix) == 0);
	for (k = 0; k < 1000; k++) {
		ck_assert(a[k] >= -1.0f && a[k] < 1.0f);
		scaled = (double)a[k] * 0x1p23; /* a multiple of 2^-23 */
		ck_assert(scaled == (double)(int64_t)scaled);
	}
	trart_random_fill(d, TRART_F64, 1000, 42, "A");
	for (k = 0; k < 1000; k++)
		ck_assert(d[k] >= -1.0 && d[k] < 1.0);
}
END_TEST

START_TEST(test_random_differs)
{
	float a[64], b[64], c[64];

	trart_random_fill(a, TRART_F32, 64, 42, "A");
	trart_random_fill(b, TRART_F32, 64, 42, "B");
	trart_random_fill(c, TRART_F32, 64, 43, "A");
	ck_assert(memcmp(a, b, sizeof a) != 0);
	ck_assert(memcmp(a, c, sizeof a) != 0);
	ck_assert(memcmp(b, c, sizeof a) != 0);
}
END_TEST

/* Uniform on [-1, 1): mean near 0, variance near 1/3, both ends hit. */
START_TEST(test_random_distribution)
{
	enum { N = 100000 };
	static double d[N];
	double sum = 0, sq = 0, lo = 1, hi = -1;
	size_t k;

	trart_random_fill(d, TRART_F64, N, 7, "dist");
	for (k = 0; k < N; k++) {
		sum += d[k];
		sq += d[k] * d[k];
		lo = d[k] < lo ? d[k] : lo;
		hi = d[k] > hi ? d[k] : hi;
	}
	ck_assert(sum / N > -0.01 && sum / N < 0.01);
	ck_assert(sq / N - 1.0 / 3 > -0.01 && sq / N - 1.0 / 3 < 0.01);
	ck_assert(lo < -0.999 && hi > 0.999);
}
END_TEST

/* Values from tests/trart_random.py: C and Python must agree exactly. */
START_TEST(test_random_reference)
{
	static const float a_ref[6] = {
		0x1.c1fd58p-1f, 0x1.596054p-1f, -0x1.0aa328p-2f,
		-0x1.3a5f30p-2f, 0x1.52fcb0p-2f, -0x1.dd4ab4p-1f,
	};
	static const double w_ref[4] = {
		-0x1.363e62e25d3a4p-1, -0x1.ba0b9fdacf810p-1,
		-0x1.4b2e89704f230p-1, -0x1.6ffc524141ffcp-1,
	};
	float a[6], s;
	double w[4];

	trart_random_fill(a, TRART_F32, 6, 42, "A");
	ck_assert(memcmp(a, a_ref, sizeof a) == 0);
	trart_random_fill(w, TRART_F64, 4, 0, "weights");
	ck_assert(memcmp(w, w_ref, sizeof w) == 0);
	trart_random_fill(&s, TRART_F32, 1, 7, "");
	ck_assert(s == -0x1.56e838p-2f);
}
END_TEST

/* ---- Robustness ---- */

/* A small valid file to take apart; its bytes in *n. */
static unsigned char *
valid_file(size_t *n)
{
	int64_t shape[2] = {2, 3};
	float x[6] = {1, 2, 3, 4, 5, 6};
	char err[TRART_ERRLEN];

	ck_assert_int_eq(trart_npy_write(in_dir("v.npy"), "output Y", TRART_F32,
	                                 2, shape, x, err, sizeof err), 0);
	return read_bytes(in_dir("v.npy"), n);
}

/* Reads the file and asserts only a sane answer: 0 with data, or -1
 * with none and a one-line message naming the tensor. */
static void
read_sanely(const char *path, TrartDtype t, int rank, const int64_t *shape)
{
	char err[TRART_ERRLEN];
	void *data = (void *)1;
	int rc = trart_npy_read(path, NAME, t, rank, shape, &data, err,
	                        sizeof err);

	ck_assert(rc == 0 || rc == -1);
	if (rc == 0) {
		ck_assert_ptr_nonnull(data);
		free(data);
		return;
	}
	ck_assert_ptr_null(data);
	ck_assert(strncmp(err, NAME ": ", strlen(NAME ": ")) == 0);
	ck_assert(strchr(err, '\n') == NULL);
}

/* Every proper prefix of a valid file is an error; the whole reads. */
START_TEST(test_fuzz_truncations)
{
	int64_t shape[2] = {2, 3};
	char err[TRART_ERRLEN];
	size_t n, len;
	unsigned char *file = valid_file(&n);
	void *data;

	for (len = 0; len < n; len++) {
		write_bytes(in_dir("t.npy"), file, len);
		data = (void *)1;
		ck_assert_msg(trart_npy_read(in_dir("t.npy"), NAME, TRART_F32, 2,
		                             shape, &data, err, sizeof err) == -1,
		              "prefix of %zu bytes was accepted", len);
		ck_assert_ptr_null(data);
	}
	write_bytes(in_dir("t.npy"), file, n);
	read_sanely(in_dir("t.npy"), TRART_F32, 2, shape);
	free(file);
}
END_TEST

/* xorshift64: the test's own reproducible byte source. */
static uint64_t
next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Seeded corruptions: a few bytes replaced by random bytes or by
 * characters the parser cares about, read against a few declarations. */
START_TEST(test_fuzz_corruptions)
{
	static const char interesting[] = "{}()[],:'\" \n0123456789-LTrueFals<>f48";
	static const ShapeCase wants[] = {
		{TRART_F32, 2, {2, 3}}, {TRART_F64, 2, {2, 3}},
		{TRART_F32, 1, {6}}, {TRART_F32, 0, {0}},
	};
	unsigned char copy[4096];
	uint64_t s = 0x9e3779b97f4a7c15u;
	size_t n, iter, hits, pos;
	unsigned char *file = valid_file(&n);

	for (iter = 0; iter < 600; iter++) {
		const ShapeCase *w = &wants[iter % 4];
		memcpy(copy, file, n);
		for (hits = 1 + next_random(&s) % 4; hits-- > 0;) {
			pos = next_random(&s) % (iter % 3 ? 128 : n);
			copy[pos] = next_random(&s) % 2
			            ? (unsigned char)next_random(&s)
			            : (unsigned char)interesting[next_random(&s) %
			                                         (sizeof interesting - 1)];
		}
		write_bytes(in_dir("c.npy"), copy, n - (iter % 5 == 0 ? iter % 7 : 0));
		read_sanely(in_dir("c.npy"), w->t, w->rank, w->shape);
	}
	free(file);
}
END_TEST

/* Random garbage after a valid preamble, for the parser alone. */
START_TEST(test_fuzz_garbage_headers)
{
	int64_t shape[2] = {2, 3};
	unsigned char file[300];
	uint64_t s = 12345;
	size_t iter, i, len;

	for (iter = 0; iter < 300; iter++) {
		len = 10 + next_random(&s) % 290;
		memcpy(file, "\x93NUMPY\x01\x00", 8);
		file[8] = (unsigned char)(next_random(&s) % 300);
		file[9] = 0;
		for (i = 10; i < len; i++)
			file[i] = (unsigned char)next_random(&s);
		write_bytes(in_dir("g.npy"), file, len);
		read_sanely(in_dir("g.npy"), TRART_F32, 2, shape);
	}
}
END_TEST

/* ---- The suite ---- */

#define COUNT(a) ((int)(sizeof a / sizeof *a))

static TCase *
tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	return tc;
}

static Suite *
npy_suite(void)
{
	Suite *s = suite_create("npy");
	TCase *rw = tcase("read_write"), *err = tcase("errors"),
	      *wr = tcase("write"), *rnd = tcase("random"), *fz = tcase("fuzz");

	tcase_add_loop_test(rw, test_round_trip, 0, COUNT(round_trips));
	tcase_add_loop_test(rw, test_header_matches_numpy, 0, COUNT(numpy_headers));
	tcase_add_test(rw, test_header_huge_shape);
	tcase_add_loop_test(rw, test_read_handbuilt, 0, COUNT(good_headers));
	tcase_add_loop_test(rw, test_read_scalar_shapes, 0, 2);
	tcase_add_loop_test(err, test_read_bad_file, 0, COUNT(bad_files));
	tcase_add_loop_test(err, test_read_bad_preamble, 0, COUNT(raw_files));
	tcase_add_test(err, test_read_cannot_open);
	tcase_add_test(err, test_read_directory);
	tcase_add_test(err, test_read_small_err_buffer);
	tcase_add_test(wr, test_write_missing_directory);
	tcase_add_test(wr, test_write_short_write);
	tcase_add_test(wr, test_write_onto_directory);
	tcase_add_test(wr, test_write_mode_follows_umask);
	tcase_add_test(wr, test_write_replaces);
	tcase_add_test(wr, test_write_bad_shape);
	tcase_add_test(rnd, test_random_deterministic);
	tcase_add_test(rnd, test_random_differs);
	tcase_add_test(rnd, test_random_distribution);
	tcase_add_test(rnd, test_random_reference);
	tcase_add_test(fz, test_fuzz_truncations);
	tcase_add_test(fz, test_fuzz_corruptions);
	tcase_add_test(fz, test_fuzz_garbage_headers);
	suite_add_tcase(s, rw);
	suite_add_tcase(s, err);
	suite_add_tcase(s, wr);
	suite_add_tcase(s, rnd);
	suite_add_tcase(s, fz);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	strcpy(top_dir, "./npy-test-XXXXXX");
	if (!mkdtemp(top_dir)) {
		perror("mkdtemp ./npy-test-XXXXXX");
		return EXIT_FAILURE;
	}
	sr = srunner_create(npy_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	dir_entries(top_dir, 1);
	rmdir(top_dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
